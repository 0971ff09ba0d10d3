"""The long CSV lexicon format: one row per (concept, language, word), optional ``pos``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from conceptpatch.lexicons.core import Lexicon, build, open_table, require_columns

__all__ = ["load_long_csv", "read"]


def load_long_csv(
    path: str | Path, name: str | None = None, names: Mapping[str, str] | None = None
) -> Lexicon:
    """Read a long CSV with columns ``concept,language,word`` (optional ``pos``).

    Several rows for one (concept, language) are several words: the first is the reference.
    ``names`` gives display names for codes that CLDR does not name (e.g. private-use codes).
    """
    path = Path(path)
    header, rows = open_table(path, ",")
    require_columns(
        path, header, ("concept", "language", "word"), "long CSV (concept,language,word)"
    )
    return build(
        name or path.stem,
        ((r["concept"], r["language"], r["word"] or "", r.get("pos")) for r in rows),
        names,
    )


def read(path: Path, pos: str | Sequence[str] | None = None) -> Lexicon:
    """The registry's entry point for format ``long_csv`` (keeps every part of speech)."""
    return load_long_csv(path)

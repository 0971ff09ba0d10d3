"""The one place lexicon formats and built-ins are named: each name -> its source's loader."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from conceptpatch.errors import LexiconError
from conceptpatch.lexicons import cldr, concepticon, long_csv, multisimlex
from conceptpatch.lexicons.core import Lexicon, promptable

__all__ = ["BUILTINS", "BUILTIN_LOADERS", "FORMATS", "FormatLoader", "load_lexicon"]

#: A format's loader: the file and the parts of speech asked for (formats without tags ignore it).
FormatLoader = Callable[[Path, str | Sequence[str] | None], Lexicon]

#: ``[lexicon] format`` -> its loader. A new format is one module with a ``read`` and one line here.
FORMATS: Mapping[str, FormatLoader] = MappingProxyType(
    {
        "long_csv": long_csv.read,
        "multisimlex": multisimlex.read,
        "concepticon": concepticon.read,
    }
)

#: ``[lexicon] builtin`` -> the function that builds it (offline, cached).
BUILTIN_LOADERS: Mapping[str, Callable[[], Lexicon]] = MappingProxyType(
    {
        "cldr": cldr.builtin_cldr,
        "multisimlex": multisimlex.builtin_multisimlex,
    }
)

#: Names of the built-in lexicons (``[lexicon] builtin``).
BUILTINS: tuple[str, ...] = tuple(BUILTIN_LOADERS)


def load_lexicon(
    spec: str | Path, fmt: str = "long_csv", pos: str | Sequence[str] | None = None
) -> Lexicon:
    """A lexicon from a built-in name (``"cldr"``, ``"multisimlex"``) or a file path in ``fmt``.

    ``pos`` only matters for ``translation.csv`` (format ``multisimlex``), whose processing keeps
    the parts of speech asked for (None: all); other lexicons keep every part of speech. Words a
    prompt cannot carry are dropped and counted (`conceptpatch.lexicons.core.promptable`).
    """
    if str(spec) in BUILTIN_LOADERS:
        return promptable(BUILTIN_LOADERS[str(spec)]())
    if fmt not in FORMATS:
        raise LexiconError(
            f"unknown lexicon format {fmt!r}: use one of {', '.join(sorted(FORMATS))}"
        )
    return promptable(FORMATS[fmt](Path(spec), pos))

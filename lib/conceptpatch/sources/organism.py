"""The model organism: trained on first use, its checkpoints and lexicon read from its manifest."""

from __future__ import annotations

import json
from pathlib import Path

from conceptpatch.config.sections import ModelSection
from conceptpatch.errors import OrganismNotTrained
from conceptpatch.lexicons.core import Lexicon
from conceptpatch.lexicons.long_csv import load_long_csv
from conceptpatch.sources.checkpoint import Checkpoint

__all__ = ["organism_root", "read_organism"]


def organism_root(model: ModelSection, build: bool) -> Path:
    """The directory of ``model.organism``: trained now with ``build``, else as it is.

    Without ``build``, an organism that is not trained yet raises `OrganismNotTrained`.
    """
    from conceptpatch.organism import ensure_organism, organism_dir

    variant, seed = str(model.organism), model.organism_seed
    where = organism_dir(variant, seed)
    if not build and not (where / "manifest.json").exists():
        raise OrganismNotTrained(
            f"organism {variant!r} (seed {seed}) is not trained yet: run"
            f" `conceptpatch organism train --variant {variant} --seed {seed}`"
        )
    return ensure_organism(variant, seed) if build else where


def read_organism(
    root: Path, manifest: dict | None = None
) -> tuple[tuple[Checkpoint, ...], Lexicon, list[tuple[str, bool]]]:
    """Checkpoints, lexicon and (code, seen) languages from an organism's ``manifest.json``."""
    if manifest is None:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    names = {lang["code"]: lang["name"] for lang in manifest["languages"]}
    checkpoints = tuple(
        Checkpoint(
            name=c["name"],
            path=str(root / c["path"]),
            step=int(c["step"]),
            tokens=int(c["tokens"]),
            phase=int(c["phase"]),
        )
        for c in manifest["checkpoints"]
    )
    lexicon = load_long_csv(root / "lexicon.csv", name="organism", names=names)
    return (
        checkpoints,
        lexicon,
        [(lang["code"], bool(lang["seen"])) for lang in manifest["languages"]],
    )

"""A tiny random model of a named architecture, built on first use: tests without downloads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from conceptpatch.checkpoints import Checkpoint
from conceptpatch.lexicons.core import Lexicon

if TYPE_CHECKING:
    from conceptpatch.suite import Suite

__all__ = ["random_checkpoint"]


def random_checkpoint(suite: Suite, lexicon: Lexicon, root: Path, build: bool) -> Checkpoint:
    """The tiny random ``model.random`` model over the suite's languages, built once under ``root``.

    Its directory is keyed by a hash of what it is built from, so a changed suite builds anew.
    """
    from filelock import FileLock

    from conceptpatch.tiny import build_tiny

    model = suite.model
    arch = model["random"]
    spec = {
        "arch": arch,
        "layers": model.get("random_layers", 4),
        "hidden": model.get("random_hidden", 64),
        "seed": suite.seed,
        **({"pad": model["random_pad_vocab"]} if model.get("random_pad_vocab") else {}),
        "lexicon": lexicon.name,
        "languages": suite.languages,
        **({"constructed": asdict(suite.constructed)} if suite.constructed else {}),
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    target = root / "random" / f"{arch}-{key}"
    if build and not (target / "config.json").exists():  # built on first use, once
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if not (target / "config.json").exists():
                tmp = target.with_name(target.name + ".tmp")
                build_tiny(
                    arch,
                    lexicon.restrict(suite.languages),
                    tmp,
                    layers=spec["layers"],
                    hidden=spec["hidden"],
                    seed=suite.seed,
                    pad_vocab=int(model.get("random_pad_vocab", 0)),
                )
                tmp.rename(target)
    return Checkpoint(name=f"random-{arch}", path=str(target), step=0, tokens=0, phase=1)

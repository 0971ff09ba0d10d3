"""Globbed checkpoints: one directory per intermediate checkpoint, the step in its name."""

from __future__ import annotations

import re
from pathlib import Path

from conceptpatch.config.sections import ModelSection
from conceptpatch.errors import MissingData
from conceptpatch.sources.checkpoint import Checkpoint

__all__ = ["glob_checkpoints", "glob_missing"]


def glob_missing(model: ModelSection) -> str:
    """What to do when ``model.glob`` matches no checkpoint directory yet."""
    return (
        f"model.glob {model.glob!r} matches no checkpoint directory (with the step in its"
        f" name, model.step_pattern '{model.step_pattern}') yet: put each intermediate checkpoint"
        " there as one directory (config.json, tokenizer files, *.safetensors), or fix the glob"
    )


def glob_checkpoints(model: ModelSection, missing_ok: bool = False) -> tuple[Checkpoint, ...]:
    """Directories matching ``model.glob`` with a step in their name, ordered by step.

    Tokens are ``step * tokens_per_step``, the phase the last of ``model.phases`` the step has
    reached. None matching raises `MissingData`, or gives none with ``missing_ok``.
    """
    pattern = re.compile(model.step_pattern)
    phases = sorted(model.phases, key=lambda p: p["from_step"])
    per_step = model.tokens_per_step
    found = []
    for path in sorted(Path("/").glob(str(model.glob).lstrip("/"))):
        match = pattern.search(path.name)
        if not path.is_dir() or match is None:
            continue
        step = int(match.group(1))
        phase = max((p["phase"] for p in phases if step >= p["from_step"]), default=1)
        found.append(Checkpoint(path.name, str(path), None, None, step, step * per_step, phase))
    if not found and not missing_ok:
        raise MissingData(glob_missing(model))
    return tuple(sorted(found, key=lambda c: (c.step, c.name)))

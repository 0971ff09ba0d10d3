"""Globbed checkpoints: one directory per intermediate checkpoint, the step in its name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conceptpatch.checkpoints import Checkpoint
from conceptpatch.errors import MissingData

__all__ = ["glob_checkpoints", "glob_missing"]


def glob_missing(model: Mapping[str, Any]) -> str:
    """What to do when ``model.glob`` matches no checkpoint directory yet."""
    pattern = model.get("step_pattern", r"(\d+)")
    return (
        f"model.glob {model['glob']!r} matches no checkpoint directory (with the step in its"
        f" name, model.step_pattern '{pattern}') yet: put each intermediate checkpoint there as"
        " one directory (config.json, tokenizer files, *.safetensors), or fix the glob"
    )


def glob_checkpoints(model: Mapping[str, Any], missing_ok: bool = False) -> tuple[Checkpoint, ...]:
    """Directories matching ``model.glob`` with a step in their name, ordered by step.

    Tokens are ``step * tokens_per_step``, the phase the last of ``model.phases`` the step has
    reached. None matching raises `MissingData`, or gives none with ``missing_ok``.
    """
    pattern = re.compile(model.get("step_pattern", r"(\d+)"))
    phases = sorted(model.get("phases", []), key=lambda p: p["from_step"])
    per_step = int(model.get("tokens_per_step", 0))
    found = []
    for path in sorted(Path("/").glob(model["glob"].lstrip("/"))):
        match = pattern.search(path.name)
        if not path.is_dir() or match is None:
            continue
        step = int(match.group(1))
        phase = max((p["phase"] for p in phases if step >= p["from_step"]), default=1)
        found.append(Checkpoint(path.name, str(path), None, None, step, step * per_step, phase))
    if not found and not missing_ok:
        raise MissingData(glob_missing(model))
    return tuple(sorted(found, key=lambda c: (c.step, c.name)))

"""A local checkpoint directory (``path``): config.json, tokenizer files, *.safetensors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conceptpatch.checkpoints import Checkpoint
from conceptpatch.sources.entry import entry_checkpoint

__all__ = ["checkpoint"]


def checkpoint(entry: Mapping[str, Any]) -> Checkpoint:
    """The entry's directory, named by its last path component unless the entry names it."""
    return entry_checkpoint(entry, Path(entry["path"]).name)

"""A Hugging Face hub checkpoint (``hub``, optional ``revision``), taken as written: offline."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conceptpatch.checkpoints import Checkpoint
from conceptpatch.sources.entry import entry_checkpoint

__all__ = ["checkpoint"]


def checkpoint(entry: Mapping[str, Any]) -> Checkpoint:
    """The hub repository, named by its revision, else by the repository's name (after ``/``)."""
    return entry_checkpoint(entry, Path(entry["hub"]).name)

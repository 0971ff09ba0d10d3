"""GGUF checkpoints: a ``.gguf`` file or a package holding or assembling one (see gguf_source)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conceptpatch.checkpoints import Checkpoint
from conceptpatch.sources.entry import entry_checkpoint

__all__ = ["checkpoint", "package_checkpoint"]


def checkpoint(entry: Mapping[str, Any]) -> Checkpoint:
    """A ``gguf`` file, named by the file without its suffix unless the entry names it."""
    return entry_checkpoint(entry, Path(entry["gguf"]).stem)


def package_checkpoint(entry: Mapping[str, Any]) -> Checkpoint:
    """A ``gguf_package`` (holding the file, or whose ``assemble()`` writes it), named by it."""
    return entry_checkpoint(entry, Path(entry["gguf_package"]).name)

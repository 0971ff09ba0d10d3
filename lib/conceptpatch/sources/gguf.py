"""GGUF checkpoints: a ``.gguf`` file or a package that assembles one (conversion: gguf_source)."""

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
    """A ``gguf_package`` (whose ``assemble()`` writes the file), named by the package."""
    return entry_checkpoint(entry, Path(entry["gguf_package"]).name)

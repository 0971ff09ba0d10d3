"""The one place listed checkpoint sources are named: entry key -> the source that reads it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from conceptpatch.checkpoints import Checkpoint
from conceptpatch.sources import gguf, hub, local

__all__ = ["ENTRY_SOURCES", "listed_checkpoints"]

#: The key of a ``[[model.checkpoints]]`` entry that says where it comes from -> its source.
#: Each entry has exactly one; a new source is one module and one line here.
ENTRY_SOURCES: Mapping[str, Callable[[Mapping[str, Any]], Checkpoint]] = MappingProxyType(
    {
        "path": local.checkpoint,
        "hub": hub.checkpoint,
        "gguf": gguf.checkpoint,
        "gguf_package": gguf.package_checkpoint,
    }
)


def listed_checkpoints(model: Mapping[str, Any]) -> tuple[Checkpoint, ...]:
    """The checkpoints of ``[model] checkpoints``, in the order listed."""
    return tuple(
        ENTRY_SOURCES[next(k for k in ENTRY_SOURCES if k in e)](e) for e in model["checkpoints"]
    )

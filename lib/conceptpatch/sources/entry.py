"""One ``[[model.checkpoints]]`` entry as a `Checkpoint`: what every listed source shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conceptpatch.sources.checkpoint import Checkpoint

__all__ = ["entry_checkpoint"]


def entry_checkpoint(entry: Mapping[str, Any], default_name: str) -> Checkpoint:
    """The checkpoint an entry names; its name is ``name``, else ``revision``, else the default."""
    return Checkpoint(
        name=entry.get("name") or entry.get("revision") or default_name,
        path=entry.get("path"),
        hub=entry.get("hub"),
        gguf=entry.get("gguf"),
        gguf_package=entry.get("gguf_package"),
        revision=entry.get("revision"),
        step=entry.get("step", 0),
        tokens=entry.get("tokens", 0),
        phase=entry.get("phase", 1),
    )

"""A Hugging Face hub checkpoint (``hub``, optional ``revision``), taken as written: offline.

Nothing here reaches the network: listing takes the id as written, a fingerprint and a layer count
read the local Hugging Face cache only; the load (`conceptpatch.engine.checkpoints`) downloads. This
module is the hub `conceptpatch.sources.kinds.CheckpointKind`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.entry import entry_checkpoint
from conceptpatch.sources.local import config_layers, folder_weights

__all__ = ["checkpoint", "describe", "layer_count", "location", "weight_files"]


def checkpoint(entry: Mapping[str, Any]) -> Checkpoint:
    """The hub repository, named by its revision, else by the repository's name (after ``/``)."""
    return entry_checkpoint(entry, Path(entry["hub"]).name)


def describe(c: Checkpoint) -> str:
    """Where the checkpoint comes from, as `conceptpatch check` lists it."""
    return f"hub {c.hub}@{c.revision or 'main'}"


def location(c: Checkpoint) -> str:
    """The hub id a load reads (at ``c.revision``)."""
    return str(c.hub)


def _cached(c: Checkpoint, name: str) -> Path | None:
    """A file of the checkpoint's snapshot in the local Hugging Face cache, if it is there."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(str(c.hub), name, revision=c.revision)
    return Path(found) if isinstance(found, str) else None


def weight_files(c: Checkpoint) -> list[Path] | None:
    """The snapshot's weight files, or None where it is not in the local cache."""
    config = _cached(c, "config.json")
    return folder_weights(config.parent if config is not None else None)


def layer_count(c: Checkpoint) -> int | None:
    """The decoder layers of a cached config.json (None: not in the local cache)."""
    config = _cached(c, "config.json")
    return config_layers(json.loads(config.read_text())) if config is not None else None

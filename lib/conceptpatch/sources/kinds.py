"""The kinds of checkpoint a suite lists, one module each behind one protocol.

A ``[[model.checkpoints]]`` entry names its kind by one key: ``path``
(`conceptpatch.sources.local`), ``hub`` (`conceptpatch.sources.hub`), ``gguf`` or
``gguf_package`` (`conceptpatch.sources.gguf`).
Each module says how an entry becomes a `Checkpoint`, how `conceptpatch check` lists it and counts
its layers offline, which files hold its weights (`conceptpatch.fingerprint`) and where a load
reads it (`conceptpatch.engine.checkpoints`). A new kind is one module and one line in `KINDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from conceptpatch.config.sections import ModelSection
from conceptpatch.sources import gguf, hub, local
from conceptpatch.sources.checkpoint import Checkpoint

__all__ = ["ENTRY_SOURCES", "KINDS", "CheckpointKind", "kind_of", "listed_checkpoints"]


class CheckpointKind(Protocol):
    """What one kind of checkpoint provides; every function reads files only, except `location`,
    which may build (a GGUF's safetensors copy) what a load then reads."""

    def checkpoint(self, entry: Mapping[str, Any]) -> Checkpoint:
        """The checkpoint a ``[[model.checkpoints]]`` entry of this kind names."""
        ...

    def describe(self, c: Checkpoint) -> str:
        """Where it comes from, in one phrase."""
        ...

    def layer_count(self, c: Checkpoint) -> int | None:
        """Its decoder layers where known without loading (None: unknown offline)."""
        ...

    def weight_files(self, c: Checkpoint) -> list[Path] | None:
        """The files holding its weights here (None: not on this machine)."""
        ...

    def location(self, c: Checkpoint) -> str:
        """The folder or hub id ``from_pretrained`` reads."""
        ...


#: Entry key -> the module of that kind. Each entry has exactly one of these keys.
KINDS: Mapping[str, CheckpointKind] = MappingProxyType(
    {"path": local, "hub": hub, "gguf": gguf, "gguf_package": gguf}  # type: ignore[dict-item]
)
#: The keys of a checkpoint entry that say where it comes from.
ENTRY_SOURCES: tuple[str, ...] = tuple(KINDS)


def kind_of(c: Checkpoint) -> CheckpointKind:
    """The module of ``c``'s kind (the one of path, hub, gguf, gguf_package it has)."""
    return KINDS[c.kind]


def listed_checkpoints(model: ModelSection) -> tuple[Checkpoint, ...]:
    """The checkpoints of ``[model] checkpoints``, in the order listed."""
    return tuple(KINDS[next(k for k in KINDS if k in e)].checkpoint(e) for e in model.checkpoints)

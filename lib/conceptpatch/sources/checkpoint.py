"""A checkpoint as data: where one training snapshot lives and its place in training.

Plain data, no torch: suites list checkpoints (`conceptpatch.resolve`), stores record them,
`conceptpatch.engine.checkpoints` loads them. Which module reads each kind:
`conceptpatch.sources.kinds`.
"""

from __future__ import annotations

from dataclasses import dataclass

from conceptpatch.errors import CheckpointError

__all__ = ["Checkpoint"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One training snapshot: a local directory, a hub id (+ revision) or a GGUF file (or the
    package that holds or assembles one), and its place in training."""

    name: str
    path: str | None = None
    hub: str | None = None
    revision: str | None = None
    step: int = 0
    tokens: int = 0
    phase: int = 1
    gguf: str | None = None
    gguf_package: str | None = None

    def __post_init__(self) -> None:
        given = [s for s in (self.path, self.hub, self.gguf, self.gguf_package) if s is not None]
        if len(given) != 1:
            raise CheckpointError(
                f"checkpoint {self.name!r} must name exactly one of path, hub, gguf or"
                " gguf_package: give a local directory (path=...), a hub id (hub=...,"
                " revision=...), a .gguf file (gguf=...) or a package that holds or assembles one"
            )

    @property
    def kind(self) -> str:
        """Which of path, hub, gguf, gguf_package says where it comes from
        (`conceptpatch.sources.kinds`)."""
        return next(k for k in ("path", "hub", "gguf", "gguf_package") if getattr(self, k))

    @property
    def is_gguf(self) -> bool:
        return self.gguf is not None or self.gguf_package is not None

    @property
    def source(self) -> str:
        """The local path, hub id, GGUF file or GGUF package the checkpoint comes from."""
        return next(s for s in (self.path, self.hub, self.gguf, self.gguf_package) if s)

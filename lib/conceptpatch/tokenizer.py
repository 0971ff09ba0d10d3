"""A checkpoint's tokenizer, loaded alone: a fast tokenizer from its folder, hub id or GGUF copy.

No model and no torch: `conceptpatch check` measures prompts with it;
`conceptpatch.engine.checkpoints` loads it beside the model the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conceptpatch.errors import CheckpointError, first_line
from conceptpatch.sources import gguf
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.local import (
    TOKENIZER_FILES,
    needs_remote_code,
    no_tokenizer_message,
    remote_tokenizer_error,
)

__all__ = ["load_tokenizer", "tokenizer_of"]


def tokenizer_of(
    checkpoint: Checkpoint, source: str, tokenizer: str | None, kwargs: dict[str, Any]
) -> object:
    """The fast tokenizer at ``source`` (or the shared ``tokenizer``), as one line on failure."""
    from transformers import AutoTokenizer

    if tokenizer is None and Path(source).is_dir() and not any(
        (Path(source) / name).exists() for name in TOKENIZER_FILES
    ):
        raise CheckpointError(no_tokenizer_message(checkpoint, source, "no tokenizer files"))
    try:
        return (AutoTokenizer.from_pretrained(tokenizer, use_fast=True) if tokenizer else
                AutoTokenizer.from_pretrained(source, use_fast=True, **kwargs))
    except ValueError as err:  # files there, but none a fast tokenizer can be built from
        if needs_remote_code(err) and (tokenizer or not kwargs.get("trust_remote_code")):
            raise remote_tokenizer_error(checkpoint, tokenizer or source,
                                          tokenizer is not None) from None
        raise CheckpointError(no_tokenizer_message(checkpoint, tokenizer or source,
                                            first_line(err)[:200])) from None


def load_tokenizer(
    checkpoint: Checkpoint, tokenizer: str | None = None, trust_remote_code: bool = False,
    **_: object,
) -> object:
    """The tokenizer alone of ``checkpoint`` (or the shared ``tokenizer``), as `load_checkpoint`
    loads it; takes `Suite.load_options` (the model's keys are ignored)."""
    source = gguf.location(checkpoint) if checkpoint.is_gguf else checkpoint.source
    try:
        return tokenizer_of(checkpoint, source, tokenizer,
                          {"revision": checkpoint.revision, "trust_remote_code": trust_remote_code})
    except OSError as err:
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r} ({checkpoint.source}@{checkpoint.revision or 'main'}):"
            f" its tokenizer cannot be loaded: {first_line(err)[:200]} — check the id/revision"
            " (`conceptpatch check --online`)"
        ) from None

"""Checkpoints: where a snapshot lives, how to load it safely, where its decoder layers are.

Loading goes through transformers' Auto classes with safetensors only; remote code runs only
when the suite opts in. `DECODER_LAYERS` is the one table mapping an architecture to its layers.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import torch
from torch import nn

from conceptpatch.errors import CheckpointError

__all__ = [
    "DECODER_LAYERS",
    "DTYPES",
    "Checkpoint",
    "LoadedModel",
    "decoder_layers",
    "load_checkpoint",
    "wrap_model",
]

DType = Literal["float32", "bfloat16", "float16", "float64"]
DTYPES: Mapping[str, torch.dtype] = MappingProxyType(
    {
        "float32": torch.float32,
        "bfloat16": torch.bfloat16,
        "float16": torch.float16,
        "float64": torch.float64,
    }
)

#: ``config.model_type`` -> (dotted path of the decoder layers, dotted path of the input embedding).
DECODER_LAYERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "llama": ("model.layers", "model.embed_tokens"),
        "mistral": ("model.layers", "model.embed_tokens"),
        "mixtral": ("model.layers", "model.embed_tokens"),
        "qwen2": ("model.layers", "model.embed_tokens"),
        "qwen3": ("model.layers", "model.embed_tokens"),
        "olmo": ("model.layers", "model.embed_tokens"),
        "olmo2": ("model.layers", "model.embed_tokens"),
        "gemma": ("model.layers", "model.embed_tokens"),
        "gemma2": ("model.layers", "model.embed_tokens"),
        "phi3": ("model.layers", "model.embed_tokens"),
        "gpt2": ("transformer.h", "transformer.wte"),
        "gpt_neox": ("gpt_neox.layers", "gpt_neox.embed_in"),
        "bloom": ("transformer.h", "transformer.word_embeddings"),
    }
)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One training snapshot: a local directory or hub id (+ revision), its place in training."""

    name: str
    path: str | None = None
    hub: str | None = None
    revision: str | None = None
    step: int = 0
    tokens: int = 0
    phase: int = 1

    def __post_init__(self) -> None:
        if (self.path is None) == (self.hub is None):
            raise CheckpointError(
                f"checkpoint {self.name!r} must name exactly one of path or hub:"
                " give a local directory (path=...) or a hub id (hub=..., revision=...)"
            )

    @property
    def source(self) -> str:
        """The local path or hub id that ``from_pretrained`` receives."""
        return self.path if self.path is not None else str(self.hub)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for capture and patching: the model, its tokenizer and its decoder layers."""

    checkpoint: Checkpoint
    model: nn.Module
    tokenizer: object
    layers: tuple[nn.Module, ...]
    embedding: nn.Module

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device


def _get(module: nn.Module, dotted: str) -> nn.Module:
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def decoder_layers(model: nn.Module) -> tuple[tuple[nn.Module, ...], nn.Module]:
    """The decoder layers (in order) and the input embedding of ``model``, from `DECODER_LAYERS`."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in DECODER_LAYERS:
        raise CheckpointError(
            f"architecture {model_type!r} is not in conceptpatch.checkpoints.DECODER_LAYERS"
            f" (known: {', '.join(sorted(DECODER_LAYERS))}): add its layer path to that table"
        )
    layers_path, embed_path = DECODER_LAYERS[model_type]
    return tuple(_get(model, layers_path)), _get(model, embed_path)


def wrap_model(checkpoint: Checkpoint, model: nn.Module, tokenizer: object) -> LoadedModel:
    """Bundle a built model and tokenizer (eval mode, left padding) for the engine."""
    layers, embedding = decoder_layers(model)
    model.eval()
    if getattr(tokenizer, "pad_token", None) is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if not getattr(tokenizer, "is_fast", False):
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r} has a slow tokenizer: conceptpatch needs a fast"
            " tokenizer (offset mappings); install `tokenizers` or convert it"
        )
    return LoadedModel(checkpoint, model, tokenizer, layers, embedding)


def _check_local(checkpoint: Checkpoint) -> None:
    path = Path(str(checkpoint.path))
    if not path.is_dir():
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r}: local directory {str(path)!r} does not exist:"
            " fix the path in the suite or train/download the checkpoint there"
        )
    if not any(path.glob("*.safetensors")):
        pickled = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
        what = f"only pickle weights ({', '.join(pickled)})" if pickled else "no weights"
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r} at {str(path)!r} has {what}: conceptpatch loads"
            " safetensors only; convert it with"
            " `model.save_pretrained(dir, safe_serialization=True)`"
        )


def load_checkpoint(
    checkpoint: Checkpoint,
    dtype: DType = "float32",
    device: str = "cpu",
    trust_remote_code: bool = False,
    device_map: str | None = None,
) -> LoadedModel:
    """Load ``checkpoint`` with transformers' Auto classes, safetensors only."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise CheckpointError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if checkpoint.path is not None:
        _check_local(checkpoint)
    if trust_remote_code:
        warnings.warn(
            f"checkpoint {checkpoint.name!r} is loaded with trust_remote_code=True: it runs code"
            " from the model repository",
            stacklevel=2,
        )
    kwargs = {"revision": checkpoint.revision, "trust_remote_code": trust_remote_code}
    try:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint.source, use_fast=True, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            checkpoint.source,
            dtype=DTYPES[dtype],
            use_safetensors=True,
            device_map=device_map,
            **kwargs,
        )
    except OSError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r} ({checkpoint.source}@{checkpoint.revision or 'main'})"
            f" cannot be loaded: {first} — check the id/revision (`conceptpatch check --online`)"
            " and that the weights are safetensors"
        ) from None
    if device_map is None:
        model.to(device)
    return wrap_model(checkpoint, model, tokenizer)

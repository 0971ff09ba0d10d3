"""Checkpoints: where a snapshot lives, how to load it safely, where its decoder layers are.

Loading goes through transformers' Auto classes with safetensors only; remote code runs only
when the suite opts in. A GGUF checkpoint is dequantized once into a safetensors cache
(`conceptpatch.sources.gguf`). The decoder layers and the input embedding are found on the model
itself (`decoder_layers`), so a new architecture needs no table here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import nn

from conceptpatch.errors import CheckpointError, first_line
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.kinds import kind_of
from conceptpatch.sources.local import (
    needs_remote_code,
    remote_code_error,
)
from conceptpatch.tokenizer import tokenizer_of
from conceptpatch.vocabulary import DType

__all__ = [
    "DTYPES",
    "Checkpoint",
    "LoadedModel",
    "check_architecture",
    "decoder_layers",
    "load_checkpoint",
    "wrap_model",
]

#: The torch dtype of each name in `conceptpatch.vocabulary.DTYPE_NAMES`.
DTYPES: Mapping[str, torch.dtype] = MappingProxyType(
    {
        "float32": torch.float32,
        "bfloat16": torch.bfloat16,
        "float16": torch.float16,
        "float64": torch.float64,
    }
)

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


def _get(module: nn.Module, dotted: str, what: str) -> nn.Module:
    try:
        for part in dotted.split("."):
            module = getattr(module, part)
    except AttributeError:
        raise CheckpointError(
            f"{what} path {dotted!r} names no submodule of this model: give the dotted path of"
            " its decoder layers' nn.ModuleList (e.g. 'model.layers'; print(model) shows it)"
        ) from None
    return module


def _n_layers(model: nn.Module) -> int | None:
    """``num_hidden_layers`` of the model's (text) config, or None when it has none."""
    config = getattr(model, "config", None)
    if config is None:
        return None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    n = getattr(text, "num_hidden_layers", None)
    return n if isinstance(n, int) else None


def _discover_layers(model: nn.Module, embedding: nn.Module) -> str:
    """The dotted name of the decoder's ``nn.ModuleList``: ``num_hidden_layers`` blocks, and the
    sibling of the input embedding where several lists have that length (experts, vision towers).
    """
    n = _n_layers(model)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    fix = (
        f"architecture {model_type!r}: name its decoder layers with [model] layers_path"
        " (the dotted path of their nn.ModuleList, e.g. 'model.layers'; print(model) shows it)"
    )
    if n is None:
        raise CheckpointError(f"no config.num_hidden_layers to find the decoder layers of {fix}")
    modules = dict(model.named_modules())
    lists = [name for name, m in modules.items() if isinstance(m, nn.ModuleList) and len(m) == n]
    embed_name = next((name for name, m in modules.items() if m is embedding), None)
    if len(lists) > 1 and embed_name is not None:
        parent = embed_name.rpartition(".")[0]
        siblings = [name for name in lists if name.rpartition(".")[0] == parent]
        lists = siblings or lists
    if len(lists) != 1:
        found = f"{len(lists)} ({', '.join(lists)})" if lists else "none"
        raise CheckpointError(
            f"cannot tell the decoder layers: {found} nn.ModuleList of {n} blocks in {fix}"
        )
    return lists[0]


def decoder_layers(
    model: nn.Module, layers_path: str | None = None
) -> tuple[tuple[nn.Module, ...], nn.Module]:
    """The decoder layers (in order) and the input embedding of any decoder-only causal LM.

    The embedding is ``get_input_embeddings()``; the layers are the one ``nn.ModuleList`` of
    ``config.num_hidden_layers`` blocks (beside the embedding), or ``layers_path`` when given.
    """
    try:
        embedding = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        embedding = None
    if not isinstance(embedding, nn.Module):
        raise CheckpointError(
            f"model {type(model).__name__} has no input embedding (get_input_embeddings()):"
            " conceptpatch patches decoder-only causal LMs loaded with AutoModelForCausalLM"
        )
    path = layers_path or _discover_layers(model, embedding)
    layers = _get(model, path, "[model] layers_path")
    if not isinstance(layers, nn.ModuleList | nn.Sequential) or len(layers) == 0:
        raise CheckpointError(
            f"[model] layers_path {path!r} is a {type(layers).__name__}, not the list of decoder"
            " layers: give the dotted path of their nn.ModuleList (e.g. 'model.layers')"
        )
    return tuple(layers), embedding


def wrap_model(
    checkpoint: Checkpoint, model: nn.Module, tokenizer: object, layers_path: str | None = None
) -> LoadedModel:
    """Bundle a built model and tokenizer (eval mode, left padding) for the engine."""
    layers, embedding = decoder_layers(model, layers_path)
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


def check_architecture(
    checkpoint: Checkpoint, layers_path: str | None = None, trust_remote_code: bool = False
) -> int:
    """The number of decoder layers of a local checkpoint, found as a load would find them but
    on a weightless skeleton (meta device) built from its ``config.json``: nothing is loaded."""
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(checkpoint.source, trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except (ValueError, KeyError, OSError) as err:
        if needs_remote_code(err) and not trust_remote_code:
            raise remote_code_error(checkpoint, checkpoint.source) from None
        first = first_line(err)
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r}: transformers cannot build a causal LM from its"
            f" config.json ({first[:200]}): upgrade transformers for a new architecture, or set"
            " trust_remote_code = true in [model] if the model ships its own code"
        ) from None
    layers, _ = decoder_layers(skeleton, layers_path)
    return len(layers)


def load_checkpoint(
    checkpoint: Checkpoint,
    dtype: DType = "float32",
    device: str = "cpu",
    trust_remote_code: bool = False,
    device_map: str | None = None,
    layers_path: str | None = None,
    tokenizer: str | None = None,
) -> LoadedModel:
    """Load ``checkpoint`` with transformers' Auto classes, safetensors only.

    A GGUF checkpoint loads from its dequantized safetensors copy in the cache (made on first
    use). ``layers_path`` names the decoder layers where `decoder_layers` cannot find them;
    ``tokenizer`` (a folder or hub id) serves checkpoints saved without tokenizer files.
    """
    from transformers import AutoModelForCausalLM

    if dtype not in DTYPES:
        raise CheckpointError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if device_map is None and device.startswith("cuda") and not torch.cuda.is_available():
        raise CheckpointError(
            f"device {device!r} but torch {torch.__version__} sees no CUDA device here: set"
            ' [model] device = "cpu" in the suite, or run it on a machine with a GPU'
        )
    source = kind_of(checkpoint).location(checkpoint)  # a folder checked, a GGUF converted
    if trust_remote_code:
        warnings.warn(
            f"checkpoint {checkpoint.name!r} is loaded with trust_remote_code=True: it runs code"
            " from the model repository",
            stacklevel=2,
        )
    kwargs = {"revision": checkpoint.revision, "trust_remote_code": trust_remote_code}
    from safetensors import SafetensorError

    try:
        tok = tokenizer_of(checkpoint, source, tokenizer, kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            source,
            dtype=DTYPES[dtype],
            use_safetensors=True,
            device_map=device_map,
            **kwargs,
        )
    except SafetensorError as err:
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r}: its safetensors weights at {source!r} are cut short"
            f" or damaged ({first_line(err)[:200]}): copy or download the checkpoint again"
        ) from None
    except ValueError as err:
        if needs_remote_code(err) and not trust_remote_code:
            raise remote_code_error(checkpoint, source) from None
        if "Unrecognized model" not in str(err):
            raise
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r}: transformers cannot build a causal LM from its"
            f" config.json ({first_line(err)[:200]}): give config.json the model_type of the"
            " architecture, or upgrade transformers for a new one"
        ) from None
    except OSError as err:
        first = first_line(err)[:200]
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r} ({checkpoint.source}@{checkpoint.revision or 'main'})"
            f" cannot be loaded: {first} — check the id/revision (`conceptpatch check --online`)"
            " and that the weights are safetensors"
        ) from None
    if device_map is None:
        model.to(device)
    return wrap_model(checkpoint, model, tok, layers_path)

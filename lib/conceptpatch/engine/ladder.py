"""A sweep's patched prompt passes that share the layers below each first layer.

A patch from decoder layer j leaves layers 0..j of the prompt's tail exactly as unpatched (it
overwrites layer j's output), so copies of a batch for several first layers differ only from
layer j + 1 up. `unpatched_tail` runs the tail once, unpatched, recording what each layer
received and returned; `climb` then computes each copy only from its own first layer on, layer
by layer (the batch of a layer holds the copies patched below it), and assembles the KV cache
that decoding continues from. Layers are called with the very arguments the model gave them,
repeated per copy, so any architecture whose per-layer inputs are per-row tensors works; where
the logits are not the head of the final layer's modules, `unpatched_tail` says so (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from conceptpatch.engine.capture import cache_kwarg, decoder_of, hidden_of
from conceptpatch.engine.checkpoints import LoadedModel
from conceptpatch.engine.kvcache import RoomyLayer, repeated, roomy_cache

__all__ = ["Rungs", "climb", "unpatched_tail"]


@dataclass(frozen=True)
class Rungs:
    """The unpatched tail of a batch of ``rows``, layer by layer.

    ``calls[l]`` are the positional and keyword arguments layer l received (one of them the KV
    cache), ``outputs[l]`` its hidden output ``[B, T, H]``, ``kv[l]`` its keys and values of the
    tail's positions; ``prefix`` the keys and values before the tail; ``final`` the modules that
    turn the last layer's output into the head's input; ``logits`` the unpatched logits of
    the last position ``[B, V]``.
    """

    rows: int
    calls: tuple[tuple[tuple[Any, ...], dict[str, Any]], ...]
    outputs: tuple[torch.Tensor, ...]
    kv: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    prefix: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    final: tuple[nn.Module, ...]


def unpatched_tail(
    lm: LoadedModel,
    prefix: Sequence[tuple[torch.Tensor, torch.Tensor]],
    tail: dict[str, torch.Tensor],
) -> Rungs | None:
    """Run ``tail`` (input_ids, attention_mask, position_ids) after the cached ``prefix`` once,
    unpatched; None where the climb cannot reproduce the model (no separate decoder, a layer
    input it cannot tell per row, logits that are not ``head(final(last layer))``)."""
    from transformers import Cache, DynamicCache

    decoder = decoder_of(lm)
    head = lm.model.get_output_embeddings() if hasattr(lm.model, "get_output_embeddings") else None
    if decoder is None or not isinstance(head, nn.Module) or not prefix:
        return None
    rows = int(tail["input_ids"].shape[0])
    start = int(prefix[0][0].shape[-2])
    cache = DynamicCache(ddp_cache_data=list(prefix))
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    outputs: list[torch.Tensor] = []
    order: list[nn.Module] = []
    done = [False]

    def record_call(module: nn.Module, args: tuple, kwargs: dict) -> None:
        calls.append((args, dict(kwargs)))

    def record_output(module: nn.Module, args: tuple, output: object) -> None:
        outputs.append(hidden_of(output))
        done[0] = module is lm.layers[-1]

    def record_after(module: nn.Module, args: tuple, output: object) -> None:
        if done[0]:
            order.append(module)

    handles = [
        layer.register_forward_pre_hook(record_call, with_kwargs=True) for layer in lm.layers
    ]
    handles += [layer.register_forward_hook(record_output) for layer in lm.layers]
    handles += [
        child.register_forward_hook(record_after)
        for child in decoder.children()
        if not isinstance(child, nn.ModuleList)
    ]
    try:
        with torch.no_grad():
            cached = {cache_kwarg(lm.model): cache}
            out = lm.model(**tail, use_cache=True, logits_to_keep=1, **cached)
    finally:
        for handle in handles:
            handle.remove()
    if len(calls) != lm.n_layers or len(outputs) != lm.n_layers:
        return None
    for args, kwargs in calls:
        values = (*args, *kwargs.values())
        if sum(isinstance(v, Cache) for v in values) != 1 or not _per_row(values, rows):
            return None
    logits = out.logits[:, -1, :]
    rungs = Rungs(
        rows=rows,
        calls=tuple(calls),
        outputs=tuple(outputs),
        kv=tuple(  # the tail's part only: the prefix is shared
            (layer.keys[..., start:, :].clone(), layer.values[..., start:, :].clone())
            for layer in cache.layers
        ),
        prefix=tuple(prefix),
        final=tuple(order),
    )
    again = _logits(rungs, head, outputs[-1])
    if again.shape != logits.shape or not torch.allclose(again, logits, rtol=1e-5, atol=1e-5):
        return None
    return rungs


def climb(
    lm: LoadedModel,
    rungs: Rungs,
    first_states: Sequence[int],
    latents: torch.Tensor,
    positions: torch.Tensor,
    offset: int,
    room: int,
) -> tuple[object, torch.Tensor]:
    """The decoding cache (with ``room`` more positions) and last-position logits of one copy of
    the batch per first state.

    Copy c is patched at states ``first_states[c]`` and above (ascending; state s = layer
    s - 1's output; a state beyond the last layer: unpatched), with ``latents`` ``[B, S, W, H]``
    at ``positions`` ``[B, W]`` (token indices; ``offset`` of them precede the tail). Rows are
    copy-major, as ``tensor.repeat(copies, ...)`` orders them. The copies patched below a layer
    lead its batch, so each layer's own keys and values are the leading rows of one buffer.
    """
    starts = list(first_states)
    if starts != sorted(starts):
        raise ValueError("first states must ascend")
    head = lm.model.get_output_embeddings()
    size, n_layers, copies = rungs.rows, lm.n_layers, len(starts)
    valid = positions >= 0
    rows, cols = valid.nonzero(as_tuple=True)
    where = positions[rows, cols] - offset
    prefix = rungs.prefix[0][0].shape[-2]
    length = prefix + rungs.outputs[0].shape[1]

    def patched(hidden: torch.Tensor, state: int) -> torch.Tensor:
        hidden = hidden.clone()
        view = hidden.view(-1, size, *hidden.shape[1:])
        view[:, rows, where] = latents[rows, state, cols].to(hidden.dtype)
        return hidden

    own = [sum(s <= layer for s in starts) for layer in range(n_layers)]  # copies per layer
    buffers = []
    for layer in range(n_layers):
        pair = []
        for before, after in zip(rungs.prefix[layer], rungs.kv[layer], strict=True):
            buffer = repeated(before, copies, length - prefix + room)
            view = buffer.view(copies, size, *buffer.shape[1:])
            view[own[layer] :, ..., prefix:length, :] = after  # copies still unpatched here
            pair.append(buffer)
        buffers.append(pair)
    cache = roomy_cache(  # each layer's copies of their own: the buffer's leading rows
        [RoomyLayer(k[: n * size], v[: n * size], prefix)
         for n, (k, v) in zip(own, buffers, strict=True)]
    )  # fmt: skip
    hidden: torch.Tensor | None = None
    for layer in range(n_layers):
        entering = starts.count(layer)
        if entering:  # copies whose first patched state is this layer's input
            base = patched(rungs.outputs[layer - 1], layer)
            fresh = base.repeat(entering, *[1] * (base.dim() - 1))
            hidden = fresh if hidden is None else torch.cat([hidden, fresh])
        if hidden is None:
            continue
        args, kwargs = rungs.calls[layer]
        n = hidden.shape[0] // size
        args = (hidden, *(_repeat(a, size, n, cache) for a in args[1:]))
        kwargs = {k: _repeat(v, size, n, cache) for k, v in kwargs.items()}
        hidden = patched(hidden_of(lm.layers[layer](*args, **kwargs)), layer + 1)
    last = []
    for rank, start in enumerate(starts):
        if start <= n_layers - 1:  # its own last layer
            assert hidden is not None
            last.append(hidden[rank * size : (rank + 1) * size])
        elif start == n_layers:  # only the last layer's output patched
            last.append(patched(rungs.outputs[-1], n_layers))
        else:
            last.append(rungs.outputs[-1])
    logits = _logits(rungs, head, torch.cat(last))
    return roomy_cache([RoomyLayer(k, v, length) for k, v in buffers]), logits


def _logits(rungs: Rungs, head: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    x = hidden[:, -1:, :]
    for module in rungs.final:
        x = hidden_of(module(x))
    return head(x)[:, -1, :]


def _per_row(values: Sequence[object], rows: int) -> bool:
    """Whether every tensor a layer received is per row (first dimension ``rows`` or 1) or a
    vector (a cache position): only such inputs can be repeated per copy."""
    return all(_tensors_ok(v, rows) for v in values)


def _tensors_ok(value: object, rows: int) -> bool:
    if isinstance(value, torch.Tensor):
        return value.dim() < 2 or value.shape[0] in (rows, 1)
    if isinstance(value, (tuple, list)):
        return all(_tensors_ok(v, rows) for v in value)
    return not isinstance(value, dict)


def _repeat(value: object, rows: int, copies: int, cache: object) -> object:
    """``value`` for ``copies`` copies of the batch: per-row tensors repeated, the KV cache
    replaced by ``cache``, the rest as is."""
    from transformers import Cache

    if isinstance(value, Cache):
        return cache
    if isinstance(value, torch.Tensor):
        if value.dim() >= 2 and value.shape[0] == rows:
            return value.repeat(copies, *[1] * (value.dim() - 1))
        return value
    if isinstance(value, tuple):
        return tuple(_repeat(v, rows, copies, cache) for v in value)
    if isinstance(value, list):
        return [_repeat(v, rows, copies, cache) for v in value]
    return value


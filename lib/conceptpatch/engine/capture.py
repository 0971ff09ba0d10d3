"""Capture: batched forward passes that read latents (layer outputs) at the query positions.

States are indexed like ``hidden_states`` in transformers: state 0 is the input embedding's output,
state ``l + 1`` the output of decoder layer ``l``. A word is read at up to ``width`` token positions
aligned from its end (width 1 = the paper's last token of the query word). Rows whose tokens before
the query word are the same (per-pair few-shot examples) share one prefix KV cache, computed once.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import torch
from torch import nn

from conceptpatch.engine.checkpoints import LoadedModel
from conceptpatch.engine.positions import word_token_spans
from conceptpatch.prompts import Prompt

__all__ = [
    "Batch",
    "Prefixed",
    "StateCache",
    "body_forward",
    "cache_kwarg",
    "capture",
    "concept_latents",
    "decoder_of",
    "encode",
    "group_mean",
    "hidden_of",
    "prompt_states",
    "shared_prefix",
    "with_hidden",
]


@dataclass(frozen=True)
class Batch:
    """Tokenised prompts (left-padded) with the word's token positions aligned from its end.

    ``positions[b, w]`` is the token index of the ``w``-th token counted from the end of row ``b``'s
    query word, stored right-aligned (column ``width - 1`` is the last token); -1 where the word
    has fewer tokens. ``first[b]`` is the index of the word's first token.
    """

    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    position_ids: torch.Tensor  # [B, T]
    positions: torch.Tensor  # [B, W]
    first: torch.Tensor | None = None  # [B]


def encode(lm: LoadedModel, prompts: Sequence[Prompt], width: int = 1) -> Batch:
    """Tokenise ``prompts`` with left padding and locate each query word's last ``width`` tokens.

    Left padding is forced whatever the tokenizer's setting: the answer is decoded from each
    row's last column, which must be a real token.
    """
    enc = lm.tokenizer(
        [p.text for p in prompts],
        padding=True,
        padding_side="left",
        return_tensors="pt",
        return_offsets_mapping=True,
    )
    spans = word_token_spans(enc["offset_mapping"], [p.span for p in prompts])
    first, last = spans[:, 0:1], spans[:, 1:2]
    back = torch.arange(width - 1, -1, -1).unsqueeze(0)  # [1, W]: W-1 ... 0
    positions = last - back
    positions = torch.where(positions >= first, positions, -1)
    mask = enc["attention_mask"]
    device = lm.device
    return Batch(
        input_ids=enc["input_ids"].to(device),
        attention_mask=mask.to(device),
        position_ids=(mask.cumsum(-1) - 1).clamp(min=0).to(device),
        positions=positions.to(device),
        first=first.squeeze(1).to(device),
    )


def hidden_of(output: object) -> torch.Tensor:
    """The hidden-state tensor of a decoder layer's (or embedding's) output."""
    return output[0] if isinstance(output, tuple) else output  # type: ignore[index]


def with_hidden(output: object, hidden: torch.Tensor) -> object:
    """``output`` with its hidden-state tensor replaced by ``hidden``."""
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden  # type: ignore[index]


class _Stop(Exception):
    """Raised by the last capture hook: nothing after the last layer needs computing."""


def _state_modules(lm: LoadedModel) -> list[nn.Module]:
    return [lm.embedding, *lm.layers]


@contextmanager
def state_hooks(
    lm: LoadedModel, make_hook: Callable[[int], Callable[..., object]],
    states: Iterable[int] | None = None,
) -> Iterator[None]:
    """Register ``make_hook(s)`` as a forward hook on each state's module (state 0 = embedding,
    state l + 1 = layer l; all states unless ``states``), removed on exit whatever happens."""
    modules = _state_modules(lm)
    chosen = range(len(modules)) if states is None else states
    handles = [modules[s].register_forward_hook(make_hook(s)) for s in chosen]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def capture(
    lm: LoadedModel, positions: torch.Tensor, stop_after: bool = True
) -> Iterator[list[torch.Tensor]]:
    """Hooks that read every state (embedding + each layer) at ``positions`` during one forward.

    Yields a list that fills with one ``[B, W, H]`` tensor per state (zeros where a position is
    -1). With ``stop_after``, the forward stops after the last layer (use `run_captured`).
    """
    read: list[torch.Tensor] = []
    valid = positions >= 0
    index = positions.clamp(min=0)
    modules = _state_modules(lm)
    rows = torch.arange(positions.shape[0], device=positions.device).unsqueeze(1)

    def hook(module: nn.Module, args: object, output: object) -> None:
        hidden = hidden_of(output)  # [B, T, H]
        taken = hidden[rows, index]  # [B, W, H]
        read.append(torch.where(valid.unsqueeze(-1), taken, 0.0))
        if stop_after and module is modules[-1]:
            raise _Stop

    with state_hooks(lm, lambda s: hook):
        yield read


def run_captured(lm: LoadedModel, batch: Batch) -> torch.Tensor:
    """One forward over ``batch`` returning its states at the query positions, ``[B, S, W, H]``."""
    with torch.no_grad(), capture(lm, batch.positions) as read, suppress(_Stop):
        lm.model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=False,
        )
    return torch.stack(read, dim=1)


@dataclass(frozen=True)
class Prefixed:
    """The KV cache of each row's tokens before column ``cut[b]`` of a batch, left-padded.

    ``mask`` ``[B, P]`` is the cached part's attention mask; the batch's columns from ``start``
    (the smallest cut) on are not in the cache, and those before a row's own cut must be masked.
    """

    cache: object | None  # a transformers DynamicCache, None when every prefix is empty
    mask: torch.Tensor  # [B, P]
    start: int
    cut: torch.Tensor  # [B]

    def rest_mask(self, batch: Batch, end: int | None = None) -> torch.Tensor:
        """Attention mask of the batch's columns ``start:end``: masked before each row's cut."""
        mask = batch.attention_mask[:, self.start : end]
        cols = torch.arange(self.start, self.start + mask.shape[1], device=mask.device)
        return mask * (cols.unsqueeze(0) >= self.cut.unsqueeze(1)).to(mask.dtype)


def decoder_of(lm: LoadedModel) -> nn.Module | None:
    """The model without its output head (``get_decoder()``), or None where it has none."""
    decoder = lm.model.get_decoder() if hasattr(lm.model, "get_decoder") else None
    return decoder if isinstance(decoder, nn.Module) and decoder is not lm.model else None


def body_forward(lm: LoadedModel, cache: object, **inputs: torch.Tensor) -> torch.Tensor:
    """One cached forward without the output head (where the model has a `decoder_of`): the
    final hidden states, ``[B, T, H]``; else the model's forward with one position's logits."""
    decoder = decoder_of(lm)
    if decoder is None:
        out = lm.model(**inputs, use_cache=True, logits_to_keep=1, **{cache_kwarg(lm.model): cache})
        return out.logits
    out = decoder(**inputs, use_cache=True, **{cache_kwarg(decoder): cache})
    return out.last_hidden_state


def cache_kwarg(model: nn.Module) -> str:
    """The name of the KV-cache argument of ``model.forward`` (it changed across versions)."""
    return _cache_kwarg(type(model).forward)


@functools.cache
def _cache_kwarg(forward: object) -> str:
    params = inspect.signature(forward).parameters  # type: ignore[arg-type]
    return "cache" if "cache" in params else "past_key_values"


def shared_prefix(lm: LoadedModel, batch: Batch, cut: torch.Tensor) -> Prefixed:
    """KV cache of every row's tokens before ``cut[b]``, one forward per distinct token sequence.

    Rows with the same tokens before the query word (the same few-shot examples and input
    language) reuse one computation; positions restart at 0 after the padding, as in the batch.
    """
    from transformers import DynamicCache

    cut = cut.to(batch.input_ids.device)
    start = int(cut.min())
    ids = batch.input_ids.cpu()
    pad = batch.attention_mask.cpu().argmax(dim=1)  # first real column (left padding)
    ends = cut.cpu()
    keys = [tuple(ids[b, int(pad[b]) : int(ends[b])].tolist()) for b in range(ids.shape[0])]
    unique: dict[tuple[int, ...], int] = {}
    for key in keys:
        if key:
            unique.setdefault(key, len(unique))
    device = lm.device
    if not unique:
        empty = torch.zeros(len(keys), 0, dtype=batch.attention_mask.dtype, device=device)
        return Prefixed(None, empty, start, cut)
    width = max(map(len, unique))
    pad_id = lm.tokenizer.pad_token_id  # type: ignore[attr-defined]
    u_ids = torch.full((len(unique), width), int(pad_id or 0), dtype=ids.dtype)
    u_mask = torch.zeros(len(unique), width, dtype=batch.attention_mask.dtype)
    for key, u in unique.items():
        u_ids[u, width - len(key) :] = torch.tensor(key, dtype=ids.dtype)
        u_mask[u, width - len(key) :] = 1
    u_pos = (u_mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    with torch.no_grad():
        body_forward(
            lm,
            cache,
            input_ids=u_ids.to(device),
            attention_mask=u_mask.to(device),
            position_ids=u_pos.to(device),
        )
    index = [unique.get(key, 0) for key in keys]
    mask = u_mask[index] * torch.tensor([bool(k) for k in keys], dtype=u_mask.dtype).unsqueeze(1)
    if index != list(range(len(keys))):
        rows = torch.tensor(index, device=device)
        cache = DynamicCache(
            ddp_cache_data=[(layer.keys[rows], layer.values[rows]) for layer in cache.layers]
        )
    return Prefixed(cache, mask.to(device), start, cut)


def prompt_states(
    lm: LoadedModel, prompts: Sequence[Prompt], width: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """The states of each prompt at its query word's last ``width`` tokens, ``[N, S, W, H]``.

    Also returns which of the ``W`` positions each word has, ``[N, W]``. One forward: the tokens
    before each query word come from a shared prefix cache (computed once per distinct prefix),
    the rest runs with capture hooks. Positions a word lacks are zero.
    """
    batch = encode(lm, prompts, width)
    assert batch.first is not None
    prefixed = shared_prefix(lm, batch, batch.first)
    start = prefixed.start
    positions = torch.where(batch.positions >= 0, batch.positions - start, -1)
    mask = torch.cat([prefixed.mask, prefixed.rest_mask(batch)], dim=1)
    extra = {cache_kwarg(lm.model): prefixed.cache} if prefixed.cache is not None else {}
    with torch.no_grad(), capture(lm, positions) as read, suppress(_Stop):
        lm.model(
            input_ids=batch.input_ids[:, start:],
            attention_mask=mask,
            position_ids=batch.position_ids[:, start:],
            use_cache=prefixed.cache is not None,
            **extra,
        )
    return torch.stack(read, dim=1), batch.positions >= 0


def group_mean(states: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``states`` ``[n, S, W, H]`` over sources, per token position (``valid`` ``[n, W]``).

    Invalid positions must hold zeros; a position no source has stays zero. The sum and division
    run in float64 and the mean comes back in the states' dtype (the model's: a float64 model's
    latents keep float64, a bfloat16 model's are rounded once). Every concept latent (engine and
    reference loop) goes through this one function, so they agree bit for bit.
    """
    counts = valid.to(torch.float64).sum(dim=0).clamp(min=1)  # [W]
    mean = states.to(torch.float64).sum(dim=0) / counts[None, :, None]
    return mean.to(states.dtype)


class StateCache:
    """Per-prompt states kept across calls while planned uses remain (then dropped).

    ``uses`` counts how often each key (``(prompt text, width)``) will be asked for; a state
    asked for once is never kept, so memory stays bounded by what is still to be reused.
    """

    def __init__(self, uses: Mapping[Hashable, int] | None = None) -> None:
        self._uses: dict[Hashable, int] = dict(uses or {})
        self._kept: dict[Hashable, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: Hashable) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The kept state for ``key``, or None."""
        return self._kept.get(key)

    def use(self, key: Hashable, value: tuple[torch.Tensor, torch.Tensor]) -> None:
        """Count one use of ``key``'s state; keep it while more uses are planned."""
        left = self._uses.get(key, 1) - 1
        if left > 0:
            self._uses[key] = left
            self._kept[key] = value
        else:
            self._uses.pop(key, None)
            self._kept.pop(key, None)


def concept_latents(
    lm: LoadedModel,
    groups: Sequence[Sequence[Prompt]],
    width: int = 1,
    batch_size: int = 32,
    cache: StateCache | None = None,
) -> torch.Tensor:
    """The concept latent of each group: the mean state over its source prompts, ``[G, S, W, H]``,
    in the model's dtype (averaged in float64: `group_mean`).

    Word tokens are aligned from the end, so position ``w`` averages only over the sources whose
    word has that many tokens; a position no source has stays zero. Each distinct prompt is run
    once (and, with a ``cache``, once per plan rather than per call).
    """
    if not any(groups):
        raise ValueError("concept_latents needs at least one source prompt")
    found: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}
    todo: dict[tuple[str, int], Prompt] = {}
    for group in groups:
        for p in group:
            key = (p.text, width)
            if key in found or key in todo:
                continue
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                found[key] = hit
            else:
                todo[key] = p
    pending = list(todo.items())
    for start in range(0, len(pending), batch_size):
        chunk = pending[start : start + batch_size]
        states, valid = prompt_states(lm, [p for _, p in chunk], width)  # the model's dtype
        for i, (key, _) in enumerate(chunk):
            found[key] = (states[i], valid[i])
    out = []
    for group in groups:
        if not group:
            raise ValueError("concept_latents needs at least one source prompt per group")
        entries = [found[(p.text, width)] for p in group]
        if cache is not None:
            for p, entry in zip(group, entries, strict=True):
                cache.use((p.text, width), entry)
        out.append(
            group_mean(torch.stack([s for s, _ in entries]), torch.stack([v for _, v in entries]))
        )
    return torch.stack(out)

"""Patched greedy generation: overwrite the query word's latents at layer j and above, then decode.

For a sweep over first layers j, the prompt up to the query word is the same unpatched computation
for every j (attention is causal), so its KV cache is computed once per batch and reused; only the
tail (query word to the end) is recomputed with the patch, then the answer decoded with the cache.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from conceptpatch.capture import Batch, encode, hidden_of, with_hidden
from conceptpatch.checkpoints import LoadedModel
from conceptpatch.prompts import Prompt

__all__ = [
    "POSITION_MODES",
    "Generation",
    "PositionMode",
    "patch",
    "patched_sweep",
    "stop_token_mask",
    "width_of",
]

PositionMode = Literal["last", "word", "word+embeddings"]
POSITION_MODES: tuple[str, ...] = ("last", "word", "word+embeddings")
#: Tokens of a word patched in the ``word`` modes (aligned from the word's end).
WORD_WIDTH = 8
UNPATCHED = -1


def width_of(mode: PositionMode) -> int:
    """How many tokens of the query word a position mode reads and patches."""
    if mode not in POSITION_MODES:
        raise ValueError(f"unknown position mode {mode!r}: use one of {', '.join(POSITION_MODES)}")
    return 1 if mode == "last" else WORD_WIDTH


@dataclass(frozen=True)
class Generation:
    """Greedy answers of one batch: generated token ids, decoded texts and p(first token)."""

    tokens: list[list[int]]
    texts: list[str]
    p_first: torch.Tensor  # [B]: probability of each row's score id at the first decoding step


@dataclass
class _PatchState:
    """What the patch hooks do on the next forward: which layers, rows and values."""

    first_state: int = -1
    active: bool = False
    offset: int = 0


@contextmanager
def patch(
    lm: LoadedModel,
    latents: torch.Tensor,
    positions: torch.Tensor,
    include_embedding: bool = False,
) -> Iterator[_PatchState]:
    """Forward hooks that overwrite ``positions`` with ``latents`` at states >= ``first_state``.

    ``latents`` is ``[B, S, W, H]`` (state 0 = embedding, state l + 1 = layer l), ``positions``
    ``[B, W]`` token indices (-1 = none). The yielded state switches the hooks: set ``first_state``
    (a decoder layer j patches states j+1..L), ``offset`` (tokens already in the cache) and
    ``active``. Hooks are removed on exit, whatever happens.
    """
    state = _PatchState()
    valid = positions >= 0
    rows, cols = valid.nonzero(as_tuple=True)
    token_index = positions[rows, cols]

    def make_hook(s: int):
        def hook(module: nn.Module, args: object, output: object) -> object:
            if not state.active:
                return None
            if (s == 0 and not include_embedding) or 0 < s < state.first_state:
                return None
            hidden = hidden_of(output).clone()
            values = latents[rows, s, cols].to(hidden.dtype)
            hidden[rows, token_index - state.offset] = values
            return with_hidden(output, hidden)

        return hook

    modules = [lm.embedding, *lm.layers]
    handles = [m.register_forward_hook(make_hook(s)) for s, m in enumerate(modules)]
    try:
        yield state
    finally:
        for handle in handles:
            handle.remove()


@functools.cache
def _cache_kwarg(forward: object) -> str:
    params = inspect.signature(forward).parameters  # type: ignore[arg-type]
    return "cache" if "cache" in params else "past_key_values"


def _forward(lm: LoadedModel, cache: object, **inputs: torch.Tensor) -> torch.Tensor:
    """One cached forward; returns the logits of the last position, ``[B, V]``."""
    kwarg = _cache_kwarg(type(lm.model).forward)
    out = lm.model(**inputs, use_cache=True, logits_to_keep=1, **{kwarg: cache})
    return out.logits[:, -1, :]


def stop_token_mask(lm: LoadedModel) -> torch.Tensor:
    """Boolean mask over the vocabulary: tokens that contain a closing quote or newline, or EOS."""
    return _stop_mask(lm.tokenizer).to(lm.device)


@functools.lru_cache(maxsize=8)
def _stop_mask(tokenizer: object) -> torch.Tensor:
    vocab = len(tokenizer)  # type: ignore[arg-type]
    texts = tokenizer.batch_decode([[i] for i in range(vocab)])  # type: ignore[attr-defined]
    mask = torch.tensor(['"' in t or "\n" in t for t in texts])
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is not None:
        mask[eos] = True
    return mask


def answer_text(lm: LoadedModel, tokens: Sequence[int]) -> str:
    """The decoded answer: text before the first closing quote or newline, trimmed."""
    text = lm.tokenizer.decode(list(tokens), skip_special_tokens=True)
    for stop in ('"', "\n"):
        text = text.split(stop, 1)[0]
    return text.strip()


def _decode(
    lm: LoadedModel,
    cache: object,
    logits: torch.Tensor,
    batch: Batch,
    score_ids: torch.Tensor,
    max_new_tokens: int,
) -> Generation:
    """Greedy decoding from the prompt's last logits; each row stops at a quote or newline."""
    p_first = logits.float().softmax(-1).gather(1, score_ids.unsqueeze(1)).squeeze(1)
    stops = stop_token_mask(lm)
    size = logits.shape[0]
    done = torch.zeros(size, dtype=torch.bool, device=logits.device)
    generated: list[torch.Tensor] = []
    mask = batch.attention_mask
    position = batch.position_ids[:, -1:]
    for step in range(max_new_tokens):
        token = logits.argmax(-1)
        generated.append(torch.where(done, -1, token))
        done |= stops[token]
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        position = position + 1
        logits = _forward(
            lm, cache, input_ids=token.unsqueeze(1), attention_mask=mask, position_ids=position
        )
    table = torch.stack(generated, dim=1).tolist()
    tokens = [[t for t in row if t >= 0] for row in table]
    return Generation(tokens, [answer_text(lm, row) for row in tokens], p_first.cpu())


def _rewind(cache: object, length: int) -> None:
    """Drop cached keys/values beyond ``length`` tokens (a negative crop works across versions)."""
    extra = cache.get_seq_length() - length  # type: ignore[attr-defined]
    if extra > 0:
        cache.crop(-extra)  # type: ignore[attr-defined]


def patched_sweep(
    lm: LoadedModel,
    prompts: Sequence[Prompt],
    latents: torch.Tensor | None,
    first_layers: Sequence[int],
    score_ids: torch.Tensor,
    mode: PositionMode = "last",
    max_new_tokens: int = 8,
) -> dict[int, Generation]:
    """Greedy answers of ``prompts`` patched from each decoder layer j in ``first_layers``.

    ``latents`` is ``[B, S, W, H]`` from `conceptpatch.capture.concept_latents` (one row per
    prompt) or None for the unpatched baseline (then ``first_layers`` must be ``[-1]``). The prefix
    before the query word is computed once and its KV cache reused for every j.
    """
    from transformers import DynamicCache

    width = width_of(mode)
    batch = encode(lm, prompts, width)
    if latents is None and list(first_layers) != [UNPATCHED]:
        raise ValueError("without latents the only first layer is -1 (unpatched)")
    for j in first_layers:
        if j != UNPATCHED and not 0 <= j < lm.n_layers:
            raise ValueError(f"layer {j} is out of range for a model with {lm.n_layers} layers")
    valid = batch.positions >= 0
    split = int(torch.where(valid, batch.positions, batch.input_ids.shape[1]).min())
    score_ids = score_ids.to(lm.device)
    results: dict[int, Generation] = {}
    with torch.no_grad():
        cache = DynamicCache()
        if split > 0:
            _forward(
                lm,
                cache,
                input_ids=batch.input_ids[:, :split],
                attention_mask=batch.attention_mask[:, :split],
                position_ids=batch.position_ids[:, :split],
            )
        tail = {
            "input_ids": batch.input_ids[:, split:],
            "attention_mask": batch.attention_mask,
            "position_ids": batch.position_ids[:, split:],
        }
        values = latents if latents is not None else torch.zeros(0)
        with patch(lm, values, batch.positions, mode == "word+embeddings") as state:
            for j in first_layers:
                state.first_state, state.offset = j + 1, split
                state.active = j != UNPATCHED
                logits = _forward(lm, cache, **tail)
                state.active = False
                results[j] = _decode(lm, cache, logits, batch, score_ids, max_new_tokens)
                _rewind(cache, split)
    return results

"""Patched greedy generation: overwrite the query word's latents at layer j and above, then decode.

For a sweep over first layers j, the prompt up to the query word is the same unpatched computation
for every j (attention is causal), so its KV cache is computed once per batch and reused; only the
tail (query word to the end) is recomputed with the patch, then the answer decoded with the cache.
Rows with the same tokens before the query word (per-pair few-shot examples) share that prefix.
On CPU several first layers share one batch: `conceptpatch.engine.ladder` computes each copy only
above its first layer, `conceptpatch.engine.kvcache` lets decoding append in place, and decoding
takes each token's argmax through the output head's screen (`conceptpatch.engine.greedy`), exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from conceptpatch.engine.capture import (
    body_forward,
    cache_kwarg,
    encode,
    hidden_of,
    shared_prefix,
    state_hooks,
    with_hidden,
)
from conceptpatch.engine.checkpoints import LoadedModel
from conceptpatch.engine.greedy import head_screen, next_tokens
from conceptpatch.engine.kvcache import RoomyLayer, repeated, roomy_cache
from conceptpatch.engine.ladder import Rungs, climb, unpatched_tail
from conceptpatch.prompts import Prompt
from conceptpatch.vocabulary import POSITION_MODES, PositionMode

__all__ = [
    "POSITION_MODES",
    "Generation",
    "PositionMode",
    "logit_size",
    "padding_mask",
    "patch",
    "patched_sweep",
    "stop_token_mask",
    "width_of",
]

#: Tokens of a word patched in the ``word`` modes (aligned from the word's end).
WORD_WIDTH = 8
UNPATCHED = -1
#: Per-row first state of an unpatched row in a forward that mixes first layers.
NEVER = 2**30


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
    first_states: torch.Tensor | None = None,
    latent_rows: torch.Tensor | None = None,
) -> Iterator[_PatchState]:
    """Forward hooks that overwrite ``positions`` with ``latents`` at states >= ``first_state``.

    ``latents`` is ``[B, S, W, H]`` (state 0 = embedding, state l + 1 = layer l), ``positions``
    ``[B, W]`` token indices (-1 = none). The yielded state switches the hooks: set ``first_state``
    (a decoder layer j patches states j+1..L), ``offset`` (tokens already in the cache) and
    ``active``. Hooks are removed on exit, whatever happens. With ``first_states`` ``[B]`` each
    row has its own first state (several first layers in one forward; ``state.first_state`` is
    then ignored) and reads the latents of row ``latent_rows[b]``.
    """
    state = _PatchState()
    valid = positions >= 0
    rows, cols = valid.nonzero(as_tuple=True)
    token_index = positions[rows, cols]
    row_first = first_states[rows] if first_states is not None else None
    source = latent_rows[rows] if latent_rows is not None else rows

    def make_hook(s: int):
        def hook(module: nn.Module, args: object, output: object) -> object:
            if not state.active:
                return None
            if row_first is None:
                if (s == 0 and not include_embedding) or 0 < s < state.first_state:
                    return None
                r, c, t, src = rows, cols, token_index, source
            else:
                if s == 0 and not include_embedding:
                    return None
                keep = row_first < NEVER if s == 0 else row_first <= s
                r, c, t, src = rows[keep], cols[keep], token_index[keep], source[keep]
            hidden = hidden_of(output).clone()
            hidden[r, t - state.offset] = latents[src, s, c].to(hidden.dtype)
            return with_hidden(output, hidden)

        return hook

    with state_hooks(lm, make_hook):
        yield state


def _forward(lm: LoadedModel, cache: object, **inputs: torch.Tensor) -> torch.Tensor:
    """One cached forward; returns the logits of the last position, ``[B, V]``."""
    out = lm.model(**inputs, use_cache=True, logits_to_keep=1, **{cache_kwarg(lm.model): cache})
    return out.logits[:, -1, :]


def logit_size(lm: LoadedModel) -> int:
    """How many logits the model gives per position (its vocabulary, padding included).

    Real models pad their vocabulary beyond the tokenizer (Pythia-410m: 50,304 logits for 50,277
    tokenizer entries; OLMo-2 and BLOOM too), so this is not ``len(tokenizer)``.
    """
    head = lm.model.get_output_embeddings() if hasattr(lm.model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    if weight is not None:
        return int(weight.shape[0])
    return int(lm.model.config.vocab_size)


def stop_token_mask(lm: LoadedModel, size: int | None = None) -> torch.Tensor:
    """Boolean mask over the ``size`` logits (default: the model's): tokens that contain a closing
    quote or newline, or EOS. Padding ids (no tokenizer entry) are not stops: see `padding_mask`."""
    return _masks_on(lm.tokenizer, size or logit_size(lm), lm.device)[0]


def padding_mask(lm: LoadedModel, size: int | None = None) -> torch.Tensor:
    """Boolean mask over the ``size`` logits (default: the model's): ids that no tokenizer entry
    decodes (the padding of a padded vocabulary, holes in the tokenizer's ids). Decoding never
    picks them: their logits are set to -inf before the argmax and ``p_concept``'s softmax."""
    return _masks_on(lm.tokenizer, size or logit_size(lm), lm.device)[1]


@functools.lru_cache(maxsize=8)
def _masks_on(
    tokenizer: object, size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stop and padding masks on ``device``, and the padding ids (usually few)."""
    stops, padding = _masks(tokenizer, size)
    return stops.to(device), padding.to(device), padding.nonzero().flatten().to(device)


@functools.lru_cache(maxsize=8)
def _masks(tokenizer: object, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    known = min(len(tokenizer), size)  # type: ignore[arg-type]
    ids = list(range(known))
    pieces = tokenizer.convert_ids_to_tokens(ids)  # type: ignore[attr-defined]
    texts = tokenizer.batch_decode([[i] for i in ids])  # type: ignore[attr-defined]
    stops = torch.zeros(size, dtype=torch.bool)
    padding = torch.ones(size, dtype=torch.bool)
    for i, (piece, text) in enumerate(zip(pieces, texts, strict=True)):
        if piece is None:
            continue  # a hole in the tokenizer's ids: padding
        padding[i] = False
        stops[i] = '"' in text or "\n" in text
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is not None and 0 <= eos < size:
        stops[eos] = True
        padding[eos] = False
    return stops, padding


def answer_text(lm: LoadedModel, tokens: Sequence[int]) -> str:
    """The decoded answer: text before the first closing quote or newline, trimmed."""
    return _cut(lm.tokenizer.decode(list(tokens), skip_special_tokens=True))


def _cut(text: str) -> str:
    for stop in ('"', "\n"):
        text = text.split(stop, 1)[0]
    return text.strip()


def _decode(
    lm: LoadedModel,
    cache: object,
    logits: torch.Tensor,
    mask: torch.Tensor,
    position: torch.Tensor,
    score_ids: torch.Tensor,
    max_new_tokens: int,
    compact: bool = False,
) -> Generation:
    """Greedy decoding from the prompt's last logits; each row stops at a quote or newline.

    ``mask`` is the attention mask of everything cached so far, ``position`` ``[B, 1]`` the
    position id of the prompt's last token. One batched forward per new token; where the output
    head has a screen (`conceptpatch.engine.greedy`), later tokens come from the decoder's hidden
    state through it instead of the full float32 logits. With ``compact`` (the cache is the caller's
    own, never reused), rows that stopped leave the batch and its cache once a quarter of those
    still decoding have: later steps compute only live rows.
    """
    stops, padding, padding_ids = _masks_on(lm.tokenizer, logits.shape[-1], logits.device)
    logits = _without(logits, padding_ids)
    p_first = logits.float().softmax(-1).gather(1, score_ids.unsqueeze(1)).squeeze(1)
    screen = head_screen(lm, padding)
    size = logits.shape[0]
    live = torch.arange(size, device=logits.device)  # batch row -> answer row
    done = torch.zeros(size, dtype=torch.bool, device=logits.device)
    generated: list[torch.Tensor] = []
    token = logits.argmax(-1)
    for step in range(max_new_tokens):
        column = torch.full((size,), -1, dtype=token.dtype, device=token.device)
        column[live] = torch.where(done, -1, token)
        generated.append(column)
        done |= stops[token]
        if step == max_new_tokens - 1 or bool(done.all()):
            break
        if compact and int(done.sum()) * 4 >= done.numel():
            keep = (~done).nonzero().flatten()
            cache.batch_select_indices(keep)  # type: ignore[attr-defined]
            live, token, mask, position = live[keep], token[keep], mask[keep], position[keep]
            done = done[keep]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        position = position + 1
        inputs = {"input_ids": token.unsqueeze(1), "attention_mask": mask, "position_ids": position}
        if screen is not None:
            token = next_tokens(screen, body_forward(lm, cache, **inputs)[:, -1])
        else:
            token = _without(_forward(lm, cache, **inputs), padding_ids).argmax(-1)
    table = torch.stack(generated, dim=1).tolist()
    tokens = [[t for t in row if t >= 0] for row in table]
    texts = lm.tokenizer.batch_decode(tokens, skip_special_tokens=True)  # type: ignore[attr-defined]
    return Generation(tokens, [_cut(t) for t in texts], p_first.cpu())


def _without(logits: torch.Tensor, padding_ids: torch.Tensor) -> torch.Tensor:
    """``logits`` (fresh from the head: written in place) with the padding ids at -inf."""
    return logits.index_fill_(1, padding_ids, float("-inf")) if padding_ids.numel() else logits


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
    rows: int | None = None,
) -> dict[int, Generation]:
    """Greedy answers of ``prompts`` patched from each decoder layer j in ``first_layers``.

    ``latents`` is ``[B, S, W, H]`` from `conceptpatch.engine.capture.concept_latents` (one row per
    prompt) or None for the unpatched baseline (then ``first_layers`` must be ``[-1]``). The prefix
    before the query word is computed once and its KV cache reused for every j. ``rows`` bounds the
    rows of one forward: when it allows several copies of the batch, that many first layers share
    each forward (the cache is copied per layer; larger matrix products, fewer calls).
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
    assert batch.first is not None
    score_ids = score_ids.to(lm.device)
    results: dict[int, Generation] = {}
    with torch.no_grad():
        # Unpatched part, once: each row's tokens before its query word (shared between rows
        # with the same few-shot prefix), then the batch's columns up to the first patched one.
        prefixed = shared_prefix(lm, batch, torch.clamp(batch.first, max=split))
        cache = prefixed.cache if prefixed.cache is not None else DynamicCache()
        mask = torch.cat([prefixed.mask, prefixed.rest_mask(batch, end=split)], dim=1)
        if prefixed.start < split:
            body_forward(
                lm,
                cache,
                input_ids=batch.input_ids[:, prefixed.start : split],
                attention_mask=mask,
                position_ids=batch.position_ids[:, prefixed.start : split],
            )
        cached = mask.shape[1]
        mask = torch.cat([mask, batch.attention_mask[:, split:]], dim=1)
        tail = {
            "input_ids": batch.input_ids[:, split:],
            "attention_mask": mask,
            "position_ids": batch.position_ids[:, split:],
        }
        last = batch.position_ids[:, -1:]
        values = latents if latents is not None else torch.zeros(0)
        emb = mode == "word+embeddings"
        per_forward = max(1, (rows or 0) // len(prompts))
        if per_forward > 1 and len(first_layers) > 1:
            base = [(layer.keys, layer.values) for layer in getattr(cache, "layers", [])]
            rungs = None if emb or latents is None else unpatched_tail(lm, base, tail)
            layers = list(first_layers)
            for start in range(0, len(layers), per_forward):
                group = layers[start : start + per_forward]
                results.update(
                    _fused(lm, base, group, tail, values, batch.positions, emb, split, score_ids,
                           max_new_tokens, last, rungs)
                )  # fmt: skip
            return results
        with patch(lm, values, batch.positions, emb) as state:
            for j in first_layers:
                state.first_state, state.offset = j + 1, split
                state.active = j != UNPATCHED
                logits = _forward(lm, cache, **tail)
                state.active = False
                results[j] = _decode(lm, cache, logits, mask, last, score_ids, max_new_tokens)
                _rewind(cache, cached)
    return results


def _fused(
    lm: LoadedModel,
    base: list[tuple[torch.Tensor, torch.Tensor]],
    group: Sequence[int],
    tail: dict[str, torch.Tensor],
    latents: torch.Tensor,
    positions: torch.Tensor,
    include_embedding: bool,
    offset: int,
    score_ids: torch.Tensor,
    max_new_tokens: int,
    last: torch.Tensor,
    rungs: Rungs | None = None,
) -> dict[int, Generation]:
    """Several first layers in one batched tail pass and decode: one copy of the batch each.

    With ``rungs`` (the unpatched tail, layer by layer) each copy computes only the layers above
    its first layer (`conceptpatch.engine.ladder`); else every copy runs the whole tail with the
    patch.
    """
    size, copies = positions.shape[0], len(group)
    device = positions.device
    group = sorted(group, key=lambda j: NEVER if j == UNPATCHED else j)  # as the ladder climbs
    firsts = [j + 1 if j != UNPATCHED else NEVER for j in group]
    inputs = {name: value.repeat(copies, 1) for name, value in tail.items()}
    if rungs is not None:
        cache, logits = climb(lm, rungs, firsts, latents, positions, offset, max_new_tokens)
    else:
        room = tail["input_ids"].shape[1] + max_new_tokens
        cache = roomy_cache([
            RoomyLayer(*(repeated(kv, copies, room) for kv in pair), pair[0].shape[-2])
            for pair in base
        ])  # fmt: skip
        owners = torch.arange(size, device=device).repeat(copies)
        with patch(
            lm,
            latents,
            positions.repeat(copies, 1),
            include_embedding,
            first_states=torch.tensor(firsts, device=device).repeat_interleave(size),
            latent_rows=owners,
        ) as state:
            state.offset, state.active = offset, latents.numel() > 0
            logits = _forward(lm, cache, **inputs)
            state.active = False
    mask = inputs["attention_mask"]
    generation = _decode(
        lm, cache, logits, mask, last.repeat(copies, 1), score_ids.repeat(copies), max_new_tokens,
        compact=True,  # this cache is a private copy
    )
    out = {}
    for i, j in enumerate(group):
        rows = slice(i * size, (i + 1) * size)
        out[j] = Generation(
            generation.tokens[rows], generation.texts[rows], generation.p_first[rows]
        )
    return out

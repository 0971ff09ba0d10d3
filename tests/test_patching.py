"""Capture and patched generation on tiny random models: the engine's invariants as properties.

(a) a prompt patched with its own latents decodes exactly as unpatched, at every first layer, and
    the cached sweep decodes exactly what a cache-free recomputation of the patched model does;
(b) a batch decodes exactly as its prompts one at a time, whatever the tokenizer's padding side;
(d) a patch from layer j leaves states 0..j untouched and writes the latent into state j+1.
Models are float64, so only a real change of the computation moves an argmax or p_first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from conceptpatch.compute import score_ids
from conceptpatch.engine import patching
from conceptpatch.engine.capture import concept_latents, encode, hidden_of, state_hooks
from conceptpatch.engine.checkpoints import LoadedModel
from conceptpatch.engine.patching import UNPATCHED, patched_sweep, width_of
from conceptpatch.lexicons import Lexicon
from conceptpatch.prompts import Prompt
from conceptpatch.vocabulary import POSITION_MODES
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=5, deadline=None, derandomize=True)
MAX_NEW = 4  # answer tokens decoded per run: enough to compare, cheap on 2 cores
seeds = st.integers(0, 2**32 - 1)
modes = st.sampled_from(POSITION_MODES)
#: ``rows`` of `patched_sweep`: None = one first layer per forward, 256 = several share one.
fused = st.sampled_from([None, 256])


def _ids(lm: LoadedModel, lexicon: Lexicon, prompts: list[Prompt]) -> torch.Tensor:
    """Score ids: the first token of each prompt's own answer."""
    return score_ids(lm, prompts, [lexicon.reference(p.concept, p.pair.output) for p in prompts])


def _assert_same(got: patching.Generation, want: patching.Generation, what: str) -> None:
    """Same tokens and texts; p_first equal up to float32 rounding of the latents."""
    assert got.tokens == want.tokens, what
    assert got.texts == want.texts, what
    torch.testing.assert_close(got.p_first, want.p_first, rtol=1e-5, atol=1e-9, msg=what)


@SETTINGS
@given(seed=seeds, n=st.integers(1, 3), mode=modes, rows=fused)
def test_self_patch_reproduces_unpatched(
    arch, tiny_models, tiny_lexicon, make_prompts, seed, n, mode, rows
):
    """(a) Patching prompts with their own concept latents changes nothing, at any first layer."""
    lm = tiny_models[arch]
    prompts = make_prompts(seed, n)
    ids = _ids(lm, tiny_lexicon, prompts)
    base = patched_sweep(lm, prompts, None, [UNPATCHED], ids, mode, MAX_NEW)[UNPATCHED]
    latents = concept_latents(lm, [[p] for p in prompts], width_of(mode))
    layers = list(range(lm.n_layers))
    order = [*layers, UNPATCHED, *layers[::-1]]  # repeats: the cache must be rewound each time
    sweep = patched_sweep(lm, prompts, latents, order, ids, mode, MAX_NEW, rows=rows)
    for j, generation in sweep.items():
        _assert_same(generation, base, f"{arch} {mode} first layer {j}")


def _trials(make_prompts, lexicon, seed: int, n: int) -> tuple[list[Prompt], list[list[Prompt]]]:
    """``n`` target prompts, each with 1-3 source prompts asking for another concept."""
    rng = np.random.default_rng(seed)
    targets = make_prompts(seed, n)
    groups = []
    for i, target in enumerate(targets):
        others = tuple(c for c in lexicon.concepts if c != target.concept)
        concept = others[int(rng.integers(len(others)))]
        size = int(rng.integers(1, 4))
        groups.append(make_prompts(seed + i + 1, size, concepts=(concept,)))
    return targets, groups


def _batched_vs_single(lm, lexicon, make_prompts, seed, n, mode, batch_size, rows=None):
    """Batched latents and sweep of ``n`` trials against each trial run alone."""
    targets, groups = _trials(make_prompts, lexicon, seed, n)
    ids = _ids(lm, lexicon, targets)
    width = width_of(mode)
    layers = [UNPATCHED, *range(lm.n_layers)]
    latents = concept_latents(lm, groups, width, batch_size=batch_size)
    batched = patched_sweep(lm, targets, latents, layers, ids, mode, MAX_NEW, rows=rows)
    for i, (target, group) in enumerate(zip(targets, groups, strict=True)):
        alone = concept_latents(lm, [group], width, batch_size=batch_size)
        torch.testing.assert_close(latents[i : i + 1], alone, rtol=1e-6, atol=1e-7)
        single = patched_sweep(lm, [target], alone, layers, ids[i : i + 1], mode, MAX_NEW)
        for j in layers:
            want = single[j]
            got = patching.Generation(
                [batched[j].tokens[i]], [batched[j].texts[i]], batched[j].p_first[i : i + 1]
            )
            _assert_same(got, want, f"{mode} trial {i} first layer {j}")


@SETTINGS
@given(seed=seeds, n=st.integers(2, 4), mode=modes, batch_size=st.integers(1, 5), rows=fused)
def test_batched_equals_single_left_padding(
    arch, tiny_models, tiny_lexicon, make_prompts, seed, n, mode, batch_size, rows
):
    """(b) A batch's latents and answers equal those of its trials run one at a time."""
    lm = tiny_models[arch]
    assert lm.tokenizer.padding_side == "left"
    _batched_vs_single(lm, tiny_lexicon, make_prompts, seed, n, mode, batch_size, rows)


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_batched_equals_single_right_padding(name, tiny_models, tiny_lexicon, make_prompts):
    """(b) A tokenizer set to pad on the right: encode() still pads left, results unchanged."""
    lm = tiny_models[name]
    targets, _ = _trials(make_prompts, tiny_lexicon, 3, 3)
    assert len({len(lm.tokenizer(p.text)["input_ids"]) for p in targets}) > 1  # padding happens
    lm.tokenizer.padding_side = "right"
    try:
        _batched_vs_single(lm, tiny_lexicon, make_prompts, 3, 3, "last", 4)
    finally:
        lm.tokenizer.padding_side = "left"


def test_right_padding_locates_the_same_query_tokens(arch, tiny_models, make_prompts):
    """(b) encode() finds the same query tokens under right padding as under left padding."""
    lm = tiny_models[arch]
    prompts = make_prompts(11, 4)
    left = encode(lm, prompts, width=8)
    lm.tokenizer.padding_side = "right"
    try:
        right = encode(lm, prompts, width=8)
    finally:
        lm.tokenizer.padding_side = "left"
    for b in range(len(prompts)):
        for enc in (left, right):
            assert int(enc.positions[b, -1]) >= 0
        taken = [
            [int(enc.input_ids[b, q]) if q >= 0 else None for q in enc.positions[b].tolist()]
            for enc in (left, right)
        ]
        assert taken[0] == taken[1]


@contextmanager
def _recording(lm: LoadedModel, record: list[tuple[int, int, torch.Tensor]]):
    """Wrap `patching.patch` so that hooks registered after the engine's record every state.

    Each multi-token forward (the tail of a sweep) appends (first_state, state, hidden [B, T, H]).
    """
    original = patching.patch

    @contextmanager
    def recording_patch(*args, **kwargs) -> Iterator[object]:
        with original(*args, **kwargs) as state:

            def make(s: int):
                def hook(module, inputs, output):
                    hidden = hidden_of(output)
                    if hidden.shape[1] > 1:
                        first = state.first_state if state.active else UNPATCHED
                        record.append((first, s, hidden.detach().clone()))

                return hook

            with state_hooks(lm, make):
                yield state

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(patching, "patch", recording_patch)
        yield


@SETTINGS
@given(
    seed=seeds, n=st.integers(1, 3), mode=st.sampled_from(["last", "word"]), data=st.data()
)
def test_patch_leaves_lower_states_untouched(arch, tiny_models, make_prompts, seed, n, mode, data):
    """(d) Patching from layer j: states 0..j equal the unpatched run's, state j+1 is the latent.

    State s is the output of layer s - 1 (state 0 the embedding); the patch writes states j+1..L
    at the query tokens, and no token before a query token changes at any state (causality).
    """
    lm = tiny_models[arch]
    j = data.draw(st.integers(0, lm.n_layers - 1), label="j")
    prompts = make_prompts(seed, n)
    width = width_of(mode)
    shape = (n, lm.n_layers + 1, width, lm.embedding.weight.shape[1])  # [B, S, W, H]
    generator = torch.Generator().manual_seed(seed % 2**31)
    latents = torch.randn(shape, generator=generator, dtype=torch.float64)
    batch = encode(lm, prompts, width)
    split = int(torch.where(batch.positions >= 0, batch.positions, 10**9).min())
    record: list[tuple[int, int, torch.Tensor]] = []
    with _recording(lm, record):
        patched_sweep(lm, prompts, latents, [UNPATCHED, j], torch.zeros(n).long(), mode, MAX_NEW)
    states = {(first, s): h for first, s, h in record}
    assert len(states) == len(record) == 2 * (lm.n_layers + 1), "one tail forward per layer set"
    for s in range(lm.n_layers + 1):
        clean, patched = states[(UNPATCHED, s)], states[(j + 1, s)]
        assert clean.shape[1] == batch.input_ids.shape[1] - split
        if s <= j:
            assert torch.equal(clean, patched), f"state {s} changed by a patch from layer {j}"
            continue
        for b in range(n):
            query = [int(q) - split for q in batch.positions[b].tolist() if q >= 0]
            for w, q in zip(range(width - len(query), width), query, strict=True):
                assert torch.equal(patched[b, q], latents[b, s, w]), f"state {s} row {b} tok {w}"
            first = query[0]
            assert torch.equal(clean[b, :first], patched[b, :first]), f"state {s} before query"


def _naive_patched_greedy(lm, prompt, latents, j, score_id, mode):
    """Reference: no KV cache; every step re-runs the whole sequence with the patch re-applied.

    Returns (tokens, p_first) for one prompt patched at states j+1..L (j = -1: unpatched).
    """
    batch = encode(lm, [prompt], width_of(mode))
    query = [(w, int(q)) for w, q in enumerate(batch.positions[0].tolist()) if q >= 0]
    first_state = 0 if mode == "word+embeddings" else j + 1

    def make(s: int):
        def hook(module, inputs, output):
            hidden = hidden_of(output).clone()
            for w, q in query:
                hidden[0, q] = latents[0, s, w].to(hidden.dtype)
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        return hook

    n_states = len(lm.layers) + 1
    patched = [s for s in range(n_states) if j != UNPATCHED and (s > j or s == first_state)]
    ids = batch.input_ids
    tokens: list[int] = []
    stops = patching.stop_token_mask(lm)
    with state_hooks(lm, make, patched), torch.no_grad():
        for step in range(MAX_NEW):
            logits = lm.model(input_ids=ids, use_cache=False).logits[0, -1]
            if step == 0:
                p_first = logits.float().softmax(-1)[score_id]
            token = int(logits.argmax())
            tokens.append(token)
            if bool(stops[token]):
                break
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return tokens, p_first


@SETTINGS
@given(seed=seeds, mode=modes, scale=st.sampled_from([0.05, 1.0]), rows=fused)
def test_sweep_equals_naive_recompute(arch, tiny_models, make_prompts, seed, mode, scale, rows):
    """The cached sweep (prefix computed once, tail re-run per layer, cache rewound) decodes
    exactly what a cache-free recomputation of the patched model decodes, at every layer."""
    lm = tiny_models[arch]
    prompt = make_prompts(seed, 1)[0]
    shape = (1, lm.n_layers + 1, width_of(mode), lm.embedding.weight.shape[1])
    generator = torch.Generator().manual_seed(seed % 2**31)
    latents = scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    score = torch.tensor([seed % len(lm.tokenizer)])
    layers = [UNPATCHED, *range(lm.n_layers)]
    sweep = patched_sweep(lm, [prompt], latents, layers, score, mode, MAX_NEW, rows=rows)
    for j in layers:
        tokens, p_first = _naive_patched_greedy(lm, prompt, latents, j, int(score), mode)
        assert sweep[j].tokens == [tokens], f"{mode} first layer {j}"
        torch.testing.assert_close(sweep[j].p_first[0], p_first, rtol=1e-5, atol=1e-9)

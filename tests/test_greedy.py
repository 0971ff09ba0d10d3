"""The bfloat16 screen of the output head: its bound holds and its argmax is float32's.

(a) the bound covers every bfloat16 logit's error, also where nothing cancels (all-positive);
(b) the screened argmax is the float32 argmax, also between logits closer than bfloat16 resolves,
    and never a padding id;
(c) decoding through the screen answers exactly as through the full head, on tiny float32 models
    of each architecture with the screen forced on;
(d) the screen is refused where it does not apply: soft-capped logits, float64, small heads.
"""

from __future__ import annotations

import pytest
import torch
from conceptpatch.compute import score_ids
from conceptpatch.engine import greedy, patching
from conceptpatch.engine.capture import concept_latents
from conceptpatch.engine.checkpoints import load_checkpoint, wrap_model
from conceptpatch.engine.greedy import HeadScreen, bound, head_screen, next_tokens
from conceptpatch.engine.patching import padding_mask, patched_sweep
from conceptpatch.sources.checkpoint import Checkpoint
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


def _case(seed: int, vocab: int, hidden: int, scale: float, positive: bool):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(vocab, hidden, generator=g) * torch.rand(vocab, 1, generator=g)
    rows = torch.randn(6, hidden, generator=g) * scale
    if positive:
        weight, rows = weight.abs(), rows.abs()
    return weight, rows


def _screen(weight: torch.Tensor, padding: torch.Tensor | None = None) -> HeadScreen:
    ids = torch.zeros(0, dtype=torch.long) if padding is None else padding.nonzero().flatten()
    return HeadScreen(weight, weight.to(torch.bfloat16), float(weight.norm(dim=1).max()), ids)


shapes = dict(
    seed=st.integers(0, 2**31),
    vocab=st.integers(2, 3000),
    hidden=st.integers(1, 200),
    scale=st.sampled_from([1e-3, 1.0, 300.0]),
    positive=st.booleans(),
)


@SETTINGS
@given(**shapes)
def test_the_bound_covers_every_bfloat16_error(seed, vocab, hidden, scale, positive):
    """(a) |bf16 logit - f32 logit| <= bound, for every id and row."""
    weight, rows = _case(seed, vocab, hidden, scale, positive)
    coarse = torch.nn.functional.linear(rows.bfloat16(), weight.bfloat16()).float()
    error = (coarse - torch.nn.functional.linear(rows, weight)).abs()
    limit = bound(rows, float(weight.norm(dim=1).max()))
    assert (error <= limit.unsqueeze(1)).all()


@SETTINGS
@given(**shapes, near=st.integers(1, 40), eps=st.sampled_from([1e-3, 4e-3]))
def test_the_screened_argmax_is_the_float32_argmax(seed, vocab, hidden, scale, positive, near, eps):
    """(b) Ids made to score within bfloat16's resolution of each row's top (its weights, each
    moved by ``eps``) and a random padding: the screen picks the float32 argmax, never padding.
    (With no margin below the bfloat16 maximum, some of these rows get a wrong id.)"""
    weight, rows = _case(seed, vocab + 50, hidden + 16, scale, positive)
    g = torch.Generator().manual_seed(seed + 1)
    for best in torch.nn.functional.linear(rows, weight).argmax(dim=1).tolist():
        others = torch.randint(0, weight.shape[0], (near,), generator=g)
        weight[others] = weight[best] * (1 + eps * torch.randn(near, weight.shape[1], generator=g))
    logits = torch.nn.functional.linear(rows, weight)
    padding = torch.rand(weight.shape[0], generator=g) < 0.1
    padding[logits[-1].argmax()] = True  # the last row's best id is padding
    padding[0] = False  # at least one id remains
    want = logits.masked_fill(padding, float("-inf")).argmax(dim=1)
    got = next_tokens(_screen(weight, padding), rows)
    assert torch.equal(got, want)
    assert not padding[got].any()


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Screen every float32 head, however small and whether or not this CPU has bfloat16."""
    monkeypatch.setattr(greedy, "MIN_HEAD_WEIGHTS", 0)
    monkeypatch.setattr(greedy, "_native_bfloat16", lambda: True)
    monkeypatch.setattr(greedy, "_SCREENS", greedy.weakref.WeakKeyDictionary())


def test_screened_decoding_answers_as_the_full_head(
    arch, tiny_dirs, tiny_lexicon, make_prompts, forced, monkeypatch
):
    """(c) The same sweep with and without the screen: the same tokens, texts and p_first."""
    lm = load_checkpoint(Checkpoint(arch, path=str(tiny_dirs[arch])), dtype="float32")
    assert head_screen(lm, padding_mask(lm)) is not None
    targets = make_prompts(7, 6)
    sources = [make_prompts(100 + i, 2, concepts=(tiny_lexicon.concepts[i],)) for i in range(6)]
    wanted = [tiny_lexicon.reference(p.concept, p.pair.output) for p in targets]
    ids = score_ids(lm, targets, wanted)
    latents = concept_latents(lm, sources, 1)
    layers = list(range(lm.n_layers))
    screened = {}
    for rows in (None, 256):
        screened[rows] = patched_sweep(lm, targets, latents, layers, ids, "last", 6, rows=rows)
    monkeypatch.setattr(patching, "head_screen", lambda lm, padding: None)
    for rows in (None, 256):
        full = patched_sweep(lm, targets, latents, layers, ids, "last", 6, rows=rows)
        for j in layers:
            assert screened[rows][j].tokens == full[j].tokens, (arch, rows, j)
            assert screened[rows][j].texts == full[j].texts
            assert torch.equal(screened[rows][j].p_first, full[j].p_first)


def test_the_screen_is_refused_where_it_does_not_apply(tiny_dirs, tiny_models, forced):
    """(d) Gemma 2's soft-capped logits, a float64 model: no screen; by default, no small head."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    capped = Gemma2ForCausalLM(
        Gemma2Config(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                     final_logit_softcapping=30.0)
    ).eval()  # fmt: skip
    tokenizer = tiny_models["llama"].tokenizer
    lm = wrap_model(Checkpoint("capped", path="<memory>"), capped, tokenizer)
    assert head_screen(lm, torch.zeros(300, dtype=torch.bool)) is None
    wide = tiny_models["llama"]  # float64
    assert head_screen(wide, padding_mask(wide)) is None


def test_small_heads_are_not_screened_by_default(tiny_dirs):
    lm = load_checkpoint(Checkpoint("llama", path=str(tiny_dirs["llama"])), dtype="float32")
    assert lm.model.get_output_embeddings().weight.numel() < greedy.MIN_HEAD_WEIGHTS
    assert head_screen(lm, padding_mask(lm)) is None


def test_the_screen_is_chosen_by_device_never_by_timing(tiny_dirs, monkeypatch):
    """Whether the screen applies depends on the head's shape and the CPU's bfloat16 support:
    a machine that is busy (a slow clock) builds the same screen as an idle one."""
    monkeypatch.setattr(greedy, "MIN_HEAD_WEIGHTS", 0)
    lm = load_checkpoint(Checkpoint("llama", path=str(tiny_dirs["llama"])), dtype="float32")
    assert "time" not in vars(greedy)  # no clock is read to decide
    for native in (True, False):
        monkeypatch.setattr(greedy, "_SCREENS", greedy.weakref.WeakKeyDictionary())
        monkeypatch.setattr(greedy, "_native_bfloat16", lambda native=native: native)
        assert (head_screen(lm, padding_mask(lm)) is not None) is native

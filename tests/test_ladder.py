"""The ladder: copies for several first layers that share the unpatched layers below each.

(a) it engages on every tiny architecture (so the comparisons below are not vacuous), and a sweep
    through it answers exactly as one first layer at a time and as the fused path without it,
    in every position mode, with repeated layers and the unpatched baseline in the same sweep;
(b) where the logits are not the head of the final modules (Gemma 2's soft-capping), it
    declines and the fused path answers.
"""

from __future__ import annotations

import pytest
import torch
from conceptpatch.compute import score_ids
from conceptpatch.engine import patching
from conceptpatch.engine.capture import concept_latents
from conceptpatch.engine.checkpoints import wrap_model
from conceptpatch.engine.ladder import unpatched_tail
from conceptpatch.engine.patching import UNPATCHED, patched_sweep, width_of
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.vocabulary import POSITION_MODES


def _sweep_inputs(lm, lexicon, make_prompts, mode, n=5):
    targets = make_prompts(11, n)
    sources = [make_prompts(50 + i, 2, concepts=(lexicon.concepts[i],)) for i in range(n)]
    wanted = [lexicon.reference(p.concept, p.pair.output) for p in targets]
    return targets, concept_latents(lm, sources, width_of(mode)), score_ids(lm, targets, wanted)


@pytest.fixture
def engaged(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per fused sweep, whether the ladder engaged."""
    seen: list[bool] = []

    def spy(*args, **kwargs):
        rungs = unpatched_tail(*args, **kwargs)
        seen.append(rungs is not None)
        return rungs

    monkeypatch.setattr(patching, "unpatched_tail", spy)
    return seen


@pytest.mark.parametrize("mode", POSITION_MODES)
def test_the_ladder_answers_as_one_layer_at_a_time(
    arch, tiny_models, tiny_lexicon, make_prompts, engaged, monkeypatch, mode
):
    """(a) Ladder, fused without it, and single first layers: the same answers."""
    lm = tiny_models[arch]
    targets, latents, ids = _sweep_inputs(lm, tiny_lexicon, make_prompts, mode)
    layers = list(range(lm.n_layers))
    order = [*layers[::-1], UNPATCHED, *layers]
    laddered = patched_sweep(lm, targets, latents, order, ids, mode, 5, rows=256)
    assert engaged == ([] if mode == "word+embeddings" else [True])  # embeddings: nothing shared
    monkeypatch.setattr(patching, "unpatched_tail", lambda *a, **k: None)
    fused = patched_sweep(lm, targets, latents, order, ids, mode, 5, rows=256)
    for j in [*layers, UNPATCHED]:
        alone = patched_sweep(lm, targets, latents, [j], ids, mode, 5)[j]
        for other, what in ((fused[j], "fused"), (alone, "single")):
            assert laddered[j].tokens == other.tokens, (arch, mode, j, what)
            assert laddered[j].texts == other.texts
            torch.testing.assert_close(laddered[j].p_first, other.p_first, rtol=1e-9, atol=1e-12)


def test_the_ladder_declines_soft_capped_logits(tiny_models, tiny_lexicon, make_prompts, engaged):
    """(b) Gemma 2 caps its logits after the head: the ladder declines, the answers still agree."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    tokenizer = tiny_models["llama"].tokenizer
    torch.manual_seed(0)
    model = Gemma2ForCausalLM(
        Gemma2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                     num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                     head_dim=16, final_logit_softcapping=0.5, pad_token_id=0,
                     bos_token_id=1, eos_token_id=2)
    ).eval().double()  # fmt: skip
    lm = wrap_model(Checkpoint("capped", path="<memory>"), model, tokenizer)
    targets, latents, ids = _sweep_inputs(lm, tiny_lexicon, make_prompts, "last")
    fused = patched_sweep(lm, targets, latents, [0, 1], ids, "last", 4, rows=256)
    assert engaged == [False]
    for j in (0, 1):
        alone = patched_sweep(lm, targets, latents, [j], ids, "last", 4)[j]
        assert fused[j].tokens == alone.tokens

"""Decoding and query positions that hold on real tokenizers (issue 13).

- Padded vocabularies: models with more logits than tokenizer entries (Pythia-410m: 50,304 for
  50,277; OLMo-2, BLOOM) must never decode a padding id, and the stop mask is sized from the
  logits (a tiny Llama padded by 64 ids used to fail with ``IndexError: index 517 is out of
  bounds for dimension 0 with size 512``).
- A closing quote that BPE merges with the word's end (``lehrer(in)"`` -> ``in`` + ``)"``): the
  query position is the last token inside the word, and runs count and warn about it.
- Concept latents keep the model's dtype (float64 models are not rounded to float32).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from _tiny import dump_toml, suite_data, write_suite
from conceptpatch.compute import QueryPositionWarning, run_suite, score_ids
from conceptpatch.config.suite import load_suite
from conceptpatch.engine import patching
from conceptpatch.engine.capture import concept_latents, encode, group_mean, prompt_states
from conceptpatch.engine.checkpoints import load_checkpoint, wrap_model
from conceptpatch.engine.patching import UNPATCHED, patched_sweep
from conceptpatch.engine.positions import quote_merges, word_token_spans
from conceptpatch.lexicons import load_long_csv
from conceptpatch.prompts import Pair, build_prompt
from conceptpatch.results import Store
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.random import build_tiny, tiny_model, train_bpe

from conftest import random_prompts

PAD = 64


@pytest.fixture(scope="module")
def padded(tmp_path_factory, tiny_lexicon):
    """A tiny Llama whose vocabulary has 64 padding ids beyond its tokenizer (float64)."""
    path = build_tiny(
        "llama", tiny_lexicon, tmp_path_factory.mktemp("padded") / "llama", layers=2,
        hidden=32, seed=3, pad_vocab=PAD,
    )  # fmt: skip
    return load_checkpoint(Checkpoint("padded", path=str(path)), dtype="float64")


@contextmanager
def prefer_padding(lm):
    """Make every padding id the argmax (+1e4 on its logit): decoding must still skip them."""
    known = len(lm.tokenizer)

    def hook(module, args, output):
        output = output.clone()
        output[..., known:] += 1e4
        return output

    handle = lm.model.get_output_embeddings().register_forward_hook(hook)
    try:
        yield known
    finally:
        handle.remove()


def test_padded_model_has_more_logits_than_tokenizer_entries(padded):
    assert patching.logit_size(padded) == len(padded.tokenizer) + PAD
    stops = patching.stop_token_mask(padded)
    padding = patching.padding_mask(padded)
    assert stops.shape == padding.shape == (len(padded.tokenizer) + PAD,)
    assert bool(padding[len(padded.tokenizer) :].all()) and not bool(padding[:-PAD].any())
    assert not bool(stops[len(padded.tokenizer) :].any())
    assert bool(stops[padded.tokenizer.eos_token_id])


def test_padding_ids_are_never_decoded(padded, tiny_lexicon):
    prompts = random_prompts(tiny_lexicon, seed=5, n=4)
    ids = score_ids(padded, prompts, [tiny_lexicon.reference(p.concept, p.pair.output)
                                      for p in prompts])  # fmt: skip
    latents = concept_latents(padded, [[p] for p in random_prompts(tiny_lexicon, 6, 4)])
    with prefer_padding(padded) as known:
        for rows in (None, 256):  # one first layer per forward, and several fused
            sweep = patched_sweep(padded, prompts, latents, [UNPATCHED, 0, 1], ids, "last", 4,
                                  rows=rows)  # fmt: skip
            for generation in sweep.values():
                assert all(t < known for row in generation.tokens for t in row)
                assert all(0 <= float(p) <= 1 for p in generation.p_first)


def test_padding_logits_change_nothing(padded, tiny_lexicon):
    """Masked padding: answers and p_concept are those of the model without its padding rows."""
    prompts = random_prompts(tiny_lexicon, seed=9, n=3)
    ids = torch.tensor([1, 2, 3])
    plain = patched_sweep(padded, prompts, None, [UNPATCHED], ids, "last", 4)[UNPATCHED]
    with prefer_padding(padded):
        boosted = patched_sweep(padded, prompts, None, [UNPATCHED], ids, "last", 4)[UNPATCHED]
    assert boosted.tokens == plain.tokens and boosted.texts == plain.texts
    torch.testing.assert_close(boosted.p_first, plain.p_first)


@pytest.mark.filterwarnings("ignore::conceptpatch.compute.QueryPositionWarning")
def test_a_padded_tiny_model_runs_a_full_suite(tmp_path, monkeypatch):
    """The tiny random suite on a Llama padded by 64 ids: every unit computed, no IndexError."""
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    path = write_suite(tmp_path, model={"random_pad_vocab": PAD}, sample={"trials": 3})
    suite = load_suite(path)
    table = run_suite(suite, tmp_path / "store", progress=False)
    assert len(table) == 3 * 3 * (2 + 1)  # 3 output languages x 3 trials x (layers 0-1, unpatched)
    assert table["pos"].isna().all()  # CLDR has no parts of speech
    store = Store(tmp_path / "store")
    units = store.units()
    assert len(units) == 2 and all("query_merged" in store.unit_meta(u.parent.name, u.stem)
                                   for u in units)  # fmt: skip


# --- a closing quote merged with the word's end ---------------------------------------------------

#: German nouns with a bracketed feminine ending, so that BPE learns the merge ``)"``.
MERGED = {
    "teacher": ("teacher", "lehrer(in)"), "student": ("student", "schüler(in)"),
    "doctor": ("doctor", "arzt(in)"), "friend": ("friend", "freund(in)"),
    "baker": ("baker", "bäcker(in)"), "cook": ("cook", "koch(in)"),
    "driver": ("driver", "fahrer(in)"), "reader": ("reader", "leser(in)"),
    "singer": ("singer", "sänger(in)"), "painter": ("painter", "maler(in)"),
    "dancer": ("dancer", "tänzer(in)"), "writer": ("writer", "autor(in)"),
}  # fmt: skip


def _merged_lexicon(tmp: Path) -> Path:
    lines = ["concept,language,word"]
    for concept, (en, de) in MERGED.items():
        lines += [f"{concept},en,{en}", f"{concept},de,{de}", f"{concept},fr,{en}e"]
    path = tmp / "merged.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def merging(tmp_path_factory):
    """A float64 tiny Llama whose tokenizer merges ``)"`` (trained on the lexicon's lines)."""
    lexicon = load_long_csv(_merged_lexicon(tmp_path_factory.mktemp("merged")))
    texts = [f'Deutsch: "{lexicon.reference(c, "de")}" - English: "{lexicon.reference(c, "en")}"\n'
             for c in lexicon.concepts]
    tokenizer = train_bpe(texts * 20, vocab_size=300)
    model = tiny_model("llama", len(tokenizer), layers=2, hidden=32, seed=0).double()
    return lexicon, wrap_model(Checkpoint("merging", path="."), model, tokenizer)


def test_the_tokenizer_merges_the_closing_quote(merging):
    _, lm = merging
    pieces = lm.tokenizer.convert_ids_to_tokens(lm.tokenizer('"lehrer(in)"')["input_ids"])
    assert ')"' in pieces


def test_query_position_is_the_last_token_inside_the_word(merging):
    lexicon, lm = merging
    german = build_prompt(lexicon, "teacher", Pair("de", "en"), ["doctor"])
    english = build_prompt(lexicon, "teacher", Pair("en", "de"), ["doctor"])
    enc = lm.tokenizer([german.text, english.text], padding=True, return_tensors="pt",
                       return_offsets_mapping=True)  # fmt: skip
    spans = word_token_spans(enc["offset_mapping"], [german.span, english.span])
    offsets = enc["offset_mapping"]
    for row, prompt in enumerate((german, english)):
        first, last = (int(x) for x in spans[row])
        start, end = (int(x) for x in offsets[row, last])
        assert end <= prompt.span[1], "the query position must not cover the closing quote"
        assert prompt.text[start:end] in prompt.word and start >= prompt.span[0]
        assert first <= last
    # the German word ends in `)"`: the query token is "in" (or "(in"), the one before the quote
    merged_token = int(spans[0, 1]) + 1
    start, end = (int(x) for x in offsets[0, merged_token])
    assert german.text[start:end] == ')"'
    assert quote_merges(lm.tokenizer, [german, english]) == 1
    batch = encode(lm, [german, english], width=1)
    assert batch.positions[:, -1].tolist() == spans[:, 1].tolist()


def test_a_word_that_is_all_merged_takes_the_merged_token(merging):
    _, lm = merging
    text = 'Deutsch: ")"'
    enc = lm.tokenizer([text], return_tensors="pt", return_offsets_mapping=True)
    spans = word_token_spans(enc["offset_mapping"], [(10, 11)])
    start, end = (int(x) for x in enc["offset_mapping"][0, int(spans[0, 1])])
    assert text[start:end] == ')"'  # no token of its own: the merged one (a clear fallback)


def test_a_run_counts_and_warns_about_merged_quotes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    data = suite_data(
        languages={"seen": ["en", "de", "fr"]},
        prompt={"k": 1},
        patch={"layers": [0], "settings": ["seen"], "max_new_tokens": 2,
               "seen_sources": "other_output"},
        sample={"trials": 4},
    )
    data["lexicon"] = {"path": str(_merged_lexicon(tmp_path))}
    path = tmp_path / "suite.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_suite(load_suite(path), tmp_path / "store", progress=False)
    store = Store(tmp_path / "store")
    merged = [store.unit_meta(u.parent.name, u.stem)["query_merged"] for u in store.units()]
    assert merged and merged[0] > 0
    assert any(issubclass(w.category, QueryPositionWarning) for w in caught)


# --- latents in the model's dtype -----------------------------------------------------------------


def test_latents_keep_float64(tiny_models, make_prompts):
    lm = tiny_models["llama"]  # float64
    prompts = make_prompts(11, 3)
    latents = concept_latents(lm, [prompts])
    assert latents.dtype == torch.float64
    states, valid = prompt_states(lm, prompts)
    exact = states.sum(dim=0) / valid.to(torch.float64).sum(dim=0).clamp(min=1)[None, :, None]
    torch.testing.assert_close(latents[0], exact, rtol=0, atol=1e-15)
    assert not torch.equal(latents[0], exact.float().double())  # float32 rounding would show


def test_group_mean_returns_the_states_dtype():
    states = torch.tensor([[[[1.0]]], [[[2.0]]]], dtype=torch.bfloat16)
    valid = torch.ones(2, 1, dtype=torch.bool)
    mean = group_mean(states, valid)
    assert mean.dtype == torch.bfloat16 and float(mean) == 1.5


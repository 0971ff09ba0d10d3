"""The paper's trial design (clap): each rule, and a test that fails when the rule is broken.

Rules: ``seen`` sources avoid the target's languages and English and cover every such pair;
C and D share no first token under the checkpoint's tokenizer; each pairing is crossed with every
target pair; a pairing's target prompts share k examples and its source prompts the other k;
``self`` is (output, output), ``tgt`` the target pair, ``tgt_tgt`` the target prompt itself.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest
from conceptpatch.compute import check_tokenizer, run_unit, suite_trials
from conceptpatch.config.suite import load_suite, parse_suite
from conceptpatch.errors import SuiteError
from conceptpatch.prompts import Pair
from conceptpatch.resolve import resolve
from conceptpatch.sources.random import _lexicon_texts, train_bpe
from conceptpatch.trials import (
    PIVOT,
    check_design,
    first_tokens,
    plan_trials,
    setting_work,
    source_pairs,
    source_prompts,
    target_pair_list,
    target_prompt,
    token_conflicts,
)

SUITES = Path(__file__).resolve().parents[1] / "suites"
SIX = ["en", "fr", "de", "es", "it", "pt"]


def _suite(seen=SIX, unseen=("ru",), trials=12, pairing="token_disjoint", **patch):
    return parse_suite({
        "name": "design", "seed": 3,
        "model": {"random": "llama", "random_layers": 2, "random_hidden": 32, "device": "cpu"},
        "lexicon": {"builtin": "cldr"},
        "languages": {"seen": list(seen), "unseen": list(unseen)},
        "prompt": {"k": 3},
        "patch": {"layers": [0, 1], "settings": ["seen", "en_en", "tgt", "self", "tgt_tgt",
                                                 "unpatched"], "max_new_tokens": 3, **patch},
        "sample": {"trials": trials, "pairing": pairing},
    })  # fmt: skip


@pytest.fixture(scope="module")
def planned():
    resolved = resolve(_suite())
    tokenizer = train_bpe(_lexicon_texts(resolved.lexicon), vocab_size=512)
    return resolved, tokenizer, plan_trials(resolved, tokenizer)


def test_seen_sources_avoid_the_targets_languages_and_english_and_cover_every_such_pair(planned):
    resolved, _, trials = planned
    for trial in trials:
        pairs = {p.pair for p in source_prompts(resolved, trial, "seen")}
        avoid = {trial.pair.input, trial.pair.output, PIVOT}
        eligible = {Pair(a, b) for a, b in itertools.permutations(resolved.seen, 2)
                    if not {a, b} & avoid}
        assert pairs == eligible and eligible


def test_a_broken_seen_rule_is_caught():
    """The old rule (any pair into another output) includes the target's input and English."""
    resolved = resolve(_suite(seen_sources="other_output"))
    pair = target_pair_list(resolved)[1]
    drawn = source_pairs(resolved, "seen", pair)
    assert any(pair.input in (p.input, p.output) or PIVOT in (p.input, p.output) for p in drawn)


def test_no_pairing_shares_a_first_token_under_the_tokenizer(planned):
    resolved, tokenizer, trials = planned
    assert token_conflicts(resolved, trials, tokenizer) == []
    concepts = sorted({c for t in trials for c in (t.concept, t.target_concept)})
    tokens = dict(zip(concepts, first_tokens(tokenizer, resolved.lexicon, concepts,
                                             resolved.seen + resolved.unseen), strict=True))
    assert all(not tokens[t.concept] & tokens[t.target_concept] for t in trials)


def test_pairing_any_breaks_the_token_rule_and_it_is_seen():
    """A byte-level tokenizer of 260 tokens makes many words share a first token: pairing any
    concepts then gives conflicts that `token_conflicts` finds, the paper's rule none."""
    loose = resolve(_suite(pairing="any", trials=60))
    tokenizer = train_bpe(_lexicon_texts(loose.lexicon), vocab_size=300)
    anyway = plan_trials(loose)
    assert token_conflicts(loose, anyway, tokenizer)
    strict = resolve(_suite(trials=60))
    assert token_conflicts(strict, plan_trials(strict, tokenizer), tokenizer) == []


def test_each_pairing_is_crossed_with_every_target_pair(planned):
    resolved, _, trials = planned
    pairs = target_pair_list(resolved)
    assert len(pairs) == len(resolved.seen) + len(resolved.unseen)
    by_pairing: dict[int, list] = {}
    for t in trials:
        by_pairing.setdefault(t.pairing, []).append(t)
    assert len(by_pairing) == resolved.suite.trials
    for group in by_pairing.values():
        assert sorted(str(t.pair) for t in group) == sorted(str(p) for p in pairs)
        assert len({(t.concept, t.target_concept, t.examples, t.source_examples)
                    for t in group}) == 1
    assert len({t.trial for t in trials}) == len(trials)


def test_examples_are_k_per_target_and_k_shared_by_every_source_prompt(planned):
    resolved, _, trials = planned
    k = resolved.suite.k
    for t in trials:
        assert len(t.examples) == len(t.source_examples) == k
        assert not set(t.examples) & set(t.source_examples)
        assert not {t.concept, t.target_concept} & set(t.examples + t.source_examples)
        for setting in ("seen", "en_en", "tgt", "self"):
            assert all(p.examples == t.source_examples
                       for p in source_prompts(resolved, t, setting))
        assert target_prompt(resolved, t).examples == t.examples


def test_examples_not_shared_would_be_seen(planned):
    """Drawing source examples per prompt (the old design) breaks the check above."""
    resolved, _, trials = planned
    t = dataclasses.replace(trials[0], source_examples=trials[1].source_examples)
    assert source_prompts(resolved, t, "seen")[0].examples != trials[0].source_examples


def test_the_settings_are_clap_s(planned):
    resolved, _, trials = planned
    for t in trials:
        out = t.pair.output
        assert [p.pair for p in source_prompts(resolved, t, "tgt")] == [t.pair]
        assert [p.pair for p in source_prompts(resolved, t, "en_en")] == [Pair("en", "en")]
        self_pairs = [p.pair for p in source_prompts(resolved, t, "self")]
        assert self_pairs == ([] if out == "en" else [Pair(out, out)])
        assert source_prompts(resolved, t, "tgt_tgt") == [target_prompt(resolved, t)]
        assert all(p.concept == t.concept for p in source_prompts(resolved, t, "seen"))


def test_tgt_tgt_is_an_identity_patch_and_self_skips_english(tmp_path):
    """Patching the target prompt with its own latent changes no answer at any layer."""
    from conceptpatch.engine.checkpoints import load_checkpoint

    resolved = resolve(_suite(trials=3))
    lm = load_checkpoint(resolved.checkpoints[0], dtype="float64")
    trials = suite_trials(resolved)
    identity = run_unit(lm, resolved, "tgt_tgt", trials)
    base = run_unit(lm, resolved, "unpatched", trials).set_index("trial")["output"]
    assert len(identity) == 2 * len(trials)
    assert (identity["output"].to_numpy() == base.loc[identity["trial"]].to_numpy()).all()
    selfish = run_unit(lm, resolved, "self", trials)
    assert "en" not in set(selfish["output_lang"])
    assert set(selfish["source_pairs"]) == {f"{o}-{o}" for o in set(selfish["output_lang"])}


def test_a_checkpoint_with_another_tokenizer_is_refused():
    resolved = resolve(_suite(trials=40))
    lm = __import__("conceptpatch.engine.checkpoints", fromlist=["x"]).load_checkpoint(
        resolved.checkpoints[0])
    trials = suite_trials(resolved)
    check_tokenizer(lm, resolved, trials)  # its own tokenizer: fine
    coarse = train_bpe(_lexicon_texts(resolved.lexicon), vocab_size=300)
    if not token_conflicts(resolved, trials, coarse):
        pytest.skip("no conflict under the coarse tokenizer")
    other = dataclasses.replace(lm, tokenizer=coarse)
    with pytest.raises(SuiteError, match="tokenizes differently"):
        check_tokenizer(other, resolved, trials)


def test_three_seen_languages_cannot_run_the_papers_seen_rule():
    with pytest.raises(SuiteError, match="seen_sources") as err:
        check_design(resolve(_suite(seen=["en", "fr", "de"], unseen=())))
    assert "\n" not in str(err.value)
    check_design(resolve(_suite(seen=["en", "fr", "de"], unseen=(), seen_sources="other_output")))


def test_default_target_pairs_leave_every_target_a_seen_source():
    for name in ("organism.toml", "gemma3-270m.toml", "tiny-random.toml", "eurollm-1.7b.toml"):
        suite = load_suite(SUITES / name)
        resolved = resolve(suite, build=False, missing_ok=True) if "organism" not in name else None
        if resolved is None:
            continue
        for pair in check_design(resolved):
            assert source_pairs(resolved, "seen", pair)


def test_self_into_english_only_is_refused():
    data = {"name": "x", "model": {"random": "llama"}, "lexicon": {"builtin": "cldr"},
            "languages": {"seen": SIX}, "patch": {"settings": ["self"]},
            "sample": {"target_pairs": ["fr-en"]}}
    with pytest.raises(SuiteError, match="'self' runs no target pair"):
        check_design(resolve(parse_suite(data)))


def test_explicit_target_pairs_and_their_errors():
    data = {"name": "x", "model": {"random": "llama"}, "lexicon": {"builtin": "cldr"},
            "languages": {"seen": SIX, "unseen": ["ru"]}}
    suite = parse_suite({**data, "sample": {"target_pairs": ["fr-de", "de-ru"]}})
    assert target_pair_list(resolve(suite)) == (Pair("fr", "de"), Pair("de", "ru"))
    for bad, says in ((["fr"], "in-out"), (["ru-fr"], "not a seen language"),
                      (["fr-zh"], "not a language of the suite"), (["fr-fr"], "into itself"),
                      (["fr-de", "fr-de"], "twice"), ([], "empty")):
        with pytest.raises(SuiteError, match=says):
            parse_suite({**data, "sample": {"target_pairs": bad}})


def test_setting_work_counts_distinct_source_prompts(planned):
    resolved, _, trials = planned
    for setting in ("seen", "tgt", "self", "en_en"):
        runs, sources = setting_work(resolved, setting)
        kept = [t for t in trials if source_prompts(resolved, t, setting)]
        distinct = {p.text for t in kept for p in source_prompts(resolved, t, setting)}
        assert runs == len(kept) and sources == len(distinct)


def test_a_pairings_source_prompts_run_once_for_all_its_target_pairs(monkeypatch):
    """One unit runs each distinct source prompt once, though every target pair averages it."""
    from conceptpatch.engine import capture
    from conceptpatch.engine.checkpoints import load_checkpoint

    resolved = resolve(_suite(trials=4))
    lm = load_checkpoint(resolved.checkpoints[0])
    trials = suite_trials(resolved)
    ran: list[str] = []
    original = capture.prompt_states

    def counted(lm, prompts, width=1):
        ran.extend(p.text for p in prompts)
        return original(lm, prompts, width)

    monkeypatch.setattr(capture, "prompt_states", counted)
    run_unit(lm, resolved, "seen", trials)
    used = [p.text for t in trials for p in source_prompts(resolved, t, "seen")]
    assert sorted(ran) == sorted(set(used)) and len(used) > len(set(used))

"""Claims on simulated results tables: planted effects are supported, absences refuted, and the
rest inconclusive, each for the reason its module states."""

import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest
from conceptpatch import claims
from conceptpatch.claims import (
    Design,
    World,
    emergence,
    induction,
    language,
    layers,
    phase_two,
    regression,
    simulate,
    stability,
    unseen,
)
from conceptpatch.claims.calibration import paper_world
from conceptpatch.claims.common import band_layers

LANG_RATE = {"en": 0.75, "fr": 0.55, "de": 0.35}
CKS = (("s0", 100, 1), ("s1", 200, 1), ("s2", 300, 1), ("s3", 400, 1), ("s4", 500, 1),
       ("s5", 600, 2))


def paper_like(ci, setting, layer, lang):
    """Emerges at s1, stable, mid layers (2-3 of 6) work, late fail, phase two lifts fr, de."""
    if lang == "cy" or ci == 0 or layer >= 4:
        return 0.02
    return LANG_RATE[lang] + (0.25 if ci == 5 and lang != "en" else 0.0)


@pytest.fixture(scope="module")
def paper():
    return simulate(World(checkpoints=CKS, rate=paper_like, baseline=0.02, persistence=0.6,
                          concept_spread=0.2), seed=1)


@pytest.fixture(scope="module")
def control():
    """A negative control: patching never says C more than the baseline does."""
    return simulate(World(checkpoints=CKS, rate=0.0, baseline=0.02), seed=2)


def by_case(verdicts):
    return {v.case: v.verdict for v in verdicts}


def test_concept_induction(paper, control):
    assert set(by_case(induction.evaluate(paper)).values()) == {"supported"}
    refuted = induction.evaluate(control)
    assert {v.verdict for v in refuted} == {"refuted"}
    assert {v.reading for v in refuted} == {"absent"}
    msg = refuted[0].message
    assert "mid layers [2, 3]" in msg and "SESOI 0.05" in msg and "n=100" in msg


def test_a_small_real_effect_is_not_refuted():
    """+0.10 induction: supported or inconclusive, never "absent" (evidence of absence)."""
    df = simulate(World(checkpoints=CKS[:1], rate=0.12, baseline=0.02, trials=40), seed=3)
    assert "refuted" not in by_case(induction.evaluate(df)).values()


def test_a_declared_band_moves_the_claim():
    df = simulate(World(checkpoints=CKS[:1], rate=lambda c, s, j, g: 0.5 if j < 2 else 0.0,
                        baseline=0.02), seed=4)
    assert set(by_case(induction.evaluate(df)).values()) == {"refuted"}
    early = by_case(induction.evaluate(df, design=Design(band="early")))
    assert set(early.values()) == {"supported"}
    assert set(by_case(induction.evaluate(df, design=Design(band=(0,)))).values()) == {
        "supported"}


def test_bands_scale_with_depth():
    frame = pd.DataFrame({"layer": range(24), "n_layers": 24})
    assert band_layers(frame, "mid") == list(range(6, 15))
    assert band_layers(frame, "late") == list(range(16, 24))
    assert band_layers(frame, "early") == list(range(6))
    with pytest.raises(ValueError, match="not one of early, mid, late"):
        band_layers(frame, "middle")


def test_layer_sensitivity(paper):
    assert set(by_case(layers.evaluate(paper)).values()) == {"supported"}
    flat = simulate(World(checkpoints=CKS[:1], rate=0.5, baseline=0.02), seed=5)
    got = layers.evaluate(flat)
    assert {v.verdict for v in got} == {"refuted"}
    assert "late layer patches" in got[0].message
    early_only = simulate(World(checkpoints=CKS[:1], baseline=0.02,
                                rate=lambda c, s, j, g: 0.5 if j == 0 else 0.02), seed=6)
    assert {v.verdict for v in layers.evaluate(early_only)} == {"refuted"}


def test_early_emergence(paper, control):
    got = emergence.evaluate(paper)
    assert by_case(got) == {"emergence": "supported"}
    assert got[0].evidence["onset_induction"][0] == "s1"
    assert by_case(emergence.evaluate(control)) == {"emergence": "refuted"}
    late = simulate(World(checkpoints=CKS, baseline=0.02,
                          rate=lambda ci, s, j, g: 0.6 if ci >= 4 else 0.02), seed=7)
    verdict = emergence.evaluate(late)[0]
    assert verdict.verdict == "refuted"
    assert "induction first clear at s4" in verdict.message


def test_a_significant_trickle_is_not_emergence():
    trickle = simulate(World(checkpoints=CKS, baseline=0.0, trials=300,
                             rate=lambda ci, s, j, g: 0.03), seed=8)
    assert emergence.evaluate(trickle)[0].verdict == "refuted"


def test_stability(paper):
    axes = claims.axes_from_results(paper)
    assert stability.cases(axes) == ["stable-s2", "stable-s3"]  # s0, s1 early; s4 reference
    assert set(by_case(stability.evaluate(paper)).values()) <= {"supported", "inconclusive"}
    moved = simulate(World(checkpoints=CKS[:5], baseline=0.02,
                           rate=lambda ci, s, j, g: 0.2 if ci == 2 else 0.7), seed=9)
    assert by_case(stability.evaluate(moved))["stable-s2"] == "refuted"


def test_phase_two(paper):
    assert by_case(phase_two.evaluate(paper)) == {"fr": "supported", "de": "supported"}
    trend = simulate(World(checkpoints=CKS, baseline=0.02,
                           rate=lambda ci, s, j, g: 0.1 + 0.12 * ci), seed=10)
    assert "supported" not in by_case(phase_two.evaluate(trend)).values()
    assert phase_two.cases(claims.axes_from_results(trend.query("phase == 1"))) == []


def test_phase_two_against_a_control_run(paper):
    no_phase_two = simulate(World(checkpoints=CKS, baseline=0.02,
                                  rate=lambda ci, s, j, g: paper_like(min(ci, 4), s, j, g)),
                            seed=11)
    got = phase_two.evaluate(paper, control=no_phase_two)
    assert by_case(got) == {"fr": "supported", "de": "supported"}
    assert "control run" in got[0].message


def test_unseen_language(paper, control):
    assert by_case(unseen.evaluate(paper)) == {"bound-cy": "supported", "mix-cy": "supported"}
    assert set(by_case(unseen.evaluate(control)).values()) == {"inconclusive"}
    works = simulate(World(checkpoints=CKS[-1:], baseline=0.02, rate=0.6,
                           unseen_failures=World().seen_failures), seed=12)
    got = by_case(unseen.evaluate(works))
    assert got["bound-cy"] == "refuted" and got["mix-cy"] != "supported"


def test_language_dependence(paper):
    assert set(by_case(language.evaluate(paper)).values()) == {"supported"}
    even = simulate(World(checkpoints=CKS[-1:], trials=400, rate=0.5, baseline=0.02,
                          concepts=400), seed=13)
    assert set(by_case(language.evaluate(even)).values()) == {"refuted"}
    directed = Design(high_resource=("en",), low_resource=("de",))
    got = language.evaluate(paper, design=directed)
    assert set(by_case(got).values()) == {"supported"} and "high- above low" in got[0].message


def test_regression_gate(paper):
    ok = regression.evaluate(paper, "s3")
    assert {v.verdict for v in ok} <= {"supported", "inconclusive"}
    worse = simulate(World(checkpoints=CKS[:4], baseline=0.02,
                           rate=lambda ci, s, j, g: 0.1 if ci == 3 else 0.6), seed=14)
    got = regression.evaluate(worse, "s3")
    assert {v.verdict for v in got} == {"refuted"}
    assert all(v.reading == "regressed" for v in got)


def test_missing_rows_are_inconclusive():
    df = simulate(World(checkpoints=CKS[:1], settings=("seen",), trials=10), seed=15)
    assert by_case(phase_two.evaluate(df)) == {}
    no_base = df[df["setting"] != "unpatched"]
    assert set(by_case(induction.evaluate(no_base)).values()) == {"inconclusive"}
    assert induction.evaluate(df.iloc[0:0]) == []


def test_records_are_json(paper):
    for module in claims.MODULES.values():
        found = (module.evaluate(paper, "s3") if module is regression
                 else module.evaluate(paper))
        for v in found:
            rec = json.loads(json.dumps(v.to_record(), allow_nan=False))
            assert rec["verdict"] in {"supported", "refuted", "inconclusive"}
            assert rec["reading"]


def test_assert_verdict_maps_to_pytest_outcomes():
    v = claims.missing_verdict("x", "case", "no rows")
    with pytest.raises(pytest.skip.Exception, match="inconclusive: no rows"):
        claims.assert_verdict(v)
    refuted = claims.Verdict("x", "c", "refuted", 0.0, 0.0, 0.0, 1.0, 10, "numbers", {})
    with pytest.raises(pytest.fail.Exception, match="refuted: numbers"):
        claims.assert_verdict(refuted)
    claims.assert_verdict(claims.Verdict("x", "c", "supported", 0, 0, 0, 0, 1, "", {}))


def test_axes_from_suite_orders_limits_and_reads_the_design():
    ck = SimpleNamespace
    suite = SimpleNamespace(
        checkpoints=[ck(name="b", step=20, tokens=0, phase=2), ck(name="a", step=10, tokens=0,
                                                                     phase=1)],
        seen=("en", "fr"), unseen=("cy",),
        suite=SimpleNamespace(settings=("seen", "unpatched"),
                              claims={"band": [3, 4], "reference": "a"}))
    axes = claims.axes_from_suite(suite)
    assert axes.checkpoints == ("a", "b") and axes.phases == (1, 2)
    assert axes.progress == (0.5, 1.0)
    assert axes.design == Design(band=(3, 4), reference="a")
    assert induction.cases(axes) == ["seen-en", "seen-fr"]
    assert claims.axes_from_suite(suite, upto="a").checkpoints == ("a",)
    from conceptpatch.errors import ConceptPatchError

    with pytest.raises(ConceptPatchError, match="choose one of a, b"):
        claims.axes_from_suite(suite, upto="zzz")


def test_decide_needs_a_bound_to_refute():
    assert claims.decide(0.01, 0.4, 0.05, 0.05) == "supported"
    assert claims.decide(0.01, 0.04, 0.05, 0.05) == "refuted"  # significant but negligible
    assert claims.decide(0.3, 0.04, 0.05, 0.05) == "refuted"
    assert claims.decide(0.3, 0.2, 0.05, 0.05) == "inconclusive"
    assert claims.decide(math.nan, 0.2, 0.05, 0.05) == "inconclusive"


def test_manual_labels_map_onto_categories_or_fail_loudly():
    got = claims.to_categories(pd.Series(["hypernym", "untranslated", "empty", "exact"]))
    assert list(got) == ["synonym", "other_language", "unrelated", "exact"]
    with pytest.raises(ValueError, match="labels bogus have no outcome category"):
        claims.to_categories(pd.Series(["exact", "bogus"]))


def test_every_claim_declares_sesoi_and_paper_effect():
    for claim_id, module in claims.MODULES.items():
        assert module.CLAIM.id == claim_id
        assert 0 < module.CLAIM.sesoi < 0.5 and module.CLAIM.alpha == 0.05
        assert callable(module.cases) and callable(module.evaluate)


def test_paper_world_uses_the_engine_trial_plan():
    df = simulate(paper_world(trials=100, concepts=120), seed=0)
    one = df[(df["checkpoint"] == "s0") & (df["setting"] == "unpatched")]
    per_lang = one.groupby("output_lang")["concept"].nunique()
    assert (per_lang == 100).all()  # without replacement within an output language
    assert one["concept"].nunique() < len(one)  # reused across languages

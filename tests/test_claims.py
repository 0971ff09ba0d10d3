"""Claims on synthetic results tables: planted effects are supported, absent ones refuted."""

import json
from types import SimpleNamespace

import pytest
from conceptpatch import claims
from conceptpatch.claims import synthetic_results

CKS = (("s0", 0, 1), ("s1", 100, 1), ("s2", 200, 1), ("s3", 300, 1), ("s4", 400, 2),
       ("s5", 500, 2))
LANG_RATE = {"en": 0.75, "fr": 0.55, "de": 0.35}


def paper_like(ci, setting, layer, lang):
    """Emerges at s1, stable, mid layers work, last fail, phase two lifts fr and de, cy fails."""
    if lang == "cy" or ci == 0:
        return 0.02
    if layer >= 4:
        return 0.03
    return LANG_RATE[lang] + (0.3 if ci >= 4 and lang != "en" else 0.0)


@pytest.fixture(scope="module")
def paper():
    return synthetic_results(checkpoints=CKS, rate=paper_like, trials=100, correlation=0.3,
                             seed=1)


@pytest.fixture(scope="module")
def control():
    """A negative control: patching never beats the baseline."""
    return synthetic_results(checkpoints=CKS, rate=0.02, trials=100, seed=2)


def by_case(verdicts):
    return {v.case: v.verdict for v in verdicts}


def test_concept_induction(paper, control):
    assert set(by_case(claims.evaluate_concept_induction(paper, 0.05)).values()) == {"supported"}
    refuted = claims.evaluate_concept_induction(control, 0.05)
    assert {v.verdict for v in refuted} == {"refuted"}
    msg = refuted[0].message
    assert "exact rate" in msg and "p=" in msg and "n=100" in msg and "power=" in msg


def test_early_emergence(paper, control):
    got = by_case(claims.evaluate_early_emergence(paper, 0.05))
    assert got["emergence"] == "supported"
    assert set(got) == {"emergence", "stable-s2", "stable-s3", "stable-s4", "stable-s5"}
    assert got["stable-s2"] == "supported"
    assert by_case(claims.evaluate_early_emergence(control, 0.05))["emergence"] == "refuted"


def test_late_emergence_is_refuted():
    df = synthetic_results(checkpoints=CKS, trials=100, seed=3,
                           rate=lambda ci, s, j, g: 0.6 if ci >= 4 else 0.02)
    verdicts = claims.evaluate_early_emergence(df, 0.05)
    assert verdicts[0].verdict == "refuted"
    assert "first later one: s4" in verdicts[0].message


def test_layer_sensitivity(paper):
    got = by_case(claims.evaluate_layer_sensitivity(paper, 0.05))
    assert got["s0"] == "inconclusive"  # nothing to localise before emergence
    assert {got[c] for c in ("s1", "s2", "s3", "s4", "s5")} == {"supported"}
    flat = synthetic_results(checkpoints=CKS[:2], trials=100, seed=4,
                             rate=lambda ci, s, j, g: 0.5 if ci else 0.02)
    assert by_case(claims.evaluate_layer_sensitivity(flat, 0.05))["s1"] == "refuted"


def test_phase_two(paper):
    assert by_case(claims.evaluate_phase_two(paper, 0.05)) == {"fr": "supported",
                                                                "de": "supported"}
    one_phase = synthetic_results(checkpoints=CKS[:3], trials=20, seed=5)
    assert set(by_case(claims.evaluate_phase_two(one_phase, 0.05)).values()) == {"inconclusive"}


def test_unseen_language(paper):
    got = by_case(claims.evaluate_unseen_language(paper, 0.05))
    assert got == {"bound-cy": "supported", "mix-cy": "supported"}
    works = synthetic_results(checkpoints=CKS[-1:], trials=100, seed=6, rate=0.6,
                              unseen_failures={c: 1.0 for c in claims.CATEGORIES[1:]})
    assert by_case(claims.evaluate_unseen_language(works, 0.05))["bound-cy"] == "refuted"


def test_language_dependence(paper):
    assert set(by_case(claims.evaluate_language_dependence(paper, 0.05)).values()) == {
        "supported"}
    even = synthetic_results(checkpoints=CKS[-1:], trials=300, seed=7, rate=0.5)
    assert set(by_case(claims.evaluate_language_dependence(even, 0.05)).values()) == {"refuted"}


def test_regression_gate(paper):
    ok = claims.evaluate_regression(paper, "s3", 0.05)
    assert {v.verdict for v in ok} <= {"supported", "inconclusive"}
    worse = synthetic_results(checkpoints=CKS[:4], trials=100, seed=8,
                              rate=lambda ci, s, j, g: 0.1 if ci == 3 else 0.6)
    got = claims.evaluate_regression(worse, "s3", 0.05)
    assert {v.verdict for v in got} == {"refuted"}
    assert "trials worse" in got[0].message


def test_missing_rows_are_inconclusive():
    df = synthetic_results(checkpoints=CKS[:1], settings=("seen",), trials=10)
    got = by_case(claims.evaluate_early_emergence(df, 0.05))
    assert got == {"emergence": "inconclusive"}
    empty = df.iloc[0:0]
    assert claims.evaluate_concept_induction(empty, 0.05) == []


def test_records_are_json(paper):
    for fn in (claims.evaluate_concept_induction, claims.evaluate_unseen_language,
               claims.evaluate_language_dependence, claims.evaluate_early_emergence):
        for v in fn(paper, 0.05):
            rec = json.loads(json.dumps(v.to_record(), allow_nan=False))
            assert rec["verdict"] in {"supported", "refuted", "inconclusive"}


def test_assert_verdict_maps_to_pytest_outcomes():
    v = claims.missing_verdict("x", "case", "no rows")
    with pytest.raises(pytest.skip.Exception, match="inconclusive: no rows"):
        claims.assert_verdict(v)
    refuted = claims.Verdict("x", "c", "refuted", 0.0, 0.0, 0.0, 1.0, 10, 0.9, "numbers", {})
    with pytest.raises(pytest.fail.Exception, match="refuted: numbers"):
        claims.assert_verdict(refuted)
    claims.assert_verdict(claims.Verdict("x", "c", "supported", 0, 0, 0, 0, 1, 1, "", {}))


def test_axes_from_suite_orders_and_limits():
    ck = SimpleNamespace
    suite = SimpleNamespace(
        checkpoints=[ck(name="b", step=20, tokens=0, phase=2), ck(name="a", step=10, tokens=0,
                                                                     phase=1)],
        seen=("en", "fr"), unseen=("cy",), suite=SimpleNamespace(settings=("seen", "unpatched")))
    axes = claims.axes_from_suite(suite)
    assert axes.checkpoints == ("a", "b") and axes.phases == (1, 2)
    assert claims.cases_concept_induction(axes) == ["seen-en", "seen-fr"]
    assert claims.axes_from_suite(suite, upto="a").checkpoints == ("a",)
    from conceptpatch.errors import ConceptPatchError

    with pytest.raises(ConceptPatchError, match="choose one of a, b"):
        claims.axes_from_suite(suite, upto="zzz")


def test_decide():
    assert claims.decide(0.01, 0.1, 0.05) == "supported"
    assert claims.decide(0.2, 0.9, 0.05) == "refuted"
    assert claims.decide(0.2, 0.5, 0.05) == "inconclusive"
    assert claims.decide(float("nan"), 1.0, 0.05) == "inconclusive"

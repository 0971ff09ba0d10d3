"""A claim's cases as drafts: Holm across them in ``family``, each settled by its rule."""

import math

from conceptpatch.claims import regression
from conceptpatch.claims.common import Claim, Draft, family, missing_verdict

CLAIM = Claim(id="x", paper="p", version=1, alpha=0.05, sesoi=0.05, paper_effect=0.3)


def draft(case, p_raw, **kw):
    numbers = dict(effect=0.3, low=0.2, high=0.4, p_raw=p_raw, n=50, what=case, evidence={})
    return Draft(CLAIM, case, 0.05, **{**numbers, **kw})


def test_family_holm_adjusts_drafts_and_passes_verdicts_through():
    missing = missing_verdict("x", "gone", "no rows")
    got = family([draft("a", 0.01), missing, draft("b", 0.04)])
    assert [v.case for v in got] == ["a", "gone", "b"]
    assert got[1] is missing
    assert [got[0].pvalue, got[2].pvalue] == [0.02, 0.04]  # Holm over the two drafts only
    assert [got[0].verdict, got[2].verdict] == ["supported", "supported"]
    assert "p=0.010, Holm p=0.020" in got[0].message
    assert family([]) == []


def test_an_unsupportable_draft_is_at_most_inconclusive():
    (v,) = family([draft("a", 0.001, supportable=False)])
    assert v.verdict == "inconclusive" and math.isnan(v.pvalue) and v.raw_pvalue == 0.001
    (v,) = family([draft("a", 0.001, high=0.01, supportable=False)])
    assert v.verdict == "refuted"


def test_a_draft_with_its_own_rule():
    gate = dict(sesoi=0.1, rule=regression.gate_verdict)
    (v,) = family([draft("a", 0.01, effect=0.2, **gate)])
    assert (v.verdict, v.reading, v.sesoi) == ("refuted", "regressed", 0.1)
    (v,) = family([draft("a", 0.5, effect=0.0, high=0.05, **gate)])
    assert v.verdict == "supported" and v.message.endswith("n=50 -> supported (no drop as large "
                                                          "as the margin)")

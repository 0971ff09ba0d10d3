"""Claim: the shared concept space appears early in training and then stays stable.

``emergence``: a checkpoint of the first third has its best layer's exact rate (seen sources,
seen output languages pooled) significantly above the unpatched rate (exact McNemar, Bonferroni
over layers, Holm over the early checkpoints). ``stable-<checkpoint>``: every later checkpoint's
exact rate is equivalent to the emergence checkpoint's within TOLERANCE (TOST, Holm).
"""

import pytest
from conceptpatch.claims import (
    PAPER,
    Claim,
    assert_verdict,
    cases_emergence,
    cases_stability,
    evaluate_early_emergence,
    missing_verdict,
)

CLAIM = Claim(
    id="early_emergence", paper=PAPER, version=1, alpha=0.05,
    statement="Concept patching succeeds within the first few checkpoints and stays stable.",
)
EFFECT = 0.30  # rise over the unpatched rate at emergence
TOLERANCE = 0.15  # "relatively stable": later exact rates within +/-0.15 of the emergence rate


@pytest.fixture(scope="module")
def verdicts(results, alpha):
    found = evaluate_early_emergence(results, alpha or CLAIM.alpha, effect=EFFECT,
                                     tolerance=TOLERANCE, claim_id=CLAIM.id)
    return {v.case: v for v in found}


def _check(case, verdicts, record_verdict):
    verdict = verdicts.get(case) or missing_verdict(CLAIM.id, case, "no rows for this case")
    record_verdict(verdict)
    assert_verdict(verdict)


@pytest.mark.claim_cases(cases=cases_emergence)
def test_emerges_early(case, verdicts, record_verdict):
    _check(case, verdicts, record_verdict)


@pytest.mark.claim_cases(cases=cases_stability)
def test_stays_stable(case, verdicts, record_verdict):
    _check(case, verdicts, record_verdict)

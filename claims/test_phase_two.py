"""Claim: data phase two raises exact translations into non-English output languages.

Per seen non-English output language: the last phase-2 checkpoint against the last phase-1
checkpoint on the same trials (exact McNemar, one-sided), Holm across languages.
"""

import pytest
from conceptpatch.claims import (
    PAPER,
    Claim,
    assert_verdict,
    cases_phase_two,
    evaluate_phase_two,
    missing_verdict,
)

CLAIM = Claim(
    id="phase_two", paper=PAPER, version=1, alpha=0.05,
    statement="Phase two (multi-way parallel data) increases exact translations into "
              "non-English output languages.",
)
EFFECT = 0.15  # rise of the exact rate from the last phase-1 to the last phase-2 checkpoint


@pytest.fixture(scope="module")
def verdicts(results, alpha):
    found = evaluate_phase_two(results, alpha or CLAIM.alpha, effect=EFFECT, claim_id=CLAIM.id)
    return {v.case: v for v in found}


@pytest.mark.claim_cases(cases=cases_phase_two)
def test_phase_two_raises_exact(case, verdicts, record_verdict):
    verdict = verdicts.get(case) or missing_verdict(CLAIM.id, case, "no rows for this language")
    record_verdict(verdict)
    assert_verdict(verdict)

"""Regression gate (``--new-checkpoint NAME``): is NAME significantly worse than before it?

Per (source setting, seen output language): exact indicator at NAME minus its mean over the
WINDOW checkpoints before, per trial id; one-sided exact sign test, Holm across cases.
Significant -> fail; otherwise pass when the test could have seen a drop of DROP, else skip.
Collected only with ``--new-checkpoint``; the other claim modules are deselected then.
"""

import pytest
from conceptpatch.claims import (
    PAPER,
    Claim,
    assert_verdict,
    cases_regression,
    evaluate_regression,
    missing_verdict,
)

CLAIM = Claim(
    id="regression", paper=PAPER, version=1, alpha=0.05,
    statement="A new checkpoint patches no worse than the checkpoints before it.",
)
DROP = 0.10  # the smallest drop of the exact rate the gate should catch
WINDOW = 2  # how many earlier checkpoints the new one is compared with

pytestmark = pytest.mark.regression


@pytest.fixture(scope="module")
def verdicts(results, alpha, new_checkpoint):
    found = evaluate_regression(results, new_checkpoint, alpha or CLAIM.alpha, drop=DROP,
                                window=WINDOW, claim_id=CLAIM.id)
    return {v.case: v for v in found}


@pytest.mark.claim_cases(cases=cases_regression)
def test_no_regression(case, verdicts, record_verdict):
    verdict = verdicts.get(case) or missing_verdict(CLAIM.id, case, "no rows for this case")
    record_verdict(verdict)
    assert_verdict(verdict)

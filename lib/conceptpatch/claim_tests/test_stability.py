"""Claim: once emerged, patching success stays stable within its data phase (paired TOST).

Statistics, SESOI and the paper's effect: :mod:`conceptpatch.claims.stability`.
"""

import pytest

from conceptpatch.claims import stability as claim


@pytest.fixture(scope="module")
def verdicts(results, alpha, design, staged):
    if staged is not None:  # a sequential suite: each case as decided at its look
        return staged.verdicts(claim.CLAIM.id)
    found = claim.evaluate(results, alpha or claim.CLAIM.alpha, design=design)
    return {v.case: v for v in found}


@pytest.mark.claim_cases(cases=claim.cases)
def test_stays_stable(case, verdicts, check_verdict):
    check_verdict(verdicts, claim.CLAIM.id, case)

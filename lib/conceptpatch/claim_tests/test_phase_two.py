"""Claim: phase two raises exact translations into non-English outputs more than into
English (difference in differences; ``--control-suite`` contrasts with a control run).

Statistics, SESOI and the paper's effect: :mod:`conceptpatch.claims.phase_two`.
"""

import pytest

from conceptpatch.claims import phase_two as claim


@pytest.fixture(scope="module")
def verdicts(results, alpha, design, control_results, staged):
    if staged is not None:  # a sequential suite: each case as decided at its look
        return staged.verdicts(claim.CLAIM.id)
    found = claim.evaluate(results, alpha or claim.CLAIM.alpha, design=design,
                           control=control_results)
    return {v.case: v for v in found}


@pytest.mark.claim_cases(cases=claim.cases)
def test_phase_two_raises_exact(case, verdicts, check_verdict):
    check_verdict(verdicts, claim.CLAIM.id, case)

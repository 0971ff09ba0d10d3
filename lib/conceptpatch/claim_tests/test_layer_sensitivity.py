"""Claim: mid layers patch, the last layers fail (the paper's bands scaled by depth).

Statistics, SESOI and the paper's effect: :mod:`conceptpatch.claims.layers`.
"""

import pytest

from conceptpatch.claims import layers as claim


@pytest.fixture(scope="module")
def verdicts(results, alpha, design, staged):
    if staged is not None:  # a sequential suite: each case as decided at its look
        return staged.verdicts(claim.CLAIM.id)
    found = claim.evaluate(results, alpha or claim.CLAIM.alpha, design=design)
    return {v.case: v for v in found}


@pytest.mark.claim_cases(cases=claim.cases)
def test_mid_layers_patch_and_late_layers_fail(case, verdicts, check_verdict):
    check_verdict(verdicts, claim.CLAIM.id, case)

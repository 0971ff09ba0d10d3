"""Regression gate (``--new-checkpoint NAME``): is NAME's patching worse than before it?

Collected only with ``--new-checkpoint``; the claim modules are deselected then. Statistics:
:mod:`conceptpatch.claims.regression` (fails only on a significant drop of at least the margin;
window and margin: ``[claims] gate_window`` / ``gate_margin``).
"""

import pytest

from conceptpatch.claims import regression as claim

pytestmark = pytest.mark.regression


@pytest.fixture(scope="module")
def verdicts(results, alpha, new_checkpoint, design, suite):
    window, margin = claim.gate(suite)
    found = claim.evaluate(results, new_checkpoint, alpha or claim.CLAIM.alpha, margin=margin,
                           window=window, design=design)
    return {v.case: v for v in found}


@pytest.mark.claim_cases(cases=claim.cases)
def test_no_regression(case, verdicts, check_verdict):
    check_verdict(verdicts, claim.CLAIM.id, case)

"""Claim: alignment with the shared space depends on the output language.

Per source setting at the final checkpoint: chi-square homogeneity of exact rates across the
seen output languages (Monte Carlo when sparse), Holm across settings.
"""

import pytest
from conceptpatch.claims import (
    PAPER,
    Claim,
    assert_verdict,
    cases_language_dependence,
    evaluate_language_dependence,
    missing_verdict,
)

CLAIM = Claim(
    id="language_dependence", paper=PAPER, version=1, alpha=0.05,
    statement="Patching success differs between output languages.",
)
SPREAD = 0.30  # range of exact rates across output languages, for the power of the test


@pytest.fixture(scope="module")
def verdicts(results, alpha):
    found = evaluate_language_dependence(results, alpha or CLAIM.alpha, spread=SPREAD,
                                         claim_id=CLAIM.id)
    return {v.case: v for v in found}


@pytest.mark.claim_cases(cases=cases_language_dependence)
def test_success_depends_on_output_language(case, verdicts, record_verdict):
    verdict = verdicts.get(case) or missing_verdict(CLAIM.id, case, "no rows for this setting")
    record_verdict(verdict)
    assert_verdict(verdict)

"""Claim: an unseen output language fails, and its failures are copies or unrelated words.

``bound-<lang>``: at the final checkpoint and the layer best for the seen languages, the exact
rate is below BOUND (exact binomial, one-sided). ``mix-<lang>``: the category mix differs from
the seen output languages' (chi-square, Monte Carlo when sparse). Holm across all cases.
"""

import pytest
from conceptpatch.claims import (
    PAPER,
    Claim,
    assert_verdict,
    cases_unseen_bound,
    cases_unseen_mix,
    evaluate_unseen_language,
    missing_verdict,
)

CLAIM = Claim(
    id="unseen_language", paper=PAPER, version=1, alpha=0.05,
    statement="Patching into an unseen output language fails; failures are copies or unrelated.",
)
BOUND = 0.10  # "fails": the exact rate stays below 10%
DESIGN_RATE = 0.02  # the paper's near-zero success, for the power of the bound test


@pytest.fixture(scope="module")
def verdicts(results, alpha):
    found = evaluate_unseen_language(results, alpha or CLAIM.alpha, bound=BOUND,
                                     design_rate=DESIGN_RATE, claim_id=CLAIM.id)
    return {v.case: v for v in found}


def _check(case, verdicts, record_verdict):
    verdict = verdicts.get(case) or missing_verdict(CLAIM.id, case, "no rows for this language")
    record_verdict(verdict)
    assert_verdict(verdict)


@pytest.mark.claim_cases(cases=cases_unseen_bound)
def test_unseen_language_fails(case, verdicts, record_verdict):
    _check(case, verdicts, record_verdict)


@pytest.mark.claim_cases(cases=cases_unseen_mix)
def test_unseen_failures_differ(case, verdicts, record_verdict):
    _check(case, verdicts, record_verdict)

"""Claim: patching the mean concept latent induces the source concept in a held-out pair.

From seen-language sources and from English-only (en_en) sources, per seen output language, at
the final checkpoint: the best layer's exact rate against the unpatched rate of saying C on the
same trial ids (exact McNemar, one-sided, Bonferroni over layers, Holm across cases).
"""

import pytest
from conceptpatch.claims import (
    PAPER,
    Claim,
    assert_verdict,
    cases_concept_induction,
    evaluate_concept_induction,
    missing_verdict,
)

CLAIM = Claim(
    id="concept_induction", paper=PAPER, version=1, alpha=0.05,
    statement="Patching the mean latent of C over source pairs induces C in a held-out pair, "
              "from seen-language and from English-only sources.",
)
EFFECT = 0.30  # a rise of the exact rate over the unpatched rate the paper's mid layers exceed


@pytest.fixture(scope="module")
def verdicts(results, alpha):
    found = evaluate_concept_induction(results, alpha or CLAIM.alpha, effect=EFFECT,
                                       claim_id=CLAIM.id)
    return {v.case: v for v in found}


@pytest.mark.claim_cases(cases=cases_concept_induction)
def test_concept_induction(case, verdicts, record_verdict):
    verdict = verdicts.get(case) or missing_verdict(CLAIM.id, case, "no rows for this case")
    record_verdict(verdict)
    assert_verdict(verdict)

"""Claim: early-to-mid layers patch, the last layers fail.

Per checkpoint (seen sources, seen output languages pooled): the best mid layer (j < 2L/3,
Bonferroni) against the best last layer (j >= 2L/3) on the same trial ids, exact McNemar
one-sided, Holm across checkpoints. Checkpoints without any induction are inconclusive.
"""

import pytest
from conceptpatch.claims import (
    PAPER,
    Claim,
    assert_verdict,
    cases_layer_sensitivity,
    evaluate_layer_sensitivity,
    missing_verdict,
)

CLAIM = Claim(
    id="layer_sensitivity", paper=PAPER, version=1, alpha=0.05,
    statement="Patching from early-to-mid layers induces the concept; patching only the last "
              "layers does not.",
)
EFFECT = 0.30  # mid-layer exact rate above the last layers' (paper: layers 6-14 vs 16+ of 24)


@pytest.fixture(scope="module")
def verdicts(results, alpha):
    found = evaluate_layer_sensitivity(results, alpha or CLAIM.alpha, effect=EFFECT,
                                       claim_id=CLAIM.id)
    return {v.case: v for v in found}


@pytest.mark.claim_cases(cases=cases_layer_sensitivity)
def test_mid_layers_beat_last_layers(case, verdicts, record_verdict):
    verdict = verdicts.get(case) or missing_verdict(CLAIM.id, case, "no rows for this checkpoint")
    record_verdict(verdict)
    assert_verdict(verdict)

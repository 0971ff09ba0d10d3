"""Calibration by simulation: each claim's false-positive rate in the nulls real data produce,
and its power in the paper's world.

Worlds and checks live in :mod:`conceptpatch.claims.calibration` (concepts reused across trials,
concept and concept x condition effects, trials that persist across checkpoints, training trends).
A null check passes when the share of tables with any ``supported`` case (for the regression gate:
any ``refuted`` one) is at most alpha plus 2.33 Monte-Carlo standard errors: 330 tables put that
bound at 0.078, so an excess of 3 points over alpha fails. The slow tier runs 1,000 tables (bound
0.066). Power at 100 trials per output language is asserted for the claims whose design must have
it, and recorded for the rest.
"""

from __future__ import annotations

import pytest
from conceptpatch.claims import calibration

ALPHA = 0.05
FAST, FULL, POWER = 330, 1000, 100
NULLS = [c for c in calibration.CHECKS if c.kind == "null"]
POWERS = [c for c in calibration.CHECKS if c.kind == "power"]


def _id(check: calibration.Check) -> str:
    return f"{check.claim}: {check.name}"


def _null(check: calibration.Check, tables: int, record_property) -> None:
    rate = calibration.hit_rate(check, tables)
    record_property("false_positive_rate", rate)
    limit = calibration.bound(ALPHA, tables)
    assert rate <= limit, f"{_id(check)}: {check.hit} in {rate:.3f} of {tables} null tables"


def test_the_bound_detects_a_three_point_excess():
    assert calibration.bound(ALPHA, FAST) < ALPHA + 0.03


@pytest.mark.parametrize("check", NULLS, ids=_id)
def test_false_positive_rate(check, record_property):
    _null(check, FAST, record_property)


@pytest.mark.slow
@pytest.mark.parametrize("check", NULLS, ids=_id)
def test_false_positive_rate_full(check, record_property):
    _null(check, FULL, record_property)


@pytest.mark.parametrize("check", POWERS, ids=_id)
def test_power_in_the_papers_world(check, record_property):
    power = calibration.hit_rate(check, POWER, offset=10_000)
    record_property("power", power)
    if check.must_power:
        assert power >= 0.8, f"{_id(check)}: power {power:.2f} at 100 trials per language"


def test_a_biased_test_would_be_caught():
    """The harness itself: a claim that ignores its statistics exceeds the bound."""
    naive = calibration.Check(
        "naive", "concept_induction", NULLS[0].world,
        lambda df: [type("V", (), {"verdict": "supported"})()]
        if (df[df["layer"] >= 0]["category"] == "exact").mean()
        > (df[df["layer"] < 0]["category"] == "exact").mean() else [])
    assert calibration.hit_rate(naive, 60) > calibration.bound(ALPHA, 60)

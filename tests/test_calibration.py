"""Calibration by simulation: each claim's false-positive rate in the nulls real data produce,
and its power in the paper's world.

Worlds and checks live in :mod:`conceptpatch.claims.calibration` (concepts reused across trials,
concept and concept x condition effects, trials that persist across checkpoints, training trends).
A null check passes when the share of tables with any ``supported`` case (for the regression gate:
any ``refuted`` one) is at most alpha plus 2.33 Monte-Carlo standard errors: 330 tables put that
bound at 0.078, so an excess of 3 points over alpha fails. The slow tier runs 660 tables (bound
0.070). Power at 100 trials per output language is asserted for the claims whose design must have
it, and recorded for the rest.
"""

from __future__ import annotations

import pytest
from conceptpatch.claims import calibration

ALPHA = 0.05
FAST, FULL, POWER = 330, 660, 100
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


LOOKS = (25, 50, 100)
SEQUENTIAL = [c for c in NULLS if c.claim != "regression"]  # the gate is not sequential


@pytest.mark.slow
@pytest.mark.parametrize("check", SEQUENTIAL, ids=_id)
def test_false_positive_rate_with_interim_looks(check, record_property):
    found = calibration.sequential_run(check, LOOKS, FAST)
    record_property("false_positive_rate", found.rate)
    record_property("mean_pairings", found.mean_pairings)
    limit = calibration.bound(ALPHA, FAST)
    assert found.rate <= limit, (f"{_id(check)}: supported in {found.rate:.3f} of {FAST} null"
                                 f" tables with looks at {LOOKS}")


def test_interim_looks_read_the_first_pairings_of_one_table():
    """The harness reads a look as the store does: the first pairings of the same table, at
    the look's nominal level (a look at all pairings and level alpha is the fixed design)."""
    check = SEQUENTIAL[0]
    seen: list[tuple[int, float]] = []

    def spy(df, alpha=ALPHA):
        seen.append((int(df["trial"].nunique()), alpha))
        return check.evaluate(df, alpha)

    probe = calibration.Check(check.name, check.claim, check.world, spy)
    calibration.sequential_run(probe, LOOKS, 1)
    targets = len(check.world.seen) + len(check.world.unseen)
    assert [n for n, _ in seen] == [25 * targets, 50 * targets, 100 * targets][: len(seen)]
    assert seen[0][1] < 1e-3 and all(a < ALPHA for _, a in seen)


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

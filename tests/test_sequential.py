"""Sequential claims: the spending boundaries against published values and brute force, and the
rule that decides each case at its first decisive look."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conceptpatch.claims.common import Verdict
from conceptpatch.claims.sequential import (
    Look,
    boundaries,
    decide_looks,
    looks_of,
    nominal_levels,
    spent,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def test_boundaries_match_gsdesign_obrien_fleming():
    """Lan-DeMets O'Brien-Fleming, one-sided 0.025, four equally spaced looks: gsDesign's
    ``gsDesign(k=4, test.type=1, sfu=sfLDOF)`` upper bounds 4.3326, 2.9631, 2.3590, 2.0141."""
    found = boundaries(0.025, (0.25, 0.5, 0.75, 1.0))
    assert found == pytest.approx((4.3326, 2.9631, 2.3590, 2.0141), abs=2e-4)


def test_one_look_is_the_fixed_test():
    assert nominal_levels(0.05, (1.0,)) == pytest.approx((0.05,))


@pytest.mark.parametrize("fractions", [(0.25, 0.5, 1.0), (0.125, 0.25, 0.5, 1.0), (0.3, 1.0),
                                       (0.2, 0.4, 0.6, 0.8, 1.0)])
def test_brownian_motion_crosses_at_the_spent_rates(fractions):
    """Brute force: 400,000 null paths of B(t) at the looks; the share first crossing at each
    look is the alpha spent there (5 Monte-Carlo standard errors), and in all alpha."""
    alpha, paths = 0.05, 400_000
    rng = np.random.default_rng(7)
    steps = np.diff((0.0, *fractions))
    b = np.cumsum(rng.standard_normal((paths, len(steps))) * np.sqrt(steps), axis=1)
    z = b / np.sqrt(np.array(fractions))
    above = z >= np.array(boundaries(alpha, tuple(fractions)))
    first = np.where(above.any(axis=1), above.argmax(axis=1), -1)
    before = 0.0
    for k, t in enumerate(fractions):
        share = np.mean(first == k)
        expected = spent(alpha, t) - spent(alpha, before)
        assert abs(share - expected) <= 5 * math.sqrt(expected / paths) + 1e-5
        before = t
    assert abs(np.mean(first >= 0) - alpha) <= 5 * math.sqrt(alpha / paths)


@settings(max_examples=30, deadline=None)
@given(alpha=st.floats(0.001, 0.2), t=st.floats(0.01, 0.99))
def test_spending_grows_to_alpha(alpha, t):
    assert 0 <= spent(alpha, t) <= spent(alpha, min(1.0, t + 0.01)) <= alpha
    assert spent(alpha, 1.0) == alpha


def test_levels_are_strict_early_and_near_alpha_last():
    early, middle, last = nominal_levels(0.05, (0.25, 0.5, 1.0))
    assert early < 1e-3 < middle < 0.01 < 0.045 < last < 0.05


def test_looks_of_stages():
    design = (0.25, 0.5, 1.0)
    assert looks_of((25, 50, 100)) == (Look(1, 25, 0.25, design), Look(2, 50, 0.5, design),
                                       Look(3, 100, 1.0, design))


def _v(case: str, verdict: str, p: float = 0.5) -> Verdict:
    return Verdict("claim", case, verdict, 0.0, 0.0, 0.0, p, 10, "")  # type: ignore[arg-type]


def _script(per_look: dict[int, list[Verdict]]):
    asked: list[int] = []

    def at(look: Look) -> list[Verdict]:
        asked.append(look.stage)
        return per_look[look.stage]

    return at, asked


def test_a_case_keeps_the_verdict_of_its_first_decisive_look():
    looks = looks_of((10, 20, 40))
    at, asked = _script({
        1: [_supported("a", 0.06), _v("b", "inconclusive")],
        2: [_v("a", "refuted"), _v("b", "inconclusive")],
        3: [_v("a", "inconclusive"), _v("b", "refuted")],
    })
    decisions, run = decide_looks(looks, at, lambda _: 0.05)
    assert run == 3 and asked == [1, 2, 3]
    assert decisions[("claim", "a")].verdict.verdict == "supported"
    assert decisions[("claim", "a")].look.stage == 1 and decisions[("claim", "a")].decided
    assert decisions[("claim", "b")].verdict.verdict == "refuted"
    assert decisions[("claim", "b")].look.stage == 3
    assert decisions[("claim", "a")].level == pytest.approx(nominal_levels(0.05, (0.25, 0.5, 1))[0])


def test_the_run_stops_once_every_case_is_decided():
    looks = looks_of((10, 20, 40))
    at, asked = _script({1: [_v("a", "inconclusive"), _v("b", "refuted")],
                         2: [_v("a", "refuted"), _v("b", "inconclusive")],
                         3: [_v("a", "refuted"), _v("b", "refuted")]})
    decisions, run = decide_looks(looks, at, lambda _: 0.05)
    assert run == 2 and asked == [1, 2]
    assert decisions[("claim", "a")].record((10, 20, 40), run) == {
        "stage": 2, "stage_pairings": 20, "nominal_alpha": decisions[("claim", "a")].level,
        "decided_early": True, "stages": [10, 20, 40], "stages_run": 2}


def test_a_case_without_a_p_value_keeps_the_run_going():
    """Not measurable at a strict early level (no clear induction at the reference yet) may be
    measurable later: it does not let the run stop."""
    looks = looks_of((10, 20))
    at, asked = _script({1: [_v("a", "refuted"), _v("c", "inconclusive", math.nan)],
                         2: [_v("a", "refuted"), _v("c", "inconclusive", math.nan)]})
    decisions, run = decide_looks(looks, at, lambda _: 0.05)
    assert run == 2 and asked == [1, 2] and not decisions[("claim", "c")].decided


def _supported(case: str, low: float) -> Verdict:
    return Verdict("claim", case, "supported", 0.1, low, 0.3, 1e-6, 50, "m", sesoi=0.05)


def test_early_support_stops_a_case_only_when_the_effect_reaches_the_sesoi():
    """A significant effect below the SESOI early may be refuted as too small later (the fixed
    design would say so): it stays open, and reads inconclusive at that look."""
    looks = looks_of((10, 20, 40))
    at, _ = _script({1: [_supported("small", 0.01), _supported("large", 0.06)],
                     2: [_supported("small", 0.02), _v("large", "inconclusive")],
                     3: [_v("small", "refuted"), _v("large", "inconclusive")]})
    decisions, run = decide_looks(looks, at, lambda _: 0.05)
    assert run == 3
    assert decisions[("claim", "large")].verdict.verdict == "supported"
    assert decisions[("claim", "large")].look.stage == 1
    assert decisions[("claim", "small")].verdict.verdict == "refuted"
    assert decisions[("claim", "small")].look.stage == 3


def test_support_at_the_last_look_is_the_claims_verdict():
    looks = looks_of((10, 20))
    at, _ = _script({1: [_supported("a", 0.0)], 2: [_supported("a", 0.0)]})
    decisions, _ = decide_looks(looks, at, lambda _: 0.05)
    assert decisions[("claim", "a")].verdict.verdict == "supported"
    assert decisions[("claim", "a")].look.stage == 2 and decisions[("claim", "a")].decided


def test_an_undecided_case_runs_every_look():
    looks = looks_of((10, 20))
    at, asked = _script({1: [_v("a", "inconclusive")], 2: [_v("a", "inconclusive")]})
    decisions, run = decide_looks(looks, at, lambda _: 0.05)
    assert run == 2 and asked == [1, 2] and not decisions[("claim", "a")].decided
    assert decisions[("claim", "a")].look.stage == 2

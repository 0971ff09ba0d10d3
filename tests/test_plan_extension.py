"""A larger plan extends a smaller one: its first n pairings are the smaller plan's, trial for
trial (the ground staged computation needs; trial ids are numbered by target pair, so they move)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conceptpatch.config.suite import load_suite
from conceptpatch.resolve import resolve
from conceptpatch.trials import plan_trials
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]


def _plan(trials: int, seed: int) -> dict[tuple[int, str], tuple[object, ...]]:
    suite = load_suite(ROOT / "suites" / "tiny-random.toml")
    suite = replace(suite, trials=trials, seed=seed, pairing="any")
    resolved = resolve(suite, build=False, missing_ok=True)
    return {(t.pairing, f"{t.pair.input}-{t.pair.output}"):
            (t.concept, t.target_concept, t.examples, t.source_examples)
            for t in plan_trials(resolved)}


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 6), more=st.integers(1, 6), seed=st.integers(0, 3))
def test_the_first_pairings_of_a_larger_plan_are_the_smaller_plan(n: int, more: int,
                                                                  seed: int) -> None:
    small, large = _plan(n, seed), _plan(n + more, seed)
    assert small == {key: large[key] for key in small}
    assert len(large) == len(small) * (n + more) // n

"""A sequential suite run look by look: compute a stage, test every case, stop once all decided.

For each stage of ``sample.stages`` the units are extended to its pairings (only the new
pairings are computed: `conceptpatch.compute.run_suite`), every claim the suite can test is
evaluated on the first pairings at the look's nominal level, and the run stops when every
measurable case is supported or refuted (`conceptpatch.claims.sequential`). With
``compute=False`` the looks the store already holds are read and nothing is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from conceptpatch.claims import MODULES
from conceptpatch.claims.common import Design, Verdict
from conceptpatch.claims.sequential import Decision, Look, decide_looks, evaluate_at, looks_of
from conceptpatch.claims_command import missing_units, resolve_stored, stored_results
from conceptpatch.config.suite import Suite

__all__ = ["Staged", "run_staged"]


@dataclass(frozen=True)
class Staged:
    """What a sequential run decided: each case's :class:`Decision`, the looks run, and the
    rows of the last look run (what the report shows)."""

    stages: tuple[int, ...]
    decisions: Mapping[tuple[str, str], Decision]
    looks_run: int
    table: pd.DataFrame

    def verdicts(self, claim_id: str) -> dict[str, Verdict]:
        """The claim's verdicts by case, each as decided at its look."""
        return {case: d.verdict for (cid, case), d in self.decisions.items() if cid == claim_id}

    def record(self, claim_id: str, case: str) -> dict[str, object]:
        """verdicts.json's fields for the case's look (empty for a case no look evaluated)."""
        found = self.decisions.get((claim_id, case))
        return {} if found is None else found.record(self.stages, self.looks_run)

    def summary(self) -> str:
        """The run in one line: the looks, where it stopped, what it did not compute."""
        early = sum(d.decided_early for d in self.decisions.values())
        left = self.stages[self.looks_run:]
        rest = (f"stages of {', '.join(map(str, left))} pairings not computed" if left
                else "every stage computed")
        return (f"looks at {', '.join(map(str, self.stages))} pairings (O'Brien-Fleming"
                f" spending); stopped after look {self.looks_run} of {len(self.stages)}"
                f" ({self.pairings_run} pairings); {early} case(s) decided before the last"
                f" look; {rest}")

    @property
    def pairings_run(self) -> int:
        """Pairings the last look read (of ``stages[-1]`` planned)."""
        return self.stages[self.looks_run - 1]


def run_staged(suite: Suite, store: Path, *, cases: Callable[[str], list[str]],
               alpha: float | None, design: Design, compute: bool,
               table_of: Callable[[pd.DataFrame], pd.DataFrame],
               progress: bool = True) -> Staged:
    """Look at each stage in turn. ``cases(claim_id)`` lists a claim's testable cases (asked
    after the first stage is computed: an organism is trained by then); ``table_of`` turns the
    store's rows into the claims' table (labels, parts of speech); ``alpha`` replaces every
    claim's own level (``--cp-alpha``)."""
    if suite.stages is None:
        raise ValueError(f"suite {suite.name!r} has no sample.stages: it is a fixed design")
    looks = looks_of(suite.stages)
    last: list[pd.DataFrame] = []  # the rows of the latest look (the report shows them)

    def alpha_of(claim_id: str) -> float:
        return alpha or MODULES[claim_id].CLAIM.alpha

    def verdicts_at(look: Look) -> list[Verdict]:
        rows = _stage_rows(suite, store, look, compute, progress)
        last[:] = [rows]
        claim_ids = [cid for cid in MODULES if cid != "regression" and cases(cid)]
        return evaluate_at(table_of(rows), look, suite.trials, claim_ids, alpha_of, design)

    available = looks if compute else _stored_looks(suite, store, looks)
    decisions, run = decide_looks(available, verdicts_at, alpha_of)
    return Staged(tuple(suite.stages), decisions, run, last[0])


def _stage_rows(suite: Suite, store: Path, look: Look, compute: bool,
                progress: bool) -> pd.DataFrame:
    """The rows of the first ``look.pairings`` pairings, computing what the store lacks."""
    if compute:
        from conceptpatch.train_and_compute import run_pipelined

        return run_pipelined(suite, store, progress=progress, upto=look.pairings)
    return stored_results(suite, store, None, look.pairings)


def _stored_looks(suite: Suite, store: Path, looks: tuple[Look, ...]) -> tuple[Look, ...]:
    """The looks whose stage the store holds whole (at least the first: else the
    `MissingUnits` of ``--no-compute``, naming the command that computes it)."""
    resolved = resolve_stored(suite, store)
    held = tuple(x for x in looks if not missing_units(resolved, store, None, x.pairings))
    if not held:
        stored_results(suite, store, None, looks[0].pairings)  # raises, naming the fix
    return held

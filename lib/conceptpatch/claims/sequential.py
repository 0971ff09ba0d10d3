"""Sequential claims: looks at growing numbers of pairings, alpha spent O'Brien-Fleming's way.

A sequential design (``sample.stages``) computes its pairings in stages and, after each, tests
every case with the claim's own statistics at a *nominal* level: the level the Lan-DeMets
O'Brien-Fleming spending function allots to that look (`nominal_levels`). A case is decided at
the first look where it is refuted, or supported with its effect's lower bound at the SESOI or
above (before the last look, a significant effect smaller than the SESOI is not final: more
pairings may refute it as too small, and the fixed design would), and keeps that verdict;
computing stops once every case is decided, or after the last stage. There is no futility stop:
a case still open runs to the last look, so a suite with a case the whole plan leaves
inconclusive computes the whole plan (what the organism and Gemma suites do). Both decisions are
spent alike: "supported" is the claim's Holm-adjusted p-value at the nominal level, "refuted"
its one-sided bound at that level below the SESOI, so a false refutation of a present effect is
as rare as a false support of an absent one.

Why O'Brien-Fleming: its early looks are strict (at a quarter of the pairings a one-sided 0.05
design looks at about 1e-4), so only effects a quarter of the data already shows beyond doubt
stop early, and its last look keeps a level near alpha (0.048 with looks at 1/4, 1/2 and all),
so the sequential design decides at its end what the fixed design decides (its power and
verdicts are the fixed design's, bar cases at the edge). A Pocock-type spending would stop
earlier and lose those cases at the end.

The spending is exact for a statistic that grows like a Brownian motion in the pairings (a
z-statistic of a mean over independent pairings); the claims' statistics (clustered by concept,
Bonferroni over a band, Holm across cases) are close to it, and the calibration simulator checks
the false-"supported" rate with the looks in every null world
(`conceptpatch.claims.calibration`, ``--looks``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from conceptpatch.claims.common import Design, Verdict
from conceptpatch.trial_ids import first_pairings

__all__ = [
    "Decision",
    "Look",
    "boundaries",
    "decide_looks",
    "evaluate_at",
    "looks_of",
    "nominal_levels",
    "spent",
]

#: Grid points per standard deviation in the recursive integration of `boundaries`.
_GRID = 150
#: How far below the boundary the integration reaches, in standard deviations.
_REACH = 8.0


def spent(alpha: float, fraction: float) -> float:
    """The one-sided alpha the Lan-DeMets O'Brien-Fleming function has spent by ``fraction``
    of the information: ``2 - 2 Phi(z_{1-alpha/2} / sqrt(t))`` (alpha itself at t = 1)."""
    if fraction <= 0:
        return 0.0
    if fraction >= 1:
        return alpha
    return float(2 * sps.norm.sf(sps.norm.isf(alpha / 2) / math.sqrt(fraction)))


@cache
def boundaries(alpha: float, fractions: tuple[float, ...]) -> tuple[float, ...]:
    """The z-boundaries c_1..c_K of a one-sided group-sequential test at information
    ``fractions`` (increasing, the last 1): P(Z_j < c_j for j < k, Z_k >= c_k) is the alpha
    spent between looks k-1 and k, under the null where Z_k = B(t_k) / sqrt(t_k).

    Computed by recursive numerical integration of the continuation density of B(t) on a grid
    (Armitage, McPherson and Rowe's method, as gsDesign and rpact do), not by Monte Carlo.
    """
    if list(fractions) != sorted(fractions) or fractions[0] <= 0 or fractions[-1] != 1:
        raise ValueError(f"information fractions must increase to 1, got {fractions}")
    out: list[float] = []
    grid, density, before = np.zeros(1), np.ones(1), 0.0  # B(0) = 0: a point mass
    for t in fractions:
        target = spent(alpha, t) - spent(alpha, before)
        sd = math.sqrt(t - before)
        if before == 0:
            c = float(sps.norm.isf(target)) if target > 0 else _TOP
        elif target <= _crossing(_TOP, t, sd, grid, density):
            c = _TOP  # nothing left to spend at this look
        else:
            c = float(optimize.brentq(
                lambda c, t=t, sd=sd, g=grid, d=density, a=target: _crossing(c, t, sd, g, d) - a,
                -10.0, _TOP, xtol=1e-10))
        out.append(c)
        grid, density = _continuation(c, t, sd, grid, density, first=before == 0)
        before = t
    return tuple(out)


#: A boundary no statistic reaches (a look with nothing to spend).
_TOP = 40.0


def _crossing(c: float, t: float, sd: float, grid: np.ndarray, density: np.ndarray) -> float:
    """P(continuing so far, then B(t) >= c sqrt(t)), given the sub-density of B at the last look."""
    tail = sps.norm.sf((c * math.sqrt(t) - grid) / sd)
    return float(np.trapezoid(density * tail, grid))


def _continuation(c: float, t: float, sd: float, grid: np.ndarray, density: np.ndarray,
                  first: bool) -> tuple[np.ndarray, np.ndarray]:
    """The grid and sub-density of B(t) on the continuation region {B(t_j) < c_j sqrt(t_j)}."""
    root = math.sqrt(t)
    top = min(c, 12.0) * root
    new_grid = np.linspace(-_REACH * root, top, int(_GRID * (top / root + _REACH)) + 1)
    if first:
        return new_grid, sps.norm.pdf(new_grid, scale=root)
    kernel = sps.norm.pdf((new_grid[:, None] - grid[None, :]) / sd) / sd
    return new_grid, np.trapezoid(kernel * density[None, :], grid, axis=1)


def nominal_levels(alpha: float, fractions: Sequence[float]) -> tuple[float, ...]:
    """The nominal one-sided level of each look: a statistic is significant at look k when its
    p-value is at most the k-th level (``1 - Phi(c_k)``)."""
    return tuple(float(sps.norm.sf(c)) for c in boundaries(float(alpha), tuple(fractions)))


@dataclass(frozen=True, slots=True)
class Look:
    """One look of a sequential design: its stage (1-based), pairings and information fraction,
    and the fractions of every look of the design (which the spending of each depends on)."""

    stage: int
    pairings: int
    fraction: float
    design: tuple[float, ...]

    def level(self, alpha: float) -> float:
        """The nominal level of this look for a claim of level ``alpha``."""
        return nominal_levels(alpha, self.design)[self.stage - 1]


def looks_of(stages: Sequence[int]) -> tuple[Look, ...]:
    """The looks of a design computing ``stages`` pairings (information grows with pairings)."""
    fractions = tuple(n / stages[-1] for n in stages)
    return tuple(Look(i + 1, n, f, fractions)
                 for i, (n, f) in enumerate(zip(stages, fractions, strict=True)))


@dataclass(frozen=True, slots=True)
class Decision:
    """A case's verdict in a sequential design and the look that gave it.

    ``decided``: supported or refuted at ``look`` (and kept); otherwise the verdict of the last
    look run (inconclusive). ``level``: the nominal level it was tested at.
    """

    verdict: Verdict
    look: Look
    level: float
    decided: bool

    @property
    def decided_early(self) -> bool:
        """Decided before the design's last look."""
        return self.decided and self.look.stage < len(self.look.design)

    def record(self, stages: Sequence[int], looks_run: int) -> dict[str, object]:
        """What verdicts.json says of the sequential design for this case."""
        return {"stage": self.look.stage, "stage_pairings": self.look.pairings,
                "nominal_alpha": self.level, "decided_early": self.decided_early,
                "stages": list(stages), "stages_run": looks_run}


def decisive(verdict: Verdict, look: Look) -> bool:
    """Whether ``verdict`` decides its case at ``look``: refuted, or supported where no later
    look could refute it (before the last look, support must also show the effect reaching the
    SESOI: a small effect that is significant early may be refuted as "below the SESOI" by more
    pairings, and the fixed design would say so); at the last look, the claim's verdict."""
    if verdict.verdict == "refuted":
        return True
    if verdict.verdict != "supported":
        return False
    last = look.stage == len(look.design)
    return last or (not math.isnan(verdict.sesoi) and verdict.ci_low >= verdict.sesoi)


def decide_looks(looks: Sequence[Look], verdicts_at: Callable[[Look], Sequence[Verdict]],
                 alpha_of: Callable[[str], float],
                 ) -> tuple[dict[tuple[str, str], Decision], int]:
    """Run the looks in order until every case is decided (`decisive`); returns each case's
    :class:`Decision` (by claim id and case) and the number of looks run.

    ``verdicts_at(look)`` evaluates every claim on the first ``look.pairings`` pairings, each at
    the look's nominal level for its claim's level ``alpha_of(claim_id)`` (`evaluate_at`).
    """
    decided: dict[tuple[str, str], Decision] = {}
    latest: dict[tuple[str, str], Decision] = {}
    run = 0
    for look in looks:
        run += 1
        for v in verdicts_at(look):
            key = (v.claim_id, v.case)
            level = look.level(alpha_of(v.claim_id))
            if key not in decided and decisive(v, look):
                decided[key] = Decision(v, look, level, True)
            latest[key] = Decision(_open(v, look), look, level, False)
        if all(key in decided for key in latest):
            break
    return {**latest, **decided}, run


def _open(verdict: Verdict, look: Look) -> Verdict:
    """An interim support that does not decide its case (`decisive`) reads as inconclusive:
    the case stays open, and is reported so if the run ends with it open."""
    if verdict.verdict != "supported" or decisive(verdict, look):
        return verdict
    note = (f"; at look {look.stage} of {len(look.design)} support does not stop the case"
            " unless the effect's lower bound reaches the SESOI -> inconclusive")
    return dataclasses.replace(verdict, verdict="inconclusive", reading="undetermined",
                               message=verdict.message + note)


def evaluate_at(df: pd.DataFrame, look: Look, pairings: int,
                claim_ids: Sequence[str], alpha_of: Callable[[str], float],
                design: Design | None = None) -> list[Verdict]:
    """The claims ``claim_ids`` on the rows of the first ``look.pairings`` of ``pairings``, each
    at the look's nominal level for ``alpha_of(claim_id)``: the claims' own code, only the level
    changed (the regression gate is not sequential: it reads a window of checkpoints)."""
    from conceptpatch.claims import MODULES

    rows = first_pairings(df, look.pairings, pairings)
    found: list[Verdict] = []
    for claim_id in claim_ids:
        if claim_id == "regression":
            raise ValueError("the regression gate has no sequential design")
        level = look.level(alpha_of(claim_id))
        found += MODULES[claim_id].evaluate(rows, level, design=design)
    return found

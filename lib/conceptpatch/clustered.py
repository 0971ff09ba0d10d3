"""Concept-clustered inference: trials that share a concept are not independent.

A suite reuses concepts across trials (every (C, D) pairing is crossed with every output language),
and a concept that is easy to patch is easy everywhere. Treating trials as independent then
understates every standard error. Three tools, each with the concept as the cluster:

- :func:`paired`: two binary outcomes on the same trials (two layers, two checkpoints, patched vs
  unpatched). The test flips the sign of each concept's total difference (a randomisation test:
  exact enumeration for few concepts, the continuity-corrected normal limit otherwise; with one
  trial per concept it is McNemar's test). The interval is Newcombe's paired hybrid score
  interval at the Rao–Scott effective sample size (counts divided by the design effect).
- :func:`rate`: one binary rate, Wilson's interval at the Rao–Scott effective sample size.
- :func:`contrast`: a linear contrast of group means of per-trial values (languages, a
  difference in differences) by least squares with concept-clustered sandwich errors
  (statsmodels; t with clusters - 1 degrees of freedom), with one pseudo-trial at each end of the
  value range per group in the interval (Agresti–Caffo style) so that an all-zero group still has
  an honest width.

Bounds are one-sided at ``alpha`` each (``low`` and ``high`` together form a 1 - 2 alpha
interval), so ``high < margin`` is a level-alpha test that the effect is below ``margin``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from scipy import optimize
from scipy import stats as sps

__all__ = ["Bounds", "Estimate", "Wald", "contrast", "design_effect", "paired", "rate",
           "wald_equal"]

_EXACT_MAX_CLUSTERS = 14


@dataclass(frozen=True, slots=True)
class Bounds:
    """How an estimate's one-sided bounds move with alpha, as plain numbers (no closure: an
    estimate pickles, prints its data and equals another from the same data).

    ``wilson``: (effective successes, effective n); ``newcombe``: the paired table's four
    effective counts; ``t``: (centre, standard error, degrees of freedom).
    """

    kind: str
    params: tuple[float, ...]

    def at(self, alpha: float) -> tuple[float, float]:
        """(low, high) one-sided bounds at ``alpha``."""
        if self.kind == "wilson":
            k, n = self.params
            return _wilson(k, n, float(sps.norm.isf(alpha)))
        if self.kind == "newcombe":
            a, b, c, d = self.params
            return _newcombe_paired(a, b, c, d, float(sps.norm.isf(alpha)))
        if self.kind == "t":
            centre, se, df = self.params
            q = float(sps.t.isf(alpha, df)) * se
            return centre - q, centre + q
        raise ValueError(f"unknown bounds kind {self.kind!r}: use wilson, newcombe or t")


@dataclass(frozen=True, slots=True)
class Estimate:
    """An effect with one-sided ``alpha`` bounds and a one-sided p-value for ``effect > 0``.

    ``pvalue_above(margin)`` inverts the interval: the smallest alpha at which ``low`` clears
    ``margin`` (a test of ``effect <= margin``); ``pvalue_below(margin)`` likewise for ``high``.
    """

    effect: float
    low: float
    high: float
    pvalue: float
    alpha: float
    n: int
    clusters: int
    deff: float
    method: str
    bounds: Bounds | None = None

    def at(self, alpha: float) -> tuple[float, float]:
        """(low, high) one-sided bounds at another ``alpha``."""
        if self.bounds is None:
            raise ValueError("this estimate carries no interval function")
        return self.bounds.at(alpha)

    def pvalue_above(self, margin: float) -> float:
        """p-value of the test that the effect exceeds ``margin`` (interval inversion)."""
        return _invert(lambda a: self.at(a)[0] - margin)

    def pvalue_below(self, margin: float) -> float:
        """p-value of the test that the effect is below ``margin`` (interval inversion)."""
        return _invert(lambda a: margin - self.at(a)[1])


def _invert(gap: Callable[[float], float]) -> float:
    """The alpha at which a bound meets its margin: ``gap(alpha) > 0`` means rejected."""
    lo, hi = 1e-12, 0.5
    if gap(hi) <= 0:
        return 1.0 if gap(hi) < 0 else 0.5
    if gap(lo) > 0:
        return lo
    return float(optimize.brentq(gap, lo, hi, xtol=1e-10))


def _groups(clusters: Sequence[object] | np.ndarray, n: int) -> np.ndarray:
    codes = np.unique(np.asarray(clusters), return_inverse=True)[1].reshape(-1)
    if codes.size != n:
        raise ValueError(f"clusters has {codes.size} entries for {n} trials")
    return codes


def design_effect(values: np.ndarray, clusters: Sequence[object] | np.ndarray) -> float:
    """Cluster-robust variance of the mean over the independent-trials variance (floored at 1)."""
    v = np.asarray(values, dtype=float)
    n = v.size
    g = _groups(clusters, n)
    n_g = g.max() + 1 if n else 0
    if n < 2 or n_g < 2:
        return 1.0
    resid = v - v.mean()
    iid = float(resid @ resid) / (n - 1)
    if iid <= 0:
        return 1.0
    totals = np.bincount(g, weights=resid)
    robust = n_g / (n_g - 1) * float(totals @ totals) / n
    return max(1.0, robust / iid)


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = n + z * z
    centre = (k + z * z / 2) / denom
    half = z * math.sqrt(max(k * (n - k) / n, 0.0) + z * z / 4) / denom
    return max(0.0, centre - half) if p > 0 else 0.0, min(1.0, centre + half) if p < 1 else 1.0


def _newcombe_paired(a: float, b: float, c: float, d: float, z: float) -> tuple[float, float]:
    """Newcombe (1998) method 10: hybrid score interval for a paired difference of rates."""
    n = a + b + c + d
    if n <= 0:
        return -1.0, 1.0
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = _wilson(a + b, n, z)
    l2, u2 = _wilson(a + c, n, z)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denom) if denom > 0 else 0.0
    delta = p1 - p2
    low = delta - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2,
                                0.0))
    high = delta + math.sqrt(max((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2,
                                 0.0))
    return max(-1.0, low), min(1.0, high)


@functools.lru_cache(maxsize=64)
def _signs(k: int) -> np.ndarray:
    return np.array(list(itertools.product((-1, 1), repeat=k)), dtype=np.int64)


def _sign_flip_pvalue(totals: np.ndarray) -> float:
    """One-sided p-value that the sum of cluster totals is larger than sign flips make it."""
    t = totals[totals != 0]
    if t.size == 0:
        return 1.0
    s = float(t.sum())
    if t.size <= _EXACT_MAX_CLUSTERS:
        null = _signs(t.size) @ t
        return float(np.mean(null >= s - 1e-9))
    step = 2.0 * float(np.gcd.reduce(np.abs(t).astype(np.int64)))
    z = (s - step / 2) / math.sqrt(float(t @ t))
    return float(sps.norm.sf(z))


def paired(x: np.ndarray, y: np.ndarray, clusters: Sequence[object] | np.ndarray,
           alpha: float = 0.05) -> Estimate:
    """Paired comparison of binary ``x`` and ``y`` (same trials, same order), effect ``x - y``."""
    x = np.asarray(x, dtype=bool)
    y = np.asarray(y, dtype=bool)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d arrays of one length: {x.shape}, {y.shape}")
    n = x.size
    if n == 0:
        return Estimate(math.nan, -1.0, 1.0, math.nan, alpha, 0, 0, 1.0, "no trials")
    g = _groups(clusters, n)
    d = x.astype(np.int64) - y.astype(np.int64)
    totals = np.bincount(g, weights=d).round().astype(np.int64)
    deff = design_effect(d, g)
    counts = np.array([(x & y).sum(), (x & ~y).sum(), (~x & y).sum(), (~x & ~y).sum()],
                      dtype=float) / deff
    bounds = Bounds("newcombe", tuple(float(c) for c in counts))
    low, high = bounds.at(alpha)
    method = "concept sign-flip test, Newcombe paired interval"
    if deff > 1:
        method += f" (design effect {deff:.2f})"
    return Estimate(float(d.mean()), low, high, _sign_flip_pvalue(totals), alpha, n,
                    int(g.max() + 1), deff, method, bounds)


def rate(x: np.ndarray, clusters: Sequence[object] | np.ndarray, alpha: float = 0.05,
         null: float = 0.0) -> Estimate:
    """A binary rate, Wilson bounds at the Rao–Scott effective n; p-value for ``rate > null``."""
    x = np.asarray(x, dtype=bool)
    n = x.size
    if n == 0:
        return Estimate(math.nan, 0.0, 1.0, math.nan, alpha, 0, 0, 1.0, "no trials")
    g = _groups(clusters, n)
    deff = design_effect(x.astype(float), g)
    k_eff, n_eff = x.sum() / deff, n / deff
    bounds = Bounds("wilson", (float(k_eff), float(n_eff)))
    low, high = bounds.at(alpha)
    est = Estimate(float(x.mean()), low, high, math.nan, alpha, n, int(g.max() + 1), deff,
                   f"Wilson at effective n {n_eff:.0f}", bounds)
    pvalue = 1.0 if x.sum() == 0 and null <= 0 else est.pvalue_above(null)
    return Estimate(est.effect, low, high, pvalue, alpha, n, est.clusters, deff, est.method, bounds)


def _ols(values: np.ndarray, groups: np.ndarray, clusters: np.ndarray, n_groups: int):
    design = np.zeros((values.size, n_groups))
    design[np.arange(values.size), groups] = 1.0
    model = sm.OLS(values, design)
    return model.fit(cov_type="cluster", cov_kwds={"groups": clusters, "use_correction": True},
                     use_t=True)


def _with_pseudo(values: np.ndarray, groups: np.ndarray, clusters: np.ndarray, n_groups: int,
                 span: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    extra = np.repeat(np.arange(n_groups), 2)
    start = clusters.max() + 1
    return (np.concatenate([values, np.tile(span, n_groups)]),
            np.concatenate([groups, extra]),
            np.concatenate([clusters, start + np.arange(extra.size)]))


def contrast(values: np.ndarray, groups: np.ndarray, weights: Sequence[float],
             clusters: Sequence[object] | np.ndarray, alpha: float = 0.05,
             span: tuple[float, float] = (0.0, 1.0)) -> Estimate:
    """``sum(weights[k] * mean(values | group k))`` with concept-clustered errors.

    ``groups`` holds integer group indices 0..K-1 (``len(weights) == K``); ``span`` is the range
    of a per-trial value (binary: (0, 1); a paired difference: (-1, 1)), used for the
    pseudo-trials of the interval. The p-value is one-sided, for a contrast above 0.
    """
    v = np.asarray(values, dtype=float)
    grp = np.asarray(groups, dtype=np.int64)
    w = np.asarray(weights, dtype=float)
    g = _groups(clusters, v.size)
    k = w.size
    present = np.bincount(grp, minlength=k)[:k] > 0
    if v.size == 0 or not present[w != 0].all():
        return Estimate(math.nan, -math.inf, math.inf, math.nan, alpha, int(v.size), 0, 1.0,
                        "a group of the contrast has no trials")
    means = np.array([v[grp == i].mean() if present[i] else 0.0 for i in range(k)])
    effect = float(w @ means)
    n_clusters = int(g.max() + 1)
    if n_clusters < 3:
        return Estimate(effect, -math.inf, math.inf, math.nan, alpha, int(v.size), n_clusters,
                        1.0, "fewer than 3 concepts")
    fit = _ols(v, grp, g, k)
    se = float(np.sqrt(max(w @ fit.cov_params() @ w, 0.0)))
    df = n_clusters - 1
    pvalue = float(sps.t.sf(effect / se, df)) if se > 0 else (0.0 if effect > 0 else 1.0)
    pv, pg, pc = _with_pseudo(v, grp, g, k, span)
    fit_p = _ols(pv, pg, pc, k)
    centre = float(w @ fit_p.params)
    se_p = float(np.sqrt(max(w @ fit_p.cov_params() @ w, 0.0)))
    bounds = Bounds("t", (centre, se_p, float(df)))
    low, high = bounds.at(alpha)
    return Estimate(effect, low, high, pvalue, alpha, int(v.size), n_clusters, math.nan,
                    "least squares, concept-clustered errors (t, clusters - 1 df)", bounds)


@dataclass(frozen=True, slots=True)
class Wald:
    """A concept-clustered F test that group means are equal: ``f`` on (``df1``, ``df2``)."""

    f: float
    pvalue: float
    df1: int
    df2: int


def wald_equal(values: np.ndarray, groups: np.ndarray, clusters: Sequence[object] | np.ndarray,
               covariate: np.ndarray | None = None) -> Wald:
    """The test that all group means are equal, concept-clustered; optionally adjusted for a
    per-trial ``covariate`` (a common slope). No test is possible (one group, fewer than 3
    concepts, constant values): F 0, p 1."""
    v = np.asarray(values, dtype=float)
    grp = np.asarray(groups, dtype=np.int64)
    g = _groups(clusters, v.size)
    k = int(grp.max() + 1)
    n_clusters = int(g.max() + 1)
    if k < 2 or n_clusters < 3 or np.ptp(v) == 0:
        return Wald(0.0, 1.0, max(k - 1, 0), max(n_clusters - 1, 0))
    design = np.zeros((v.size, k))
    design[np.arange(v.size), grp] = 1.0
    if covariate is not None and np.ptp(covariate) > 0:
        design = np.column_stack([design, np.asarray(covariate, dtype=float)])
    fit = sm.OLS(v, design).fit(cov_type="cluster",
                                cov_kwds={"groups": g, "use_correction": True}, use_t=True)
    restriction = np.zeros((k - 1, design.shape[1]))
    for i in range(k - 1):
        restriction[i, i], restriction[i, i + 1] = 1.0, -1.0
    diff = restriction @ fit.params
    cov = restriction @ fit.cov_params() @ restriction.T
    wald = float(diff @ np.linalg.pinv(cov) @ diff)
    if not math.isfinite(wald):
        return Wald(0.0, 1.0, k - 1, n_clusters - 1)
    f = wald / (k - 1)
    return Wald(f, float(sps.f.sf(f, k - 1, n_clusters - 1)), k - 1, n_clusters - 1)

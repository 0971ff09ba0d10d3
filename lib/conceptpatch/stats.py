"""Statistics for claims: rate intervals, exact tests, equivalence, heterogeneity, Holm, power.

Thin, typed wrappers over scipy and statsmodels, so that every claim speaks one vocabulary:
results are frozen dataclasses in scipy's words (``statistic``, ``pvalue``, ``n``,
``alternative``, ``method``) with a ``.ci(confidence_level, method)`` returning an
:class:`Interval`. Nothing here knows about results tables; :mod:`conceptpatch.claims` does.

Examples
--------
>>> res = binomial_test(30, 100, null=0.1, alternative="greater")
>>> round(res.statistic, 2), res.pvalue < 1e-6
(0.3, True)
>>> iv = res.ci(0.95, method="wilson")
>>> iv.high
1.0
"""

from __future__ import annotations

import functools
import gc
import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    tost_proportions_2indep,
)

__all__ = [
    "Alternative",
    "BinomialTest",
    "CIMethod",
    "DiffCIMethod",
    "EquivalenceTest",
    "HeterogeneityTest",
    "Interval",
    "PairedTest",
    "TwoSampleTest",
    "binomial_test",
    "fisher_test",
    "heterogeneity_test",
    "holm",
    "mcnemar_test",
    "power_binomial",
    "power_heterogeneity",
    "power_mcnemar",
    "power_tost",
    "power_two_sample",
    "rate_interval",
    "tost_test",
]

Alternative = Literal["two-sided", "greater", "less"]
CIMethod = Literal["wilson", "clopper-pearson"]
DiffCIMethod = Literal["newcombe", "score", "agresti-caffo"]
HeterogeneityMethod = Literal["pearson", "g-test", "monte-carlo"]

_SCIPY_CI = {"wilson": "wilson", "clopper-pearson": "exact"}
_SM_DIFF_CI = {"newcombe": "newcomb", "score": "score", "agresti-caffo": "agresti-caffo"}
_MC_RESAMPLES = 2000


def _choice(name: str, value: object, options: type) -> None:
    """Raise ValueError naming the valid choices when ``value`` is not one of a Literal's args."""
    choices = get_args(options)
    if value not in choices:
        listed = ", ".join(map(repr, choices))
        raise ValueError(f"{name}={value!r} is not valid; choose one of {listed}")


def _level(confidence_level: float) -> None:
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level={confidence_level!r} must lie strictly between 0 and 1")


def _counts(k: int, n: int) -> None:
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")


@dataclass(frozen=True, slots=True)
class Interval:
    """A confidence interval ``[low, high]`` (one side is 0, 1, -1 or 1 for one-sided intervals)."""

    low: float
    high: float


def rate_interval(
    k: int,
    n: int,
    confidence_level: float = 0.95,
    method: CIMethod = "wilson",
    alternative: Alternative = "two-sided",
) -> Interval:
    """Interval for a rate ``k/n`` (scipy ``binomtest(...).proportion_ci``); one-sided if asked."""
    _choice("method", method, CIMethod)
    _choice("alternative", alternative, Alternative)
    _level(confidence_level)
    _counts(k, n)
    ci = sps.binomtest(int(k), int(n), alternative=alternative).proportion_ci(
        confidence_level, method=_SCIPY_CI[method]
    )
    return Interval(float(ci.low), float(ci.high))


def _diff_interval(
    k1: int, n1: int, k2: int, n2: int, confidence_level: float, method: DiffCIMethod,
    alternative: Alternative,
) -> Interval:
    """Interval for ``k1/n1 - k2/n2`` of independent samples (statsmodels), one-sided if asked."""
    _choice("method", method, DiffCIMethod)
    _choice("alternative", alternative, Alternative)
    _level(confidence_level)
    two_sided = confidence_level if alternative == "two-sided" else 2 * confidence_level - 1
    low, high = confint_proportions_2indep(
        k1, n1, k2, n2, method=_SM_DIFF_CI[method], compare="diff", alpha=1 - two_sided
    )
    if alternative == "greater":
        return Interval(float(low), 1.0)
    if alternative == "less":
        return Interval(-1.0, float(high))
    return Interval(float(low), float(high))


@dataclass(frozen=True, slots=True)
class BinomialTest:
    """Exact binomial test of a rate against a fixed ``null`` rate; ``statistic`` is ``k/n``."""

    statistic: float
    pvalue: float
    n: int
    k: int
    null: float
    alternative: Alternative
    method: str = "exact binomial"

    def ci(self, confidence_level: float = 0.95, method: CIMethod = "wilson") -> Interval:
        """Interval for the rate, on the side(s) of the test's alternative."""
        return rate_interval(self.k, self.n, confidence_level, method, self.alternative)


def binomial_test(
    k: int, n: int, null: float, alternative: Alternative = "greater"
) -> BinomialTest:
    """Exact binomial test of ``k`` successes in ``n`` trials against rate ``null`` (scipy)."""
    _choice("alternative", alternative, Alternative)
    _counts(k, n)
    if not 0.0 <= null <= 1.0:
        raise ValueError(f"null={null!r} must be a rate in [0, 1]")
    res = sps.binomtest(int(k), int(n), p=null, alternative=alternative)
    return BinomialTest(k / n, float(res.pvalue), int(n), int(k), float(null), alternative)


@dataclass(frozen=True, slots=True)
class TwoSampleTest:
    """Fisher's exact test of two independent rates; ``statistic`` is ``k1/n1 - k2/n2``."""

    statistic: float
    pvalue: float
    n: int
    k1: int
    n1: int
    k2: int
    n2: int
    alternative: Alternative
    method: str = "Fisher exact"

    def ci(self, confidence_level: float = 0.95, method: DiffCIMethod = "newcombe") -> Interval:
        """Interval for the difference of rates (Newcombe's hybrid score by default)."""
        return _diff_interval(
            self.k1, self.n1, self.k2, self.n2, confidence_level, method, self.alternative
        )


def fisher_test(
    k1: int, n1: int, k2: int, n2: int, alternative: Alternative = "greater"
) -> TwoSampleTest:
    """Fisher's exact test that rate 1 differs from (exceeds, for "greater") rate 2 (scipy)."""
    _choice("alternative", alternative, Alternative)
    _counts(k1, n1)
    _counts(k2, n2)
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    res = sps.fisher_exact(table, alternative=alternative)
    return TwoSampleTest(
        k1 / n1 - k2 / n2, float(res.pvalue), int(n1 + n2), int(k1), int(n1), int(k2), int(n2),
        alternative,
    )


@dataclass(frozen=True, slots=True)
class PairedTest:
    """Exact McNemar test on paired successes; ``statistic`` is ``rate_x - rate_y``.

    ``b`` counts pairs where x succeeds and y fails, ``c`` the reverse; the exact test is the
    binomial test of ``b`` out of ``b + c`` against one half.
    """

    statistic: float
    pvalue: float
    n: int
    b: int
    c: int
    rate_x: float
    rate_y: float
    alternative: Alternative
    method: str = "exact McNemar"

    def ci(self, confidence_level: float = 0.95, method: CIMethod = "wilson") -> Interval:
        """Interval for ``rate_x - rate_y``, conditional on the discordant pairs.

        With ``d = b + c`` discordant pairs the difference is ``d/n * (2q - 1)`` for the
        conditional rate ``q = b/d``; the rate interval for ``q`` maps onto the difference. With
        no discordant pair, falls back to Newcombe's interval on the two marginal rates.
        """
        d = self.b + self.c
        if d == 0:
            kx, ky = round(self.rate_x * self.n), round(self.rate_y * self.n)
            return _diff_interval(kx, self.n, ky, self.n, confidence_level, "newcombe",
                                  self.alternative)
        q = rate_interval(self.b, d, confidence_level, method, self.alternative)
        scale = d / self.n
        return Interval(scale * (2 * q.low - 1), scale * (2 * q.high - 1))


def mcnemar_test(x: np.ndarray, y: np.ndarray, alternative: Alternative = "greater") -> PairedTest:
    """Exact McNemar test that paired successes ``x`` differ from (exceed) ``y``.

    ``x`` and ``y`` are boolean arrays over the same trials, in the same order.
    """
    _choice("alternative", alternative, Alternative)
    x = np.asarray(x, dtype=bool)
    y = np.asarray(y, dtype=bool)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"x, y must be non-empty 1-d arrays of one length: {x.shape}, {y.shape}")
    b = int(np.sum(x & ~y))
    c = int(np.sum(~x & y))
    pvalue = 1.0 if b + c == 0 else float(sps.binomtest(b, b + c, 0.5, alternative).pvalue)
    return PairedTest(
        float(x.mean() - y.mean()), pvalue, int(x.size), b, c, float(x.mean()), float(y.mean()),
        alternative,
    )


@dataclass(frozen=True, slots=True)
class EquivalenceTest:
    """TOST: are two independent rates within ``(low, upp)`` of each other? ``statistic`` = diff."""

    statistic: float
    pvalue: float
    n: int
    k1: int
    n1: int
    k2: int
    n2: int
    low: float
    upp: float
    alternative: Literal["two-sided"] = "two-sided"
    method: str = "TOST (score)"

    def ci(self, confidence_level: float = 0.90, method: DiffCIMethod = "newcombe") -> Interval:
        """Interval for the difference; the TOST at level alpha matches the 1 - 2 alpha interval."""
        return _diff_interval(self.k1, self.n1, self.k2, self.n2, confidence_level, method,
                              "two-sided")


def tost_test(k1: int, n1: int, k2: int, n2: int, margin: float) -> EquivalenceTest:
    """Two one-sided score tests that ``k1/n1 - k2/n2`` lies within ``(-margin, margin)``."""
    _counts(k1, n1)
    _counts(k2, n2)
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin={margin!r} must lie strictly between 0 and 1")
    res = tost_proportions_2indep(k1, n1, k2, n2, low=-margin, upp=margin, method="score")
    return EquivalenceTest(
        k1 / n1 - k2 / n2, float(res.pvalue), int(n1 + n2), int(k1), int(n1), int(k2), int(n2),
        -margin, margin,
    )


@dataclass(frozen=True, slots=True)
class HeterogeneityTest:
    """Chi-square test of homogeneity across the rows (groups) of a contingency table."""

    statistic: float
    pvalue: float
    n: int
    dof: int
    table: tuple[tuple[int, ...], ...]
    alternative: Literal["two-sided"] = "two-sided"
    method: str = "pearson"

    def ci(
        self, confidence_level: float = 0.95, method: CIMethod = "wilson"
    ) -> tuple[Interval, ...]:
        """Per-group intervals of the first column's rate (e.g. success per output language)."""
        return tuple(
            rate_interval(row[0], sum(row), confidence_level, method) for row in self.table
        )


def heterogeneity_test(
    table: np.ndarray, method: HeterogeneityMethod | None = None, seed: int = 0
) -> HeterogeneityTest:
    """Test that the rows of ``table`` (groups x categories, counts) share one distribution.

    ``method=None`` picks Pearson's chi-square when every expected count is at least 5 and a
    seeded Monte-Carlo chi-square (scipy ``MonteCarloMethod``) otherwise. All-zero columns are
    dropped first; fewer than two rows or columns left gives p = 1.
    """
    if method is not None:
        _choice("method", method, HeterogeneityMethod)
    observed = np.asarray(table, dtype=np.int64)
    if observed.ndim != 2 or (observed < 0).any():
        raise ValueError("table must be a 2-d array of non-negative counts")
    kept = observed[:, observed.sum(axis=0) > 0]
    kept = kept[kept.sum(axis=1) > 0]
    as_tuple = tuple(tuple(int(v) for v in row) for row in observed)
    if kept.shape[0] < 2 or kept.shape[1] < 2:
        return HeterogeneityTest(0.0, 1.0, int(observed.sum()), 0, as_tuple, method="degenerate")
    expected = sps.contingency.expected_freq(kept)
    if method is None:
        method = "pearson" if expected.min() >= 5 else "monte-carlo"
    if method == "monte-carlo":
        mc = sps.MonteCarloMethod(n_resamples=_MC_RESAMPLES, rng=np.random.default_rng(seed))
        res = sps.chi2_contingency(kept, correction=False, method=mc)
    else:
        lambda_ = "log-likelihood" if method == "g-test" else None
        res = sps.chi2_contingency(kept, correction=False, lambda_=lambda_)
    dof = (kept.shape[0] - 1) * (kept.shape[1] - 1)
    return HeterogeneityTest(
        float(res.statistic), float(res.pvalue), int(observed.sum()), dof, as_tuple, method=method
    )


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels ``multipletests``); NaN entries stay NaN, untested.

    A single p-value is returned as is (Holm's identity).
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.sum() == 1:
        out[ok] = p[ok]
    elif ok.any():
        gc.freeze()  # statsmodels' Holm branch runs gc.collect(); scan only new objects
        try:
            out[ok] = multipletests(p[ok], method="holm")[1]
        finally:
            gc.unfreeze()
    return out


# ---- power: the probability that a test rejects at a given n and effect --------------------


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha={alpha!r} must lie strictly between 0 and 1")


@functools.lru_cache(maxsize=4096)
def _binom_reject(n: int, null: float, alpha: float, alternative: str) -> np.ndarray:
    """Boolean mask over k = 0..n: does the exact binomial test reject at ``alpha``?"""
    k = np.arange(n + 1)
    if alternative == "greater":
        p = sps.binom.sf(k - 1, n, null)
    elif alternative == "less":
        p = sps.binom.cdf(k, n, null)
    else:
        p = np.array([sps.binomtest(int(i), n, null).pvalue for i in k])
    return p <= alpha


def power_binomial(
    n: int, null: float, rate: float, alpha: float, alternative: Alternative = "greater"
) -> float:
    """Exact power of :func:`binomial_test` at ``n`` trials when the true rate is ``rate``."""
    _choice("alternative", alternative, Alternative)
    _check_alpha(alpha)
    if n <= 0:
        return 0.0
    reject = _binom_reject(int(n), round(float(null), 6), float(alpha), alternative)
    pmf = sps.binom.pmf(np.arange(n + 1), n, rate)
    return float(pmf[reject].sum())


@functools.lru_cache(maxsize=4096)
def _mcnemar_power(n: int, p10: float, p01: float, alpha: float, alternative: str) -> float:
    d = np.arange(n + 1)
    pd_ = sps.binom.pmf(d, n, p10 + p01)
    q = p10 / (p10 + p01)
    total = 0.0
    for nd, weight in zip(d, pd_, strict=True):
        if nd == 0 or weight < 1e-12:
            continue
        reject = _binom_reject(int(nd), 0.5, alpha, alternative)
        total += weight * float(sps.binom.pmf(np.arange(nd + 1), nd, q)[reject].sum())
    return total


def power_mcnemar(
    n: int, p10: float, p01: float, alpha: float, alternative: Alternative = "greater"
) -> float:
    """Exact power of :func:`mcnemar_test` at ``n`` pairs.

    ``p10`` is the chance a pair has x succeed and y fail, ``p01`` the reverse; the number of
    discordant pairs is binomial and the conditional test is exact, so the sum is exact.
    """
    _choice("alternative", alternative, Alternative)
    _check_alpha(alpha)
    if n <= 0 or p10 + p01 <= 0:
        return 0.0
    return _mcnemar_power(int(n), round(p10, 6), round(p01, 6), float(alpha), alternative)


def power_two_sample(
    n1: int, n2: int, rate1: float, rate2: float, alpha: float,
    alternative: Alternative = "greater",
) -> float:
    """Approximate power of :func:`fisher_test` (statsmodels ``power_proportions_2indep``)."""
    _choice("alternative", alternative, Alternative)
    _check_alpha(alpha)
    if n1 <= 0 or n2 <= 0:
        return 0.0
    sm_alt = {"greater": "larger", "less": "smaller", "two-sided": "two-sided"}[alternative]
    res = power_proportions_2indep(
        rate1 - rate2, rate2, n2, ratio=n1 / n2, alpha=alpha, alternative=sm_alt,
        return_results=True,
    )
    return float(res.power)


@functools.lru_cache(maxsize=1024)
def _tost_power(n1: int, n2: int, rate: float, margin: float, alpha: float, sims: int) -> float:
    rng = np.random.default_rng(12345)
    k1 = rng.binomial(n1, rate, sims)
    k2 = rng.binomial(n2, rate, sims)
    hits = sum(tost_test(int(a), n1, int(b), n2, margin).pvalue <= alpha for a, b in zip(k1, k2,
                                                                                        strict=True))
    return hits / sims


def power_tost(
    n1: int, n2: int, rate: float, margin: float, alpha: float, sims: int = 400
) -> float:
    """Power of :func:`tost_test` to show equivalence when both rates equal ``rate``.

    By seeded simulation (deterministic); ``rate`` is rounded to 0.05 so calls share a cache.
    """
    _check_alpha(alpha)
    if n1 <= 0 or n2 <= 0:
        return 0.0
    rate = min(max(round(rate * 20) / 20, 0.0), 1.0)
    return _tost_power(int(n1), int(n2), rate, float(margin), float(alpha), int(sims))


def power_heterogeneity(probs: np.ndarray, ns: np.ndarray, alpha: float) -> float:
    """Power of the chi-square homogeneity test for groups with category ``probs`` and sizes ``ns``.

    Noncentral chi-square with the noncentrality of the expected table under the alternative.
    """
    _check_alpha(alpha)
    probs = np.asarray(probs, dtype=float)
    ns = np.asarray(ns, dtype=float)
    expected = ns[:, None] * probs
    expected = expected[:, expected.sum(axis=0) > 0]
    if expected.shape[0] < 2 or expected.shape[1] < 2 or (ns <= 0).any():
        return 0.0
    nc = float(sps.chi2_contingency(expected, correction=False).statistic)
    dof = (expected.shape[0] - 1) * (expected.shape[1] - 1)
    crit = sps.chi2.ppf(1 - alpha, dof)
    return float(sps.ncx2.sf(crit, dof, nc)) if nc > 0 else float(alpha)


def finite(value: float) -> float | None:
    """``value`` as a float, or None for NaN/inf (for JSON records)."""
    value = float(value)
    return value if math.isfinite(value) else None

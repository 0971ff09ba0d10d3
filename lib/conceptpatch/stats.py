"""Statistics every claim shares: Holm's adjustment within a claim, JSON-safe numbers.

The claims' tests and intervals (clustered over concepts) live in :mod:`conceptpatch.clustered`
and their power in :mod:`conceptpatch.claims.calibration`; this module keeps what is common.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["finite", "holm"]


def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm-adjusted p-values; NaN entries stay NaN, untested.

    The step-down adjustment itself (sorted p times the number of hypotheses left, made monotone,
    capped at 1), equal to statsmodels' ``multipletests(method="holm")`` (tests/test_stats.py),
    whose Holm branch runs ``gc.collect()`` on every call: a full collection per claim, and
    process-wide state a library should not touch.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    tested = p[ok]
    order = np.argsort(tested, kind="stable")
    steps = tested[order] * np.arange(len(tested), 0, -1)
    adjusted = np.empty_like(tested)
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    out[ok] = adjusted
    return out


def finite(value: float) -> float | None:
    """``value`` as a float, or None for NaN/inf (for JSON records)."""
    value = float(value)
    return value if math.isfinite(value) else None

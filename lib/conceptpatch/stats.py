"""Statistics every claim shares: Holm's adjustment within a claim, JSON-safe numbers.

The claims' tests and intervals (clustered over concepts) live in :mod:`conceptpatch.clustered`
and their power in :mod:`conceptpatch.claims.calibration`; this module keeps what is common.
"""

from __future__ import annotations

import gc
import math

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["finite", "holm"]


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


def finite(value: float) -> float | None:
    """``value`` as a float, or None for NaN/inf (for JSON records)."""
    value = float(value)
    return value if math.isfinite(value) else None

"""conceptpatch.stats against independent references (R outputs)."""

import math

import numpy as np
import pytest
from conceptpatch import stats


def test_holm_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03), "holm") -> 0.03 0.06 0.06
    out = stats.holm([0.01, 0.04, np.nan, 0.03])
    assert out[[0, 1, 3]] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(out[2])
    assert stats.holm([0.2]).tolist() == [0.2]  # one p-value: Holm's identity


def test_finite_maps_nan_and_inf_to_none():
    assert [stats.finite(v) for v in (0.5, np.float32(2), math.nan, -math.inf)] == \
        [0.5, 2.0, None, None]

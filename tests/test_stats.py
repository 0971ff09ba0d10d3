"""conceptpatch.stats against independent references (R outputs, statsmodels)."""

import gc
import math

import numpy as np
import pytest
from conceptpatch import stats
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests


def test_holm_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03), "holm") -> 0.03 0.06 0.06
    out = stats.holm([0.01, 0.04, np.nan, 0.03])
    assert out[[0, 1, 3]] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(out[2])
    assert stats.holm([0.2]).tolist() == [0.2]  # one p-value: Holm's identity


def test_finite_maps_nan_and_inf_to_none():
    assert [stats.finite(v) for v in (0.5, np.float32(2), math.nan, -math.inf)] == \
        [0.5, 2.0, None, None]


@settings(deadline=None)  # freezing a large heap takes its time on a loaded machine
@given(st.lists(st.one_of(st.floats(0.0, 1.0), st.just(float("nan"))), min_size=0, max_size=12))
def test_holm_equals_statsmodels_and_leaves_the_collector_alone(pvalues):
    gc.freeze()  # a caller's own freeze must survive the adjustment (unfreeze empties it)
    try:
        frozen = gc.get_freeze_count()
        out = stats.holm(pvalues)
        assert gc.get_freeze_count() > frozen // 2
    finally:
        gc.unfreeze()
    p = np.asarray(pvalues, dtype=float)
    ok = ~np.isnan(p)
    assert np.isnan(out[~ok]).all()
    if ok.any():
        np.testing.assert_allclose(out[ok], multipletests(p[ok], method="holm")[1], rtol=1e-12)

"""A figure's band is the bound a verdict uses: `figures.common.rate_of` draws the concept-clustered
bounds of `clustered.rate` at the claims' alpha, wider than Wilson's when concepts repeat."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conceptpatch import clustered
from conceptpatch.claims import MODULES
from conceptpatch.figures.common import ALPHA, rate_of
from statsmodels.stats.proportion import proportion_confint


def _rows() -> pd.DataFrame:
    """Two layers; at each, four concepts of six trials, a concept all exact or all not."""
    out = []
    for layer, exact_concepts in ((3, {"a", "b"}), (4, {"a", "b", "c"})):
        for concept in "abcd":
            for trial in range(6):
                out.append({"layer": layer, "concept": concept, "trial": trial,
                            "category": "exact" if concept in exact_concepts else "unrelated"})
    return pd.DataFrame(out).astype({"concept": "string", "category": "string"})


def test_the_figures_alpha_is_every_claims():
    assert {m.CLAIM.alpha for m in MODULES.values()} == {ALPHA}


def test_rate_of_bounds_are_the_clustered_rate_of_each_group():
    rows = _rows()
    rate = rate_of(rows, "exact", ["layer"])
    assert list(rate.columns) == ["layer", "k", "n", "rate", "low", "high"]
    for r in rate.itertuples():
        part = rows[rows["layer"] == r.layer]
        est = clustered.rate(part["category"].eq("exact").to_numpy(), part["concept"].to_numpy(),
                             ALPHA)
        assert (r.k, r.n) == (int(part["category"].eq("exact").sum()), len(part))
        assert r.rate == pytest.approx(est.effect)
        assert (r.low, r.high) == (est.low, est.high)


def test_repeated_concepts_widen_the_band_beyond_wilson():
    rate = rate_of(_rows(), "exact", ["layer"])
    low, high = proportion_confint(rate["k"], rate["n"], alpha=2 * ALPHA, method="wilson")
    assert (rate["low"].to_numpy() < np.asarray(low)).all()
    assert (rate["high"].to_numpy() > np.asarray(high)).all()


def test_one_trial_per_concept_is_wilson():
    rows = _rows().assign(concept=lambda f: f["concept"] + f["trial"].astype(str))
    rate = rate_of(rows, "exact", ["layer"])
    low, high = proportion_confint(rate["k"], rate["n"], alpha=2 * ALPHA, method="wilson")
    assert rate["low"].to_numpy() == pytest.approx(np.asarray(low))
    assert rate["high"].to_numpy() == pytest.approx(np.asarray(high))


def test_groups_by_several_columns_keep_their_own_bounds():
    rows = _rows().assign(half=lambda f: f["trial"] < 3)
    rate = rate_of(rows, "exact", ["layer", "half"])
    assert len(rate) == 4
    for r in rate.itertuples():
        part = rows[(rows["layer"] == r.layer) & (rows["half"] == r.half)]
        est = clustered.rate(part["category"].eq("exact").to_numpy(), part["concept"].to_numpy(),
                             ALPHA)
        assert (r.low, r.high) == (est.low, est.high)

"""The concept-clustered statistics core against references: statsmodels and scipy where they
have the test, brute-force enumeration where they don't; estimates as plain data."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import statsmodels.api as sm
from conceptpatch import clustered
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

binary = st.lists(st.booleans(), min_size=1, max_size=40)


@given(binary, st.sampled_from([0.05, 0.025, 0.01]))
def test_rate_with_one_trial_per_concept_is_statsmodels_wilson(x, alpha):
    """Independent trials (each its own concept): design effect 1, Wilson's interval itself."""
    est = clustered.rate(np.array(x), np.arange(len(x)), alpha)
    low, high = proportion_confint(sum(x), len(x), alpha=2 * alpha, method="wilson")
    assert est.deff == pytest.approx(1.0)
    assert est.low == pytest.approx(low, abs=1e-9) and est.high == pytest.approx(high, abs=1e-9)
    assert est.at(alpha) == (est.low, est.high)


@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_paired_with_one_trial_per_concept_is_the_exact_one_sided_mcnemar(pairs):
    """The sign-flip test over concepts, one trial each: a binomial test on discordant pairs."""
    x = np.array([a for a, _ in pairs])
    y = np.array([b for _, b in pairs])
    est = clustered.paired(x, y, np.arange(len(pairs)))
    b, c = int((x & ~y).sum()), int((~x & y).sum())
    want = 1.0 if b + c == 0 else sps.binomtest(b, b + c, 0.5, alternative="greater").pvalue
    assert est.pvalue == pytest.approx(want, abs=1e-12)


@settings(max_examples=30)
@given(st.lists(st.integers(-3, 3).filter(bool), min_size=1, max_size=8))
def test_sign_flip_pvalue_is_the_enumerated_randomisation_distribution(totals):
    """Brute force: every sign pattern of the concepts' totals, counted by hand."""
    t = np.array(totals)
    observed = t.sum()
    flips = [sum(s * v for s, v in zip(signs, t, strict=True))
             for signs in itertools.product((-1, 1), repeat=t.size)]
    want = np.mean([f >= observed for f in flips])
    assert clustered._sign_flip_pvalue(t) == pytest.approx(want)


def _clustered_data(seed: int, groups: int = 3, concepts: int = 12, per: int = 4):
    rng = np.random.default_rng(seed)
    concept = np.repeat(np.arange(concepts), per * groups)
    group = np.tile(np.repeat(np.arange(groups), per), concepts)
    easy = rng.normal(0, 0.3, concepts)[concept]
    values = (rng.random(concept.size) < 0.4 + 0.1 * group + easy).astype(float)
    return values, group, concept


@pytest.mark.parametrize("seed", range(5))
def test_contrast_is_the_weighted_mean_difference_with_statsmodels_cluster_errors(seed):
    values, group, concept = _clustered_data(seed)
    w = np.array([-1.0, 0.0, 1.0])
    est = clustered.contrast(values, group, w, concept)
    means = [values[group == k].mean() for k in range(3)]
    assert est.effect == pytest.approx(means[2] - means[0])
    design = np.eye(3)[group]
    fit = sm.OLS(values, design).fit(cov_type="cluster", cov_kwds={"groups": concept})
    se = float(np.sqrt(w @ fit.cov_params() @ w))
    assert est.pvalue == pytest.approx(sps.t.sf(est.effect / se, df=11), rel=1e-9)
    assert est.low < est.effect < est.high


@pytest.mark.parametrize("seed", range(5))
def test_two_group_wald_is_the_squared_clustered_t(seed):
    values, group, concept = _clustered_data(seed, groups=2)
    wald = clustered.wald_equal(values, group, concept)
    fit = sm.OLS(values, np.eye(2)[group]).fit(cov_type="cluster", cov_kwds={"groups": concept},
                                                use_t=True)
    t = fit.t_test(np.array([[1.0, -1.0]]))
    assert wald.f == pytest.approx(float(t.tvalue.item()) ** 2, rel=1e-9)
    assert wald.pvalue == pytest.approx(float(t.pvalue), rel=1e-6)
    assert (wald.df1, wald.df2) == (1, 11)


def test_estimates_are_plain_data():
    values, group, concept = _clustered_data(0, groups=2)
    x, y = values[group == 1] > 0, values[group == 0] > 0
    made = [clustered.paired(x, y, concept[group == 1]),
            clustered.rate(x, concept[group == 1]),
            clustered.contrast(values, group, [-1.0, 1.0], concept)]
    again = [clustered.paired(x, y, concept[group == 1]),
             clustered.rate(x, concept[group == 1]),
             clustered.contrast(values, group, [-1.0, 1.0], concept)]
    for est, twin in zip(made, again, strict=True):
        assert est == twin  # same data, equal estimates
        assert repr(pickle.loads(pickle.dumps(est))) == repr(est)  # (NaN != NaN, so by repr)
        assert "function" not in repr(est)
        assert est.at(est.alpha) == pytest.approx((est.low, est.high))
        wider = est.at(est.alpha / 10)
        assert wider[0] <= est.low and wider[1] >= est.high

"""conceptpatch.stats against independent references (R outputs, other scipy/statsmodels paths)."""

import dataclasses

import numpy as np
import pytest
from conceptpatch import stats
from scipy import stats as sps
from statsmodels.stats import proportion as smp
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.power import GofChisquarePower


def test_binomial_test_matches_r_example():
    # R: binom.test(682, 925, p = 0.75)  -> p-value = 0.3825, 95% CI 0.7076683 0.7654066
    res = stats.binomial_test(682, 925, 0.75, "two-sided")
    assert res.pvalue == pytest.approx(0.3825, abs=5e-5)
    iv = res.ci(0.95, "clopper-pearson")
    assert (iv.low, iv.high) == pytest.approx((0.7076683, 0.7654066), abs=1e-7)


def test_wilson_interval_matches_statsmodels():
    # statsmodels: proportion_confint(15, 20, alpha=0.05, method="wilson")
    low, high = smp.proportion_confint(15, 20, alpha=0.05, method="wilson")
    iv = stats.rate_interval(15, 20, 0.95, "wilson")
    assert (iv.low, iv.high) == pytest.approx((low, high), abs=1e-12)


def test_clopper_pearson_matches_beta_quantiles():
    # Clopper-Pearson by its definition: beta quantiles
    k, n = 3, 40
    iv = stats.rate_interval(k, n, 0.90, "clopper-pearson")
    assert iv.low == pytest.approx(sps.beta.ppf(0.05, k, n - k + 1), abs=1e-10)
    assert iv.high == pytest.approx(sps.beta.ppf(0.95, k + 1, n - k), abs=1e-10)


def test_one_sided_interval_follows_alternative():
    res = stats.binomial_test(30, 100, 0.1, "greater")
    iv = res.ci(0.95, "clopper-pearson")
    assert iv.high == 1.0
    assert iv.low == pytest.approx(sps.beta.ppf(0.05, 30, 71), abs=1e-10)


def test_fisher_matches_r_tea_tasting():
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value == 0.4857143;
    #    fisher.test(matrix(c(3, 1, 1, 3), 2), alternative = "greater")$p.value == 0.2428571
    assert stats.fisher_test(3, 4, 1, 4, "two-sided").pvalue == pytest.approx(0.4857143, abs=1e-7)
    res = stats.fisher_test(3, 4, 1, 4, "greater")
    assert res.pvalue == pytest.approx(0.2428571, abs=1e-7)
    assert res.statistic == pytest.approx(0.5)


def test_mcnemar_matches_statsmodels_exact():
    # statsmodels: mcnemar([[10, 5], [20, 65]], exact=True).pvalue (two-sided)
    x = np.array([1] * 10 + [1] * 5 + [0] * 20 + [0] * 65, bool)
    y = np.array([1] * 10 + [0] * 5 + [1] * 20 + [0] * 65, bool)
    res = stats.mcnemar_test(x, y, "two-sided")
    assert res.pvalue == pytest.approx(mcnemar([[10, 5], [20, 65]], exact=True).pvalue, abs=1e-12)
    assert (res.b, res.c, res.n) == (5, 20, 100)
    assert res.statistic == pytest.approx(0.15 - 0.30)
    # one-sided "less" = binomial lower tail of 5 out of 25: R pbinom(5, 25, 0.5) == 0.002038658
    assert stats.mcnemar_test(x, y, "less").pvalue == pytest.approx(0.002038658, abs=1e-9)


def test_mcnemar_interval_contains_difference_and_no_discordance():
    x = np.array([1] * 40 + [0] * 60, bool)
    y = np.array([0] * 90 + [1] * 10, bool)
    res = stats.mcnemar_test(x, y, "two-sided")
    iv = res.ci(0.95)
    assert iv.low < res.statistic < iv.high
    same = stats.mcnemar_test(x, x, "two-sided")
    assert same.pvalue == 1.0
    assert same.ci().low < 0 < same.ci().high


def test_tost_is_max_of_two_score_tests():
    # statsmodels: test_proportions_2indep(..., value=-0.15, alternative="larger", method="score")
    a = smp.test_proportions_2indep(40, 100, 45, 100, value=-0.15, method="score",
                                alternative="larger").pvalue
    b = smp.test_proportions_2indep(40, 100, 45, 100, value=0.15, method="score",
                                alternative="smaller").pvalue
    res = stats.tost_test(40, 100, 45, 100, 0.15)
    assert res.pvalue == pytest.approx(max(a, b), abs=1e-10)


def test_heterogeneity_matches_r_chisq():
    # R: chisq.test(matrix(c(30, 10, 20, 70, 90, 80), 3)) -> X-squared = 12.5, df = 2,
    #    p-value = 0.00193
    res = stats.heterogeneity_test(np.array([[30, 70], [10, 90], [20, 80]]))
    assert res.method == "pearson"
    assert res.statistic == pytest.approx(12.5, abs=1e-10)
    assert res.dof == 2
    assert res.pvalue == pytest.approx(sps.chi2.sf(12.5, 2), abs=1e-12)
    assert res.pvalue == pytest.approx(0.00193, abs=5e-6)


def test_heterogeneity_sparse_uses_seeded_monte_carlo():
    table = np.array([[3, 10], [1, 12], [0, 13]])
    a, b = stats.heterogeneity_test(table), stats.heterogeneity_test(table)
    assert a.method == "monte-carlo" and a.pvalue == b.pvalue
    assert stats.heterogeneity_test(np.array([[0, 5], [0, 7]])).pvalue == 1.0


def test_holm_matches_r_p_adjust():
    # R: p.adjust(c(0.01, 0.04, 0.03), "holm") -> 0.03 0.06 0.06
    out = stats.holm([0.01, 0.04, np.nan, 0.03])
    assert out[[0, 1, 3]] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(out[2])


def test_power_binomial_matches_direct_sum():
    n, null, rate, alpha = 60, 0.1, 0.02, 0.05
    reject = [k for k in range(n + 1) if sps.binomtest(k, n, null, "less").pvalue <= alpha]
    direct = sum(sps.binom.pmf(k, n, rate) for k in reject)
    assert stats.power_binomial(n, null, rate, alpha, "less") == pytest.approx(direct, abs=1e-12)
    # two-sided goes through per-k binomtest
    assert 0 < stats.power_binomial(30, 0.5, 0.8, 0.05, "two-sided") < 1


def test_power_mcnemar_matches_simulation():
    rng = np.random.default_rng(1)
    n, p10, p01, alpha, sims = 50, 0.2, 0.05, 0.05, 4000
    draws = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=sims)
    hits = np.mean([sps.binomtest(b, b + c, 0.5, "greater").pvalue <= alpha if b + c else False
                    for b, c, _ in draws])
    exact = stats.power_mcnemar(n, p10, p01, alpha)
    assert exact == pytest.approx(hits, abs=3 * np.sqrt(hits * (1 - hits) / sims) + 1e-3)


def test_power_heterogeneity_matches_statsmodels_gof_power():
    # two groups, two categories: noncentral chi-square with df 1, Cohen's w = sqrt(chi2 / N)
    probs, ns = np.array([[0.3, 0.7], [0.5, 0.5]]), np.array([100, 100])
    chi2 = sps.chi2_contingency(ns[:, None] * probs, correction=False).statistic
    ref = GofChisquarePower().power(effect_size=np.sqrt(chi2 / 200), nobs=200, alpha=0.05,
                                    n_bins=2)
    assert stats.power_heterogeneity(probs, ns, 0.05) == pytest.approx(ref, abs=1e-10)


def test_power_tost_is_deterministic_and_grows_with_n():
    small = stats.power_tost(50, 50, 0.5, 0.15, 0.05)
    assert small == stats.power_tost(50, 50, 0.5, 0.15, 0.05)
    assert stats.power_tost(400, 400, 0.5, 0.15, 0.05) > small


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: stats.binomial_test(1, 5, 0.5, "bigger"), "'two-sided', 'greater', 'less'"),
        (lambda: stats.rate_interval(1, 5, method="wald"), "'wilson', 'clopper-pearson'"),
        (lambda: stats.heterogeneity_test([[1, 2], [3, 4]], method="exact"), "'pearson'"),
        (lambda: stats.rate_interval(1, 5, confidence_level=95), "between 0 and 1"),
        (lambda: stats.binomial_test(6, 5, 0.5), "0 <= k <= n"),
    ],
)
def test_bad_options_raise_value_error_naming_choices(call, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        call()


def test_results_are_frozen_and_slotted():
    res = stats.binomial_test(3, 10, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.pvalue = 0.0
    assert not hasattr(res, "__dict__")

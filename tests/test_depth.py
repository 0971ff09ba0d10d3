"""Tests of models compared by depth (conceptpatch.depth, conceptpatch.compare, the CLI): the
band on hand-built tables, the depth axis, the bootstrap against brute force, the Wald tests
against scipy, and the command on tiny-model and hand-built stores."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny import dump_toml, suite_data
from conceptpatch import clustered, depth
from conceptpatch.cli import main
from conceptpatch.compare import store_label
from conceptpatch.errors import ConceptPatchError
from conceptpatch.results import Store, conform, load_store
from scipy import stats as sps

HASH = "0123456789abcdef"


def _table(n_layers: int, exact: Callable[[int, int, int], bool], concepts: int = 8,
           trials: int = 10, checkpoint: str = "final", step: int = 100,
           translated: Callable[[int, int], bool] = lambda i, t: t % 2 == 0,
           settings: tuple[str, ...] = ("seen", "unpatched")) -> pd.DataFrame:
    """A results table of one checkpoint: concept i's trial t at first layer j is exact where
    ``exact(i, j, t)``; its unpatched answer translates D where ``translated(i, t)``. Every
    trial also has a twin into an unseen language that is always exact (it must not count)."""
    rows = []
    for i in range(concepts):
        for t in range(trials):
            for lang, seen in (("fr", True), ("ru", False)):
                trial = (i * trials + t) * 2 + (not seen)
                base = {"checkpoint": checkpoint, "step": step, "tokens": 0, "phase": 1,
                        "n_layers": n_layers, "position": "last", "source_pairs": "",
                        "input_lang": "en", "output_lang": lang, "output_seen": seen,
                        "concept": f"c{i}", "target_concept": f"d{i}", "pos": pd.NA,
                        "trial": trial, "output": "x", "p_concept": 0.0, "seed": 0,
                        "suite_hash": HASH}
                if "unpatched" in settings:
                    rows.append({**base, "setting": "unpatched", "layer": -1,
                                 "category": "target" if translated(i, t) or not seen
                                 else "unrelated"})
                for setting in (s for s in settings if s != "unpatched"):
                    for j in range(n_layers):
                        hit = exact(i, j, t) or not seen
                        rows.append({**base, "setting": setting, "layer": j,
                                     "category": "exact" if hit else "target"})
    return conform(pd.DataFrame(rows))


def _profile(rates: list[float], trials: int = 10) -> Callable[[int, int, int], bool]:
    """Every concept exact in round(rate * trials) of its trials at each layer."""
    return lambda i, j, t: t < round(rates[j] * trials)


def _noisy(rates: list[float], seed: int = 1) -> Callable[[int, int, int], bool]:
    """Exact by a Bernoulli draw with each concept's own offset (concepts differ)."""
    rng = np.random.default_rng(seed)
    draws = rng.random((64, len(rates), 64))
    offset = rng.normal(0, 0.1, 64)
    return lambda i, j, t: bool(draws[i, j, t] < np.clip(rates[j] + offset[i], 0, 1))


def _model(label: str, table: pd.DataFrame, **kwargs: object) -> depth.ModelDepth:
    return depth.compare([depth.ModelInput(label, table)], **kwargs).models[0]


# ---- the definitions --------------------------------------------------------------------------


@pytest.mark.parametrize(("rates", "band"), [
    ([0.1, 0.5, 0.3, 0.2, 0.6, 0.1], (4, 4)),  # a second run above half the peak is not it
    ([0.0, 0.4, 0.8, 0.4, 0.39], (1, 3)),  # exactly half counts, just below does not
    ([0.5, 0.1, 0.5], (0, 0)),  # ties: the first peak
    ([2 / 3, 1 / 3], (0, 1)),  # float halving of a third
    ([math.nan, 0.2, 0.09], (1, 1)),  # a layer without a rate is never in it
    ([0.0, 0.0, 0.0], None),
    ([], None),
])
def test_band_is_the_half_maximum_run_holding_the_peak(rates, band):
    assert depth.band_positions(rates) == band


def test_relative_depth_puts_layers_in_bins_that_tile_the_depth():
    assert depth.relative_depth(0, 6) == pytest.approx(1 / 12)
    assert depth.relative_depth(5, 6) == pytest.approx(11 / 12)
    assert depth.layer_bin(2, 6) == pytest.approx((2 / 6, 3 / 6))
    assert depth.band_edges(1, 3, 6) == pytest.approx((1 / 6, 4 / 6, 5 / 12))
    # the same share of depth in models of 12 and 24 layers is the same band
    assert depth.band_edges(3, 5, 12) == pytest.approx(depth.band_edges(6, 11, 24))
    # a one-layer band has width 1/n
    start, end, _ = depth.band_edges(0, 0, 6)
    assert end - start == pytest.approx(1 / 6)


def test_a_model_on_a_hand_built_table_gives_its_known_band():
    table = _table(6, _profile([0.1, 0.6, 0.8, 0.5, 0.2, 0.0]))
    m = _model("six", table)
    assert m.band_layers == (1, 3) and m.n_layers == 6 and m.layers == tuple(range(6))
    assert (m.start.value, m.end.value, m.centre.value) == pytest.approx((1 / 6, 4 / 6, 5 / 12))
    assert m.curve["rate"].tolist() == pytest.approx([0.1, 0.6, 0.8, 0.5, 0.2, 0.0])
    assert m.curve["depth"].tolist() == pytest.approx([(j + 0.5) / 6 for j in range(6)])
    assert m.peak_layer == 2 and m.peak.value == pytest.approx(0.8)
    assert m.translation.value == pytest.approx(0.5) and m.translation_trials == 80
    assert m.floor.value == 0 and m.clear
    # every concept is alike here: every bootstrap draw finds the same band
    assert (m.start.low, m.start.high) == pytest.approx((1 / 6, 1 / 6))
    assert m.undefined_draws == 0


def test_the_last_checkpoint_by_step_is_measured_unless_one_is_named():
    late = _table(4, _profile([0.0, 0.9, 0.1, 0.0]), checkpoint="b", step=20)
    early = _table(4, _profile([0.9, 0.1, 0.0, 0.0]), checkpoint="a", step=10)
    table = pd.concat([late, early], ignore_index=True)
    assert _model("m", table).band_layers == (1, 1)
    named = depth.compare([depth.ModelInput("m", table, "a")]).models[0]
    assert named.checkpoint == "a" and named.band_layers == (0, 0)


def test_rate_and_translation_intervals_are_clustered_ones():
    table = _table(3, _noisy([0.2, 0.6, 0.3]), concepts=12)
    m = _model("m", table)
    seen = table[table["output_seen"]]
    for layer in range(3):
        rows = seen[(seen["setting"] == "seen") & (seen["layer"] == layer)]
        ref = clustered.rate((rows["category"] == "exact").to_numpy(),
                             rows["concept"].to_numpy(), alpha=0.025)
        got = m.curve.set_index("layer").loc[layer]
        assert (got["rate"], got["low"], got["high"]) == pytest.approx(
            (ref.effect, ref.low, ref.high))
    unpatched = seen[seen["setting"] == "unpatched"]
    ref = clustered.rate((unpatched["category"] == "target").to_numpy(),
                         unpatched["target_concept"].to_numpy(), alpha=0.025)
    assert (m.translation.value, m.translation.low, m.translation.high) == pytest.approx(
        (ref.effect, ref.low, ref.high))


# ---- the bootstrap ----------------------------------------------------------------------------


def test_the_bootstrap_matches_brute_force_resampling():
    table = _table(5, _noisy([0.1, 0.5, 0.6, 0.3, 0.1]), concepts=10)
    chosen = depth.select(table, "t")
    concepts = sorted(set(chosen.patched["concept"]))
    weights = np.random.default_rng(3).multinomial(10, np.full(10, 0.1), size=25).astype(float)
    exact, trials = depth.concept_counts(chosen.patched, concepts, chosen.layers)
    fast = depth.bootstrap_edges(exact, trials, weights, chosen.layers, 5)
    for b, w in enumerate(weights):
        drawn = [c for c, k in zip(concepts, w, strict=True) for _ in range(int(k))]
        rows = pd.concat([chosen.patched[chosen.patched["concept"] == c] for c in drawn])
        rates = (rows["category"] == "exact").groupby(rows["layer"]).mean()
        found = depth.band_positions(rates.reindex(range(5)).to_numpy())
        expected = (math.nan,) * 3 if found is None else depth.band_edges(*found, 5)
        np.testing.assert_allclose(fast[b], expected)


def test_the_bootstrap_is_seeded():
    table = _table(6, _noisy([0.1, 0.4, 0.5, 0.45, 0.2, 0.1]), concepts=16)
    one = depth.compare([depth.ModelInput("m", table)], draws=200, seed=7).models[0]
    two = depth.compare([depth.ModelInput("m", table)], draws=200, seed=7).models[0]
    other = depth.compare([depth.ModelInput("m", table)], draws=200, seed=8).models[0]
    np.testing.assert_array_equal(one.draws, two.draws)
    assert one == two
    assert not np.array_equal(one.draws, other.draws, equal_nan=True)


def test_models_with_the_same_concepts_share_their_draws():
    table = _table(4, _noisy([0.1, 0.6, 0.4, 0.1]), concepts=12)
    result = depth.compare([depth.ModelInput("a", table), depth.ModelInput("b", table)],
                           draws=100)
    a, b = result.models
    np.testing.assert_array_equal(a.draws, b.draws)  # identical data, identical draws
    pair = result.tests[result.tests["edge"] == "centre"].iloc[0]
    assert pair["difference"] == 0 and pair["se"] == 0 and pair["p"] == 1


# ---- the tests of equal position --------------------------------------------------------------


def test_the_wald_tests_match_scipy():
    rng = np.random.default_rng(0)
    draws = rng.normal([0.3, 0.35, 0.5], [0.05, 0.04, 0.06], size=(500, 3))
    values = np.array([0.3, 0.36, 0.48])
    stat, df, p = depth.wald_equal(values[:2], draws[:, :2])
    se = np.std(draws[:, 0] - draws[:, 1], ddof=1)
    z = (values[0] - values[1]) / se
    assert df == 1 and stat == pytest.approx(z**2)
    assert p == pytest.approx(2 * sps.norm.sf(abs(z))) and p == pytest.approx(sps.chi2.sf(z**2, 1))
    stat, df, p = depth.wald_equal(values, draws)
    contrast = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
    d = contrast @ values
    cov = contrast @ np.cov(draws, rowvar=False) @ contrast.T
    ref = float(d @ np.linalg.inv(cov) @ d)
    assert df == 2 and stat == pytest.approx(ref) and p == pytest.approx(sps.chi2.sf(ref, 2))


def test_the_wald_test_without_variance():
    flat = np.tile([0.2, 0.2], (50, 1))
    assert depth.wald_equal(np.array([0.2, 0.2]), flat) == (0.0, 0, 1.0)
    stat, _, p = depth.wald_equal(np.array([0.2, 0.4]), np.tile([0.2, 0.4], (50, 1)))
    assert math.isinf(stat) and p == 0.0
    stat, _, p = depth.wald_equal(np.array([0.2, 0.4]), np.full((50, 2), np.nan))
    assert math.isnan(stat) and math.isnan(p)


def test_bands_at_the_same_relative_depth_compare_equal_and_others_differ():
    six = _table(6, _noisy([0.05, 0.1, 0.7, 0.7, 0.1, 0.05]), concepts=20)  # layers 2-3 of 6
    twelve = _table(12, _noisy([0.05] * 4 + [0.7] * 4 + [0.05] * 4), concepts=20)  # 4-7 of 12
    late = _table(6, _noisy([0.05, 0.05, 0.05, 0.05, 0.7, 0.7]), concepts=20)  # 4-5 of 6
    result = depth.compare([depth.ModelInput("six", six), depth.ModelInput("twelve", twelve),
                            depth.ModelInput("late", late)], draws=300)
    tests = result.tests.set_index(["model_a", "model_b", "edge"])
    same = tests.loc[("six", "twelve", "centre")]
    assert same["difference"] == pytest.approx(0) and same["reading"].startswith("same within")
    assert tests.loc[("six", "late", "centre")]["reading"] == "differ"
    overall = result.tests[result.tests["kind"] == "all"].set_index("edge")
    assert list(overall.index) == list(depth.EDGES) and overall.loc["centre", "df"] == 2
    assert overall.loc["centre", "p"] < 0.05
    two = depth.compare([depth.ModelInput("six", six), depth.ModelInput("twelve", twelve)],
                        draws=50)
    assert set(two.tests["kind"]) == {"pair"} and len(two.tests) == 3


def test_a_model_without_a_clear_band_is_not_compared():
    flat = _table(4, lambda i, j, t: False)
    good = _table(4, _profile([0.1, 0.8, 0.3, 0.0]))
    result = depth.compare([depth.ModelInput("flat", flat), depth.ModelInput("good", good)],
                           draws=50)
    flat_m = result.models[0]
    assert flat_m.band_layers is None and not flat_m.clear and flat_m.undefined_draws == 50
    assert set(result.tests["reading"]) == {"no clear band in flat"}


# ---- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "setting", "checkpoint", "says"), [
    (lambda: _table(4, _profile([0, 1, 0, 0]), settings=("seen",)), "seen", None,
     "no 'unpatched' rows"),
    (lambda: _table(1, _profile([1])), "seen", None, "one first patched layer only"),
    (lambda: _table(4, _profile([0, 1, 0, 0])), "en_en", None, "no patched rows of setting"),
    (lambda: _table(4, _profile([0, 1, 0, 0])), "unpatched", None, "not a patched setting"),
    (lambda: _table(4, _profile([0, 1, 0, 0])), "seen", "nope", "is not in"),
])
def test_refusals_are_one_line(table, setting, checkpoint, says):
    with pytest.raises(ConceptPatchError, match=says) as caught:
        depth.compare([depth.ModelInput("m", table(), checkpoint)], setting=setting)
    assert "\n" not in str(caught.value)


def test_two_models_with_one_label_are_refused():
    table = _table(4, _profile([0, 1, 0, 0]))
    with pytest.raises(ConceptPatchError, match="--label"):
        depth.compare([depth.ModelInput("m", table), depth.ModelInput("m", table)])


# ---- the command ------------------------------------------------------------------------------


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _write_store(root: Path, table: pd.DataFrame) -> Path:
    store = Store(root).open()
    for (checkpoint, setting), rows in table.groupby(["checkpoint", "setting"]):
        store.write(str(checkpoint), str(setting), rows, {"suite_hash": HASH})
    return root


@pytest.fixture
def tiny_stores(tmp_path: Path, tiny_suite_env: Path) -> list[Path]:
    """The tiny random suite computed into two stores, models of 2 and 3 layers."""
    from conceptpatch.compute import run_suite
    from conceptpatch.config.suite import load_suite

    stores = []
    for layers in (2, 3):
        path = tmp_path / f"tiny-{layers}.toml"
        path.write_text(dump_toml(suite_data(name=f"tiny-{layers}",
                                             model={"random_layers": layers},
                                             patch={"layers": "all"})), encoding="utf-8")
        run_suite(load_suite(path), tmp_path / f"store{layers}", progress=False)
        stores.append(tmp_path / f"store{layers}")
    return stores


def test_compare_writes_the_report_of_two_tiny_stores(tiny_stores, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", *map(str, tiny_stores), "--out", str(out), "--draws", "50"]) == 0
    assert {p.name for p in out.iterdir()} == {"index.html", "depth.png", "comparison.csv",
                                              "models.csv", "curves.csv"}
    models = pd.read_csv(out / "models.csv")
    assert models["model"].tolist() == ["tiny-2", "tiny-3"]  # the suites' names
    assert models["n_layers"].tolist() == [2, 3]
    tests = pd.read_csv(out / "comparison.csv")
    assert len(tests) == 3 and set(tests["edge"]) == set(depth.EDGES)
    curves = pd.read_csv(out / "curves.csv")
    assert curves.groupby("model")["depth"].max().to_dict() == pytest.approx(
        {"tiny-2": 0.75, "tiny-3": 5 / 6})
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "tiny-3" in page and "data:image/png;base64," in page
    assert "comparison written to" in capsys.readouterr().out
    assert main(["compare", *map(str, tiny_stores), "--out", str(out), "--label", "x"]) == 2
    assert "once per store" in _one_line_error(capsys)
    (tmp_path / "file").write_text("", encoding="utf-8")
    assert main(["compare", str(tiny_stores[0]), "--out", str(tmp_path / "file")]) == 2
    assert "existing file" in _one_line_error(capsys)


def test_compare_reads_hand_built_stores_and_names_them(tmp_path, capsys):
    six = _write_store(tmp_path / f"six-{HASH}",
                       _table(6, _profile([0.1, 0.6, 0.8, 0.5, 0.2, 0.0])))
    four = _write_store(tmp_path / "four", _table(4, _profile([0.9, 0.2, 0.0, 0.0])))
    assert store_label(six, load_store(six)) == "six"  # a default store's hash is dropped
    out = tmp_path / "out"
    code = main(["compare", str(six), str(four), "--out", str(out), "--draws", "50",
                 "--label", "a", "--label", "b", "--checkpoint", "last", "--checkpoint",
                 "final"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "a (final, 6 layers): band 0.17-0.67 (centre 0.42)" in printed
    models = pd.read_csv(out / "models.csv").set_index("model")
    assert models.loc["b", "end"] == pytest.approx(0.25)
    assert models["clear"].tolist() == [True, True]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("<td>yes</td>") == 2 and "built-in" not in page
    no_unpatched = _write_store(tmp_path / "bare",
                                _table(4, _profile([0, 1, 0, 0]), settings=("seen",)))
    assert main(["compare", str(no_unpatched), "--out", str(tmp_path / "o2")]) == 2
    assert "no 'unpatched' rows" in _one_line_error(capsys)
    assert not (tmp_path / "o2").exists()  # nothing written on a refusal

"""The report says what it shows: captions name a layer or say there is none, trials are counted
as trial ids, the design and its units are named, and the numeric tables beside the figures
(exact rate by layer x output language and x checkpoint, categories by layer) are on the page and
downloadable, their numbers those of the rows."""

from __future__ import annotations

import io
import re
import urllib.parse

import pandas as pd
import pytest
from conceptpatch import figures
from conceptpatch.claims import Design, synthetic_results
from conceptpatch.report import _overview, build_records, write_report
from conceptpatch.results import conform
from conceptpatch.vocabulary import CATEGORIES

CKS = (("s0", 0, 1), ("s1", 100, 1), ("s2", 200, 2))


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return conform(synthetic_results(checkpoints=CKS, trials=12, n_layers=4, seed=2))


@pytest.fixture(scope="module")
def page(results, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("tables")
    suite = {"name": "tables-suite", "trials": 12, "k": 5, "position": "last"}
    return write_report(results, [], suite, out).read_text(encoding="utf-8")


def _csv(page: str, name: str) -> pd.DataFrame:
    found = re.search(rf'download="{re.escape(name)}" href="data:text/csv;charset=utf-8,([^"]+)"',
                      page)
    assert found, f"no {name} on the page"
    return pd.read_csv(io.StringIO(urllib.parse.unquote(found.group(1).replace("&amp;", "&"))))


FIGURES = {
    "category_bars": lambda r: figures.category_bars(r),
    "success_over_training": lambda r: figures.success_over_training(r),
    "claim_curves": lambda r: figures.claim_curves(r, Design()),
    "phase_two_bars": lambda r: figures.phase_two_bars(r, Design()),
    "unseen_bars": lambda r: figures.unseen_bars(r, Design()),
    "language_rates": lambda r: figures.language_rates(r, Design()),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_no_caption_reads_layer_none(results, name):
    for data in (results, results[results["setting"] != "seen"],
                 results[results["layer"] < 0]):
        plot = FIGURES[name](data)
        assert "None" not in plot.caption, (name, plot.caption)
    assert "no layer" in FIGURES[name](results[results["layer"] < 0]).caption


def test_trials_are_counted_as_trial_ids_not_rows(results, page):
    overview = _overview(results)
    assert overview["trials"] == results["trial"].nunique() < len(results)
    assert overview["rows"] == len(results)
    assert f"<dd>{overview['trials']} (distinct trial ids; {len(results)} rows" in page


def test_the_page_names_the_design_and_every_unit(results, page):
    design = build_records(results, [], {"name": "tables-suite", "trials": 12})["design"]
    assert design["suite"] == "tables-suite" and design["hashes"] == ["synthetic"]
    assert design["trials"] == results["trial"].nunique()
    assert design["layers"] == "0–3" and design["settings"] == ["en_en", "seen", "unpatched"]
    units = {(u["checkpoint"], u["setting"]): u for u in design["units"]}
    counted = results.groupby(["checkpoint", "setting"])
    assert set(units) == set(counted.groups)
    for key, rows in counted:
        assert units[key]["rows"] == str(len(rows))
        assert units[key]["trials"] == str(rows["trial"].nunique())
    assert 'id="design"' in page and "tables-suite" in page and "synthetic" in page
    for ck, setting in units:
        assert f"<tr><td>{ck}</td><td>{setting}</td>" in page


def test_exact_rate_tables_hold_the_rows_numbers(results, page):
    exact = results.assign(hit=results["category"].astype(str) == "exact")
    for name, column in (("exact-by-layer-language.csv", "output_lang"),
                         ("exact-by-layer-checkpoint.csv", "checkpoint")):
        table = _csv(page, name)
        want = exact.groupby(["setting", "layer", column]).agg(
            rows=("hit", "size"), exact=("hit", "sum"), trials=("trial", "nunique"))
        got = table.set_index(["setting", "layer", column]).sort_index()
        want = want.reset_index().astype({"setting": str, column: str}).set_index(
            ["setting", "layer", column]).sort_index()
        assert got.index.equals(want.index)
        for col in ("rows", "exact", "trials"):
            assert got[col].tolist() == want[col].tolist()
        assert (got["rate"] == got["exact"] / got["rows"]).all()
        assert ((got["low"] <= got["rate"] + 1e-12) & (got["rate"] <= got["high"])).all()
    assert ">Exact rate by layer × output language</h3>" in page
    assert ">Exact rate by layer × checkpoint</h3>" in page


def test_categories_by_layer_count_every_row_once(results, page):
    table = _csv(page, "categories-by-layer.csv")
    assert list(dict.fromkeys(table["category"])) == list(CATEGORIES)
    per_group = table.groupby(["setting", "layer"])
    assert (per_group["count"].sum() == per_group["rows"].first()).all()
    assert per_group["share"].sum().round(12).eq(1.0).all()
    want = pd.crosstab([results["setting"].astype(str), results["layer"]],
                       results["category"].astype(str))
    got = table.pivot_table(index=["setting", "layer"], columns="category", values="count")
    assert (got[want.columns].to_numpy() == want.to_numpy()).all()
    assert ">Outcome categories by layer</h3>" in page


def test_layer_lines_break_across_layers_nobody_computed():
    """A suite with ``layers = [2, 3, 14]`` draws 2-3 as a line and 14 alone, not a line across
    4-13; the figure's CSV holds only the computed layers."""
    from conceptpatch.figures.common import figure_csv, with_gaps
    from matplotlib.figure import Figure

    frame = with_gaps(pd.DataFrame({"layer": [14, 2, 3], "rate": [0.1, 0.2, 0.3]}))
    assert frame["layer"].tolist() == [2, 3, 8.5, 14] and frame["rate"].isna().tolist() == [
        False, False, True, False]
    fig = Figure()
    fig.add_subplot().plot(frame["layer"], frame["rate"], label="pooled")
    drawn = pd.read_csv(io.StringIO(figure_csv(fig)))
    assert drawn["x"].astype(float).tolist() == [2, 3, 14]

"""The report's numeric tables beside its figures: what a reader checks a figure against.

Each table is a long data frame (one row per cell, counts with the rate, so it can be pooled
again) that the report shows pivoted and offers as CSV: the exact rate of C by layer x output
language and by layer x checkpoint, and the outcome categories by layer. Rows are counted as
trials (the ``trial`` id) and as rows (one per trial, layer, setting and checkpoint) apart.
Outcomes are the claims' six categories, manual labels taking precedence.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from conceptpatch.figures.common import rate_of, six_categories
from conceptpatch.vocabulary import CATEGORIES

__all__ = ["NumericTable", "category_table", "exact_rate_table", "numeric_tables", "units"]


@dataclass(frozen=True)
class NumericTable:
    """One table of the report: its long form (the CSV) and the pivot the page shows."""

    key: str
    title: str
    caption: str
    long: pd.DataFrame
    wide: pd.DataFrame


def _keys(rows: pd.DataFrame) -> list[str]:
    """The columns every table is split by: the position when the run has several, setting,
    layer (-1: unpatched)."""
    several = "position" in rows.columns and rows["position"].nunique() > 1
    return (["position"] if several else []) + ["setting", "layer"]


def exact_rate_table(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Exact rate of C per (setting, layer, ``column``): ``trials`` (distinct trial ids),
    ``rows``, ``exact``, ``rate`` and its concept-clustered bounds ``low``/``high``, the ones
    the verdicts use (`conceptpatch.figures.common.rate_of`)."""
    by = [*_keys(rows), column]
    rate = rate_of(rows, "exact", by).rename(columns={"k": "exact", "n": "rows"})
    trials = rows.groupby(by, observed=True)["trial"].nunique().rename("trials").reset_index()
    out = rate.merge(trials, on=by, how="left")
    return out[[*by, "trials", "rows", "exact", "rate", "low", "high"]].sort_values(by)


def category_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Outcome categories per (setting, layer): for each of the six categories its ``count``
    and ``share`` of the group's ``rows``, beside the group's distinct ``trials``."""
    by = _keys(rows)
    cats = six_categories(rows).rename("category")
    counts = (pd.crosstab([rows[c] for c in by], cats)
              .reindex(columns=list(CATEGORIES), fill_value=0))
    long = counts.stack().rename("count").reset_index()
    total = counts.sum(axis=1).rename("rows").reset_index()
    trials = rows.groupby(by, observed=True)["trial"].nunique().rename("trials").reset_index()
    long = long.merge(total, on=by).merge(trials, on=by)
    long["share"] = long["count"] / long["rows"]
    order = {c: i for i, c in enumerate(CATEGORIES)}
    long = long.sort_values([*by, "category"], key=lambda s: s.map(order) if s.name ==
                            "category" else s)
    return long[[*by, "trials", "rows", "category", "count", "share"]]


def _pivot(long: pd.DataFrame, column: str, cell: pd.Series) -> pd.DataFrame:
    """``cell`` (one text per long row) pivoted: one row per (setting, layer), ``column`` across."""
    by = [c for c in long.columns if c in ("position", "setting", "layer")]
    order = list(dict.fromkeys(long[column].astype(str)))
    frame = long.assign(_cell=cell.to_numpy(), _col=long[column].astype(str))
    wide = frame.pivot_table(index=by, columns="_col", values="_cell", aggfunc="first",
                             observed=True)
    return wide.reindex(columns=order).fillna("—")


def _rate_cell(long: pd.DataFrame) -> pd.Series:
    return long["rate"].map("{:.2f}".format) + " (" + long["exact"].astype(str) + "/" + \
        long["rows"].astype(str) + ")"


def numeric_tables(rows: pd.DataFrame, checkpoints: list[str] | None = None) -> list[NumericTable]:
    """The report's tables of ``rows`` (the claim table): exact rate by layer x output language,
    by layer x checkpoint (``checkpoints``: their order), categories by layer."""
    if rows.empty:
        return []
    found = []
    by_lang = exact_rate_table(rows, "output_lang")
    found.append(NumericTable(
        "exact-by-layer-language", "Exact rate by layer × output language",
        "Exact rate of C (exact / rows) per setting and first patched layer (-1: unpatched, "
        "the rate of saying C unprompted), pooled over checkpoints.",
        by_lang, _pivot(by_lang, "output_lang", _rate_cell(by_lang))))
    by_ck = exact_rate_table(rows, "checkpoint")
    if checkpoints:
        rank = {c: i for i, c in enumerate(checkpoints)}
        by_ck = by_ck.sort_values("checkpoint", key=lambda s: s.map(rank), kind="stable")
        by_ck = by_ck.sort_values(_keys(rows), kind="stable")
    found.append(NumericTable(
        "exact-by-layer-checkpoint", "Exact rate by layer × checkpoint",
        "Exact rate of C (exact / rows) per setting and first patched layer, pooled over "
        "output languages; checkpoints by training step.",
        by_ck, _pivot(by_ck, "checkpoint", _rate_cell(by_ck))))
    cats = category_table(rows)
    share = cats["share"].map("{:.2f}".format)
    found.append(NumericTable(
        "categories-by-layer", "Outcome categories by layer",
        "Share of each of the claims' six outcome categories (manual labels mapped onto them) "
        "per setting and first patched layer, pooled over checkpoints and output languages.",
        cats, _pivot(cats, "category", share)))
    return found


def units(results: pd.DataFrame, checkpoints: list[str] | None = None) -> pd.DataFrame:
    """The units a table holds, one row per (checkpoint, setting): its design hash, distinct
    trials, layers and rows."""
    by = ["checkpoint", "setting"]
    if results.empty:
        return pd.DataFrame(columns=[*by, "suite_hash", "trials", "layers", "rows"])
    patched = results["layer"].where(results["layer"] >= 0)
    out = results.assign(_layer=patched).groupby(by, observed=True).agg(
        suite_hash=("suite_hash", lambda s: ", ".join(sorted(set(s.astype(str))))),
        trials=("trial", "nunique"), layers=("_layer", "nunique"),
        rows=("trial", "size")).reset_index()
    rank = {c: i for i, c in enumerate(checkpoints or [])}
    return out.sort_values(by, key=lambda s: s.map(rank) if s.name == "checkpoint" and rank
                           else s, kind="stable").reset_index(drop=True)

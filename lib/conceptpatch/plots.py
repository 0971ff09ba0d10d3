"""Figures of the claim report: matplotlib (object API, Agg canvas, no pyplot state) as base64 PNG.

Each figure function takes the results table (contract schema, optionally with the manual ``label``
column of :func:`conceptpatch.annotate.apply_annotations`) and returns a :class:`Plot`: either the
PNG, or a one-line note saying why the figure was skipped, so a report is written from any data.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "CATEGORY_ORDER",
    "Plot",
    "best_layer",
    "category_bars",
    "checkpoint_order",
    "fig_to_base64",
    "layer_heatmap",
    "outcome",
    "patched",
    "phase_boundary",
    "success_over_training",
]

# Automatic categories first, then the finer manual labels, so colours stay fixed across reports.
CATEGORY_ORDER: tuple[str, ...] = (
    "exact",
    "synonym",
    "hypernym",
    "hyponym",
    "related",
    "other_language",
    "untranslated",
    "wrong_language",
    "copy",
    "target",
    "unrelated",
    "empty",
)
_CATEGORY_COLOURS = {
    "exact": "#1a9850",
    "synonym": "#91cf60",
    "hypernym": "#d9ef8b",
    "hyponym": "#c7e9c0",
    "related": "#fee08b",
    "other_language": "#4575b4",
    "untranslated": "#74add1",
    "wrong_language": "#abd9e9",
    "copy": "#fdae61",
    "target": "#9e9e9e",
    "unrelated": "#d73027",
    "empty": "#67001f",
}
_DPI = 110


@dataclass(frozen=True)
class Plot:
    """One report figure: a base64 PNG, or ``png=None`` and the note saying why it is missing."""

    title: str
    caption: str
    png: str | None = None
    note: str = ""


def fig_to_base64(fig: Figure) -> str:
    """Render a Figure with the Agg canvas to a base64-encoded PNG string."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def outcome(results: pd.DataFrame) -> pd.Series:
    """Each trial's outcome: the manual ``label`` where present, else the automatic category."""
    if "label" in results.columns:
        return results["label"].where(results["label"].notna(), results["category"]).astype(str)
    return results["category"].astype(str)


def patched(results: pd.DataFrame, setting: str = "seen", position: str = "last") -> pd.DataFrame:
    """Patched trials (layer >= 0) of one source setting and patch-position mode."""
    mask = (
        (results["setting"] == setting)
        & (results["position"] == position)
        & (results["layer"] >= 0)
    )
    return results[mask]


def checkpoint_order(results: pd.DataFrame) -> list[str]:
    """Checkpoint names ordered by training step (then tokens, then name)."""
    if results.empty:
        return []
    ck = (
        results[["checkpoint", "step", "tokens"]]
        .drop_duplicates("checkpoint")
        .sort_values(["step", "tokens", "checkpoint"], kind="stable")
    )
    return ck["checkpoint"].astype(str).tolist()


def phase_boundary(results: pd.DataFrame) -> str | None:
    """The first phase-2 checkpoint that follows a phase-1 checkpoint, or None."""
    order = checkpoint_order(results)
    phases = results.drop_duplicates("checkpoint").set_index("checkpoint")["phase"]
    seen_phase1 = False
    for name in order:
        if int(phases[name]) == 1:
            seen_phase1 = True
        elif int(phases[name]) == 2 and seen_phase1:
            return name
    return None


def best_layer(results: pd.DataFrame, setting: str = "seen", position: str = "last") -> int | None:
    """The patch layer with the highest exact-match rate pooled over checkpoints and languages."""
    rows = patched(results, setting, position)
    if rows.empty:
        return None
    rate = (outcome(rows) == "exact").groupby(rows["layer"]).mean()
    return int(rate.idxmax())


def _exact_rate(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Exact-match successes, trials and rate per group."""
    hit = (outcome(rows) == "exact").astype(int)
    grouped = hit.groupby([rows[c] for c in by]).agg(["sum", "count"])
    grouped = grouped.rename(columns={"sum": "k", "count": "n"}).reset_index()
    grouped["rate"] = grouped["k"] / grouped["n"]
    return grouped


def layer_heatmap(results: pd.DataFrame, setting: str = "seen", position: str = "last") -> Plot:
    """Heatmap of exact-match success over patch layer (rows) x checkpoint (columns, by step)."""
    title = "Success over patch layer × checkpoint"
    caption = (
        f"Exact-match rate of the source concept C, setting '{setting}', position '{position}', "
        "pooled over output languages; layer j means patched at j and every later layer."
    )
    rows = patched(results, setting, position)
    if rows.empty:
        return Plot(title, caption, note=f"No patched trials with setting '{setting}' and "
                    f"position '{position}' in the results; figure skipped.")
    order = [c for c in checkpoint_order(results) if c in set(rows["checkpoint"])]
    rate = _exact_rate(rows, ["layer", "checkpoint"])
    grid = rate.pivot(index="layer", columns="checkpoint", values="rate").reindex(columns=order)
    grid = grid.sort_index()
    n_rows, n_cols = grid.shape
    fig = Figure(figsize=(min(3.0 + 0.7 * n_cols, 16.0), min(1.6 + 0.35 * n_rows, 12.0)))
    ax = fig.add_subplot()
    im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", origin="lower", cmap="viridis",
                   vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks(range(n_cols), labels=order, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n_rows), labels=[str(v) for v in grid.index], fontsize=8)
    ax.set_xlabel("checkpoint (ordered by step)")
    ax.set_ylabel("first patched layer j")
    if n_rows * n_cols <= 400:
        for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if value > 0.6 else "white")
    boundary = phase_boundary(results)
    if boundary in order:
        x = order.index(boundary) - 0.5
        ax.axvline(x, color="red", linewidth=2)
        ax.text(x, n_rows - 0.5, " phase 2", color="red", va="bottom", ha="left", fontsize=8)
    fig.colorbar(im, ax=ax, label="exact-match rate")
    return Plot(title, caption, png=fig_to_base64(fig))


def _x_axis(results: pd.DataFrame) -> tuple[str, pd.Series]:
    """Tokens seen per checkpoint when every checkpoint reports them, else the training step."""
    ck = results.drop_duplicates("checkpoint").set_index("checkpoint")
    if (ck["tokens"] > 0).sum() >= len(ck) - 1 and ck["tokens"].nunique() == len(ck):
        return "tokens", ck["tokens"].astype(float)
    return "step", ck["step"].astype(float)


def _set_log(ax, xs: np.ndarray) -> None:
    """Log x scale; symlog when a checkpoint sits at zero (the initial weights)."""
    positive = xs[xs > 0]
    if len(positive) == 0:
        return
    if (xs <= 0).any():
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    else:
        ax.set_xscale("log")


def success_over_training(
    results: pd.DataFrame,
    setting: str = "seen",
    position: str = "last",
    layer: int | None = None,
) -> Plot:
    """Exact-match success per output language over training, Wilson 95% bands, phase boundary."""
    layer = best_layer(results, setting, position) if layer is None else layer
    title = "Success over training per output language"
    caption = (
        f"Exact-match rate at patch layer j = {layer} (setting '{setting}', "
        f"position '{position}'), shaded: Wilson 95% interval; dashed lines: unseen output "
        "languages; grey dotted: rate of saying C without a patch."
    )
    rows = patched(results, setting, position)
    rows = rows[rows["layer"] == layer] if layer is not None else rows
    if rows.empty:
        return Plot(title, caption, note=f"No patched trials with setting '{setting}' and "
                    f"position '{position}'; figure skipped.")
    if rows["checkpoint"].nunique() < 2:
        return Plot(title, caption, note="Only one checkpoint in the results: a curve over "
                    "training needs at least two; figure skipped.")
    axis, x_of = _x_axis(results)
    rate = _exact_rate(rows, ["output_lang", "checkpoint"])
    rate["x"] = rate["checkpoint"].map(x_of)
    low, high = proportion_confint(rate["k"], rate["n"], alpha=0.05, method="wilson")
    rate["low"], rate["high"] = np.asarray(low), np.asarray(high)
    seen = rows.drop_duplicates("output_lang").set_index("output_lang")["output_seen"]

    fig = Figure(figsize=(9.5, 4.8))
    ax = fig.add_subplot()
    langs = sorted(rate["output_lang"].unique(), key=lambda g: (not bool(seen.get(g, True)), g))
    for lang in langs:
        part = rate[rate["output_lang"] == lang].sort_values("x")
        unseen = not bool(seen.get(lang, True))
        (line,) = ax.plot(part["x"], part["rate"], marker="o", markersize=4,
                          linestyle="--" if unseen else "-",
                          label=f"{lang} (unseen)" if unseen else str(lang))
        ax.fill_between(part["x"], part["low"], part["high"], color=line.get_color(), alpha=0.15,
                        linewidth=0)
    base = results[results["setting"] == "unpatched"]
    if not base.empty:
        b = _exact_rate(base, ["checkpoint"])
        b["x"] = b["checkpoint"].map(x_of)
        b = b.sort_values("x")
        ax.plot(b["x"], b["rate"], color="grey", linestyle=":", linewidth=1.5,
                label="no patch (any lang)")
    _set_log(ax, rate["x"].to_numpy())
    boundary = phase_boundary(results)
    if boundary is not None:
        bx = float(x_of[boundary])
        ax.axvspan(bx, float(x_of.max()), color="#f4a582", alpha=0.12, linewidth=0)
        ax.axvline(bx, color="#b2182b", linestyle="--", linewidth=1.2)
        ax.text(bx, 1.02, " phase 2", color="#b2182b", fontsize=8, va="bottom")
    ax.set_ylim(-0.02, 1.08)
    ax.set_xlabel(f"{axis} (log scale)")
    ax.set_ylabel("exact-match rate")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    note = "" if boundary is not None else (
        "No phase-2 checkpoint follows a phase-1 one in the results: no phase boundary marked.")
    return Plot(title, caption, png=fig_to_base64(fig), note=note)


def category_bars(
    results: pd.DataFrame,
    setting: str = "seen",
    position: str = "last",
    layer: int | None = None,
) -> Plot:
    """Outcome categories per checkpoint as stacked bars, seen and unseen output languages apart."""
    layer = best_layer(results, setting, position) if layer is None else layer
    title = "Outcome categories per checkpoint (error analysis)"
    caption = (
        f"Share of each outcome category at patch layer j = {layer} (setting '{setting}', "
        f"position '{position}'); manual labels replace automatic categories where annotated."
    )
    rows = patched(results, setting, position)
    rows = rows[rows["layer"] == layer] if layer is not None else rows
    if rows.empty:
        return Plot(title, caption, note=f"No patched trials with setting '{setting}' and "
                    f"position '{position}'; figure skipped.")
    order = [c for c in checkpoint_order(results) if c in set(rows["checkpoint"])]
    labels = outcome(rows)
    present = set(labels)
    cats = [c for c in CATEGORY_ORDER if c in present] + sorted(present - set(CATEGORY_ORDER))
    groups = [(True, "seen output languages"), (False, "unseen output languages")]
    groups = [(flag, name) for flag, name in groups if (rows["output_seen"] == flag).any()]
    boundary = phase_boundary(results)
    fig = Figure(figsize=(min(3.5 + 0.55 * len(order), 14.0) * (1 + 0.55 * (len(groups) - 1)), 4.6))
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)[0]
    for ax, (flag, name) in zip(axes, groups, strict=True):
        sub = rows["output_seen"] == flag
        share = pd.crosstab(rows.loc[sub, "checkpoint"], labels[sub], normalize="index")
        share = share.reindex(index=[c for c in order if c in share.index], columns=cats,
                              fill_value=0.0)
        bottom = np.zeros(len(share))
        for cat in cats:
            ax.bar(range(len(share)), share[cat].to_numpy(), bottom=bottom, width=0.8,
                   color=_CATEGORY_COLOURS.get(cat, "#cccccc"), label=cat, edgecolor="white",
                   linewidth=0.4)
            bottom += share[cat].to_numpy()
        ax.set_xticks(range(len(share)), labels=list(share.index), rotation=45, ha="right",
                      fontsize=8)
        if boundary in share.index:
            ax.axvline(list(share.index).index(boundary) - 0.5, color="#b2182b", linestyle="--")
        pad = max(0.0, (4 - len(share)) / 2)  # keep a lone bar from filling the panel
        ax.set_xlim(-0.6 - pad, len(share) - 0.4 + pad)
        ax.set_title(name, fontsize=10)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("share of trials")
    handles, names = axes[0].get_legend_handles_labels()
    axes[-1].legend(handles[::-1], names[::-1], loc="center left", bbox_to_anchor=(1.01, 0.5),
                    fontsize=8, frameon=False)
    return Plot(title, caption, png=fig_to_base64(fig))

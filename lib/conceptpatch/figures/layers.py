"""Figures over the patch layer: the layer x checkpoint heatmap, the bands, layer curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from conceptpatch.claims.common import BANDS, Design
from conceptpatch.figures.common import (
    BAND_COLOURS,
    BAND_TEXT,
    CLAIM_SIZE,
    SETTING_COLOURS,
    Plot,
    band_label,
    band_label_of,
    band_rows,
    band_spans,
    checkpoint_order,
    declared_design,
    exact_rate,
    fig_to_base64,
    figure_csv,
    final_checkpoint,
    patched,
    phase_boundary,
    rate_of,
    seen_patched,
    six_categories,
    with_gaps,
)

__all__ = ["induction_layers", "layer_curves", "layer_heatmap"]


def layer_heatmap(results: pd.DataFrame, setting: str = "seen", position: str = "last",
                  seen_outputs: bool = False, design: Design | None = None) -> Plot:
    """Heatmap of exact-match success over patch layer (rows) x checkpoint (columns, by step).

    ``seen_outputs``: only seen output languages; ``design``: draw the mid and late bands (the
    paper's depth fractions scaled by the model's depth) and mark the declared band.
    """
    title = "Success over patch layer × checkpoint"
    outputs = "seen output languages" if seen_outputs else "output languages"
    caption = (
        f"Exact-match rate of the source concept C, setting '{setting}', position '{position}', "
        f"pooled over {outputs}; layer j means patched at j and every later layer."
    )
    rows = patched(results, setting, position)
    if seen_outputs:
        rows = rows[rows["output_seen"].astype(bool)]
    if rows.empty:
        return Plot(title, caption, note=f"No patched trials with setting '{setting}' and "
                    f"position '{position}' in the results; figure skipped.")
    order = [c for c in checkpoint_order(results) if c in set(rows["checkpoint"])]
    rate = exact_rate(rows, ["layer", "checkpoint"])
    grid = rate.pivot(index="layer", columns="checkpoint", values="rate").reindex(columns=order)
    grid = grid.sort_index()
    n_rows, n_cols = grid.shape
    width = min(3.0 + 0.7 * n_cols, 7.6 if design is not None else 16.0)
    fig = Figure(figsize=(width, min(1.6 + 0.35 * n_rows, 12.0 if design is None else 7.0)))
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
    if design is not None:
        n_layers = int(rows["n_layers"].iloc[0])
        _draw_bands(ax, [int(v) for v in grid.index], n_layers, design, n_cols)
        caption += (" Brackets: the paper's layer bands (6–14 and 16+ of its 24 layers) scaled "
                    f"by the model's depth ({band_spans(n_layers)}); the declared band is drawn "
                    "solid.")
    fig.colorbar(im, ax=ax, label="exact-match rate", pad=0.07 if design is not None else 0.05)
    return Plot(title, caption, png=fig_to_base64(fig), data=figure_csv(fig))


def _draw_bands(ax, layers: list[int], n_layers: int, design: Design, n_cols: int) -> None:
    """The mid and late bands on a layer-rows heatmap (edges across, a bracket at the right,
    named in a legend below), the declared band solid, the others dashed."""
    from matplotlib.lines import Line2D

    declared = design.band
    shown: list[tuple[str, str | tuple[int, ...]]] = [("mid", "mid"), ("late", "late")]
    if not isinstance(declared, str):
        shown.append(("declared", tuple(declared)))
    elif declared not in ("mid", "late"):
        shown.append((declared, declared))
    handles = []
    for k, (name, band) in enumerate(shown):
        pos = band_rows(layers, n_layers, band)
        if not pos:
            continue
        lo, hi = min(pos) - 0.5, max(pos) + 0.5
        solid = band == declared or name == "declared"
        colour = BAND_COLOURS.get(name, "#e41a1c")
        style = "-" if solid else "--"
        for y in (lo, hi):
            ax.axhline(y, color=colour, linewidth=2.0 if solid else 1.4, linestyle=style)
        bx = n_cols - 0.5 + 0.15 + 0.2 * k
        ax.plot([bx, bx], [lo + 0.06, hi - 0.06], color=colour, linewidth=4, clip_on=False,
                solid_capstyle="butt")
        label = band_label(name) if name in BANDS else "declared layers"
        handles.append(Line2D([], [], color=colour, linewidth=2, linestyle=style,
                              label=label + (" · declared" if solid and name in BANDS else "")))
    ax.set_xlim(-0.5, n_cols - 0.5)
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2,
                  fontsize=8, frameon=False)


def induction_layers(results: pd.DataFrame, design: Design | None = None,
                     position: str = "last") -> Plot:
    """Exact rate per first patched layer at the final checkpoint, per source setting, against
    the unpatched rate of saying C; the mid and late bands shaded (concept induction)."""
    design = declared_design(design)
    final = final_checkpoint(results)
    title = "Exact rate per patch layer at the final checkpoint"
    caption = (
        f"Checkpoint {final}, seen output languages pooled: exact rate of C per first patched "
        f"layer, one line per source setting, shaded: {BAND_TEXT}; grey: the unpatched rate of "
        "saying C on the same trials; shaded: the paper's mid and late bands scaled by depth "
        f"(declared: {band_label_of(design)}).")
    data = results[results["checkpoint"] == final] if final is not None else results
    fig = Figure(figsize=CLAIM_SIZE)
    ax = fig.add_subplot()
    drawn = False
    n_layers = None
    for setting in ("seen", "en_en"):
        rows = seen_patched(data, setting, position)
        if rows.empty:
            continue
        n_layers = int(rows["n_layers"].iloc[0])
        r = with_gaps(rate_of(rows, "exact", ["layer"]))
        colour = SETTING_COLOURS[setting]
        ax.plot(r["layer"], r["rate"], marker="o", markersize=4, color=colour,
                label=f"{setting} sources")
        ax.fill_between(r["layer"], r["low"], r["high"], color=colour, alpha=0.15, linewidth=0)
        drawn = True
    if not drawn:
        return Plot(title, caption, note="No patched trials into seen output languages at the "
                    "final checkpoint; figure skipped.")
    base = data[(data["setting"] == "unpatched") & data["output_seen"].astype(bool)]
    if not base.empty:
        ax.axhline(float((six_categories(base) == "exact").mean()), color="grey", linestyle="-",
                   linewidth=1.5, label="unpatched: says C")
    layers = sorted(int(j) for j in patched(data, "seen", position)["layer"].unique()) or \
        sorted(int(j) for j in data.loc[data["layer"] >= 0, "layer"].unique())
    _layer_axes(ax, layers, n_layers or 1, design, "rate", legend_columns=3)
    return Plot(title, caption, png=fig_to_base64(fig), data=figure_csv(fig))


def _layer_axes(ax, layers: list[int], n_layers: int, design: Design, ylabel: str,
                legend_columns: int) -> None:
    """A rate-by-first-layer axis: the mid and late bands shaded and named (the declared one
    marked), layer ticks, a grid, the legend below."""
    for name in ("mid", "late"):
        pos = band_rows(layers, n_layers, name)
        if pos:
            lo, hi = layers[min(pos)] - 0.5, layers[max(pos)] + 0.5
            ax.axvspan(lo, hi, color=BAND_COLOURS[name], alpha=0.10, linewidth=0)
            ax.text((lo + hi) / 2, 1.03, name + (" (declared)" if design.band == name else ""),
                    ha="center", va="bottom", fontsize=8, color=BAND_COLOURS[name])
    ax.set_ylim(-0.02, 1.1)
    ax.set_xlabel("first patched layer j")
    ax.set_ylabel(ylabel)
    ax.set_xticks(layers)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=legend_columns,
              fontsize=8, frameon=False)


def layer_curves(results: pd.DataFrame, design: Design | None = None, setting: str = "seen",
                 position: str = "last") -> Plot:
    """Exact rate of C per first patched layer, one line per seen output language and their
    pool, at the final checkpoint: the layer figure of a suite with one checkpoint, where a
    heatmap would be a single column."""
    design = declared_design(design)
    final = final_checkpoint(results)
    data = results[results["checkpoint"] == final] if final is not None else results
    rows = seen_patched(data, setting, position)
    title = "Success over patch layer, by output language"
    if rows.empty:
        return Plot(title, "", note=f"No patched '{setting}' trials into seen output languages "
                    "at the final checkpoint; figure skipped.")
    n_layers = int(rows["n_layers"].iloc[0])
    caption = (
        f"Checkpoint {final}, setting '{setting}', position '{position}': exact rate of C per "
        "first patched layer j (patched at j and every later layer), one line per seen output "
        f"language, the pooled rate in black with its {BAND_TEXT}; shaded: the paper's bands "
        f"scaled by depth ({band_spans(n_layers)}; declared: {band_label_of(design)}).")
    fig = Figure(figsize=CLAIM_SIZE)
    ax = fig.add_subplot()
    by_lang = rate_of(rows, "exact", ["output_lang", "layer"])
    for k, (lang, r) in enumerate(by_lang.groupby("output_lang", sort=True)):
        r = with_gaps(r)
        ax.plot(r["layer"], r["rate"], marker="o", markersize=3, linewidth=1.2,
                color=f"C{k % 10}", label=str(lang))
    pooled = with_gaps(rate_of(rows, "exact", ["layer"]))
    ax.plot(pooled["layer"], pooled["rate"], color="black", linewidth=2.4, marker="o",
            markersize=3, label="pooled")
    ax.fill_between(pooled["layer"], pooled["low"], pooled["high"], color="black", alpha=0.12,
                    linewidth=0)
    layers = sorted(int(j) for j in rows["layer"].unique())
    _layer_axes(ax, layers, n_layers, design, "exact rate of C", legend_columns=6)
    return Plot(title, caption, png=fig_to_base64(fig), data=figure_csv(fig))

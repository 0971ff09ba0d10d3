"""The error-analysis figure: outcome categories per checkpoint as stacked bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from conceptpatch.figures.common import (
    CATEGORY_COLOURS,
    CATEGORY_ORDER,
    Plot,
    best_layer,
    checkpoint_order,
    fig_to_base64,
    figure_csv,
    layer_text,
    outcome,
    patched,
    phase_boundary,
)

__all__ = ["category_bars"]


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
        f"Share of each outcome category at {layer_text(layer, 'patch layer')} (setting "
        f"'{setting}', position '{position}'); manual labels replace automatic categories "
        "where annotated."
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
                   color=CATEGORY_COLOURS.get(cat, "#cccccc"), label=cat, edgecolor="white",
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
    return Plot(title, caption, png=fig_to_base64(fig), data=figure_csv(fig))

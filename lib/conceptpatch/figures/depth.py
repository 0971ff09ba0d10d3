"""The figure of models compared by depth (`conceptpatch.depth`): exact rate on one depth axis.

Top panel: each model's exact rate by first patched layer at its layers' relative depth, with
its concept-clustered interval band, and its concept band shaded. Bottom panel: each model's
band as a bar from start to end, the bootstrap intervals of start (above the bar), end (below)
and centre (on it) as whiskers, and the paper's mid band (0.25-0.6 of depth) for reference. A
band that is not clear of the floor (`conceptpatch.depth.ModelDepth.clear`) is drawn faint and
not shaded above.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from conceptpatch.claims.common import BANDS
from conceptpatch.depth import Comparison, ModelDepth
from conceptpatch.figures.common import with_gaps

__all__ = ["depth_figure", "model_colour"]

_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
            "#666666")


def model_colour(index: int) -> str:
    """The colour of the ``index``-th model (the same in both panels)."""
    return _COLOURS[index % len(_COLOURS)]


def _legend(model: ModelDepth) -> str:
    ability = model.translation.value
    said = "—" if math.isnan(ability) else f"{ability:.2f}"
    return f"{model.label} ({model.n_layers} layers; translation {said})"


def depth_figure(comparison: Comparison) -> Figure:
    """The comparison's figure (matplotlib, no pyplot): curves above, bands below."""
    models = comparison.models
    fig = Figure(figsize=(8.4, 5.2 + 0.32 * len(models)))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3.2, 0.6 + 0.35 * len(models)])
    for i, model in enumerate(models):
        colour = model_colour(i)
        curve = with_gaps(model.curve)
        x = (curve["layer"].to_numpy(dtype=float) + 0.5) / model.n_layers
        top.plot(x, curve["rate"], marker="o", markersize=3.5, color=colour, label=_legend(model))
        top.fill_between(x, curve["low"], curve["high"], color=colour, alpha=0.18, linewidth=0)
        if model.clear:  # a band of noise (peak not above the floor) is not shaded
            top.axvspan(model.start.value, model.end.value, color=colour, alpha=0.08,
                        linewidth=0)
    top.set_ylabel(f"exact rate (setting '{comparison.setting}')")
    top.set_ylim(bottom=0)
    top.legend(fontsize=8, loc="upper right")
    top.set_title(f"Exact rate by first patched layer; {comparison.level:.0%} concept-clustered"
                  " intervals; concept band shaded", fontsize=10)
    lo, hi = BANDS["mid"]
    bottom.axvspan(lo, hi, color="#dddddd", alpha=0.6, linewidth=0, label="paper's mid band")
    for i, model in enumerate(models):
        y = len(models) - 1 - i
        colour = model_colour(i)
        if model.band_layers is None:
            bottom.text(0.01, y, "no band (peak exact rate 0)", va="center", fontsize=8)
            continue
        bottom.plot([model.start.value, model.end.value], [y, y], color=colour, linewidth=7,
                    alpha=0.55 if model.clear else 0.2, solid_capstyle="butt")
        if not model.clear:
            bottom.text(0.01, y + 0.3, "not clear: peak not above the unpatched floor",
                        va="center", fontsize=7, color="#59636e")
        for edge, marker, offset in (("start", "|", 0.22), ("end", "|", -0.22),
                                     ("centre", "D", 0.0)):
            at = model.edge(edge)
            if np.isfinite([at.low, at.high]).all():  # its bootstrap interval: a whisker
                bottom.plot([at.low, at.high], [y + offset] * 2, color=colour, linewidth=1.2)
            bottom.plot([at.value], [y], marker=marker, color="black" if edge == "centre"
                        else colour, markersize=5 if edge == "centre" else 11)
    bottom.set_yticks(range(len(models)), labels=[m.label for m in reversed(models)],
                      fontsize=8)
    bottom.set_ylim(-0.7, len(models) - 0.3)
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("relative depth (layer j occupies [j/n, (j+1)/n); points at its middle)")
    bottom.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig

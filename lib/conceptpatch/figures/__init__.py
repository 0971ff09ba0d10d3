"""Figures of the claim report: matplotlib (object API, Agg canvas, no pyplot state) as base64 PNG.

Each figure function takes the results table (contract schema, optionally with the manual ``label``
column of :func:`conceptpatch.annotate.apply_annotations`) and returns a :class:`Plot`: either the
PNG, or a one-line note saying why the figure was skipped, so a report is written from any data.

The figures are grouped by what they show (layers, training, languages, categories, depth), one
module each; the package keeps their names importable from one place.
"""

from conceptpatch.figures.categories import category_bars
from conceptpatch.figures.common import (
    CATEGORY_ORDER,
    Plot,
    band_best_layer,
    band_spans,
    best_layer,
    checkpoint_order,
    fig_to_base64,
    outcome,
    patched,
    phase_boundary,
)
from conceptpatch.figures.languages import language_rates, unseen_bars
from conceptpatch.figures.layers import induction_layers, layer_curves, layer_heatmap
from conceptpatch.figures.training import claim_curves, phase_two_bars, success_over_training

__all__ = [
    "CATEGORY_ORDER",
    "Plot",
    "band_best_layer",
    "band_spans",
    "best_layer",
    "category_bars",
    "checkpoint_order",
    "claim_curves",
    "fig_to_base64",
    "induction_layers",
    "language_rates",
    "layer_curves",
    "layer_heatmap",
    "outcome",
    "patched",
    "phase_boundary",
    "phase_two_bars",
    "success_over_training",
    "unseen_bars",
]

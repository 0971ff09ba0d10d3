"""What every figure shares: `Plot`, PNG encoding, colours, trial selection and rates."""

from __future__ import annotations

import base64
import io
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from conceptpatch import clustered
from conceptpatch.claims.common import BANDS, Design, band_of
from conceptpatch.vocabulary import LABEL_TO_CATEGORY, LABELS

__all__ = [
    "ALPHA",
    "BAND_COLOURS",
    "BAND_TEXT",
    "CATEGORY_COLOURS",
    "CATEGORY_ORDER",
    "CLAIM_SIZE",
    "SETTING_COLOURS",
    "Plot",
    "band_best_layer",
    "band_label",
    "band_label_of",
    "band_rows",
    "band_spans",
    "best_layer",
    "checkpoint_order",
    "clustered_rates",
    "declared_design",
    "exact_rate",
    "fig_to_base64",
    "figure_csv",
    "final_checkpoint",
    "layer_text",
    "outcome",
    "patched",
    "phase_boundary",
    "rate_of",
    "seen_patched",
    "six_categories",
]


# Each category with the finer manual labels it covers (the vocabulary's one order), so colours
# and stacking stay fixed across reports.
CATEGORY_ORDER: tuple[str, ...] = LABELS
CATEGORY_COLOURS = {
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
BAND_COLOURS = {"early": "#8c8c8c", "mid": "#e7298a", "late": "#ff7f00"}
#: The level of each edge of a rate's band in a figure: the claims' alpha (every `Claim` declares
#: 0.05), so an edge is the one-sided bound a verdict uses (`clustered_rates`).
ALPHA = 0.05
#: How a caption names such a band.
BAND_TEXT = "concept-clustered 90% interval (each end the one-sided 95% bound a verdict uses)"
SETTING_COLOURS = {"seen": "#1b9e77", "en_en": "#7570b3"}
#: The size of a claim figure (one per claim block of the report).
CLAIM_SIZE = (7.6, 3.9)
_DPI = 110


@dataclass(frozen=True)
class Plot:
    """One report figure: a base64 PNG, or ``png=None`` and the note saying why it is missing."""

    title: str
    caption: str
    png: str | None = None
    note: str = ""
    data: str = ""  # the numbers drawn, as CSV (figure_csv): what the reader can download


def _label(artist: object) -> str:
    label = str(artist.get_label()) if hasattr(artist, "get_label") else ""
    return "" if label.startswith("_") else label


def with_gaps(frame: pd.DataFrame, column: str = "layer") -> pd.DataFrame:
    """``frame`` sorted by ``column`` with a row of NaN between values that are not adjacent
    integers, so that a line and its band break there instead of bridging layers nobody
    computed (a suite with ``layers = [2, 14]`` draws two points, not a line between them)."""
    frame = frame.sort_values(column)
    values = frame[column].to_numpy()
    gaps = [(a + b) / 2 for a, b in itertools.pairwise(values) if b - a > 1]
    if not gaps:
        return frame
    filler = pd.DataFrame({column: gaps})
    return pd.concat([frame, filler], ignore_index=True).sort_values(column, kind="stable")


def figure_csv(fig: Figure) -> str:
    """The numbers a figure draws, as CSV: every labelled line's points, every bar (height and
    bottom) and every heatmap cell, with its panel, series and x / y (tick labels where the
    axis has them)."""
    rows = []
    for i, ax in enumerate(fig.axes):
        panel = ax.get_title() or f"panel {i + 1}"
        xticks = {round(t, 6): x.get_text() for t, x in zip(ax.get_xticks(),
                                                             ax.get_xticklabels(), strict=False)}
        yticks = {round(t, 6): y.get_text() for t, y in zip(ax.get_yticks(),
                                                             ax.get_yticklabels(), strict=False)}
        for line in ax.get_lines():
            if not _label(line):
                continue
            for x, y in zip(np.asarray(line.get_xdata(), dtype=float),
                            np.asarray(line.get_ydata(), dtype=float), strict=True):
                if np.isnan(y):  # a gap (`with_gaps`), not a number the figure draws
                    continue
                rows.append((panel, _label(line), xticks.get(round(x, 6)) or f"{x:g}", "", y))
        for container in ax.containers:
            if not isinstance(container, BarContainer):  # error bars: drawn from the same rates
                continue
            for bar in container:
                x = bar.get_x() + bar.get_width() / 2
                rows.append((panel, _label(container), xticks.get(round(x, 6)) or f"{x:g}",
                             f"bottom {bar.get_y():.6g}", bar.get_height()))
        for image in ax.get_images():
            grid = np.asarray(image.get_array(), dtype=float)
            for (r, c), value in np.ndenumerate(grid):
                rows.append((panel, "cell", xticks.get(round(float(c), 6)) or str(c),
                             yticks.get(round(float(r), 6)) or str(r), value))
    frame = pd.DataFrame(rows, columns=["panel", "series", "x", "y_or_row", "value"])
    return frame.to_csv(index=False)


def fig_to_base64(fig: Figure) -> str:
    """Render a Figure with the Agg canvas to a base64-encoded PNG string."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def layer_text(layer: int | None, name: str = "layer") -> str:
    """A caption's layer, "layer j = 3", or the words for none: never "layer j = None"."""
    return f"{name} j = {layer}" if layer is not None else "no layer (none has patched rows)"


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


def exact_rate(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Exact-match successes, trials and rate per group."""
    hit = (outcome(rows) == "exact").astype(int)
    grouped = hit.groupby([rows[c] for c in by]).agg(["sum", "count"])
    grouped = grouped.rename(columns={"sum": "k", "count": "n"}).reset_index()
    grouped["rate"] = grouped["k"] / grouped["n"]
    return grouped


def band_rows(layers: list[int], n_layers: int, band: str | tuple[int, ...]) -> list[int]:
    """Positions in ``layers`` of the layers in ``band`` (a BANDS name, or layers)."""
    if isinstance(band, str):
        return [i for i, j in enumerate(layers) if band_of(j, n_layers) == band]
    return [i for i, j in enumerate(layers) if j in set(band)]


def band_label(name: str) -> str:
    """A BANDS name with its depth fractions, for a legend."""
    lo, hi = BANDS[name]
    return f"{name} band ({lo:g}–{hi:g} of depth)"


def band_spans(n_layers: int) -> str:
    """The paper's mid and late bands in this model's layers, e.g. "mid: layers 5–10 of 18,
    late: 12+ of 18" (the paper's 6–14 and 16+ of 24 scaled by depth)."""
    parts = []
    for name in ("mid", "late"):
        inside = [j for j in range(n_layers) if band_of(j, n_layers) == name]
        if not inside:
            parts.append(f"{name}: no layer of {n_layers}")
        elif name == "late" and inside[-1] == n_layers - 1:
            parts.append(f"{name}: {inside[0]}+ of {n_layers}")
        else:
            parts.append(f"{name}: layers {inside[0]}–{inside[-1]} of {n_layers}")
    return ", ".join(parts)


# ---- helpers of the claim figures: one figure per claim block of the report -----------------
#
# Seen sources (setting 'seen', or each source setting where said), seen output languages, the
# declared band of the suite's ``[claims]`` design; the layer shown is the band layer with the
# highest exact rate, so a figure never shows a layer the claim did not look at.


def six_categories(rows: pd.DataFrame) -> pd.Series:
    """Outcomes on the claims' six categories (manual labels mapped; unknown labels kept)."""
    labels = outcome(rows)
    return labels.map(LABEL_TO_CATEGORY).fillna(labels)


def seen_patched(results: pd.DataFrame, setting: str = "seen",
                  position: str = "last") -> pd.DataFrame:
    """Patched trials of one setting and position into seen output languages."""
    rows = patched(results, setting, position)
    return rows[rows["output_seen"].astype(bool)]


def declared_design(design: Design | None) -> Design:
    """The suite's design, or the default one when the suite declares none."""
    return design if design is not None else Design()


def band_label_of(design: Design) -> str:
    """The declared band in words: ``"mid band"`` or ``"layers 3,4"``."""
    band = design.band
    return f"{band} band" if isinstance(band, str) else "layers " + ",".join(map(str, band))


def band_best_layer(results: pd.DataFrame, design: Design | None = None, setting: str = "seen",
                    position: str = "last", checkpoint: str | None = None) -> int | None:
    """The declared band's layer with the highest exact rate (seen output languages; one
    checkpoint or all pooled); None when the band has no patched rows."""
    rows = seen_patched(results, setting, position)
    if checkpoint is not None:
        rows = rows[rows["checkpoint"] == checkpoint]
    if rows.empty:
        return None
    band = declared_design(design).band
    layers = sorted(int(j) for j in rows["layer"].unique())
    n_layers = int(rows["n_layers"].iloc[0])
    keep = [layers[i] for i in band_rows(layers, n_layers,
                                          band if isinstance(band, str) else tuple(band))]
    rows = rows[rows["layer"].isin(keep)]
    if rows.empty:
        return None
    rate = (six_categories(rows) == "exact").groupby(rows["layer"]).mean()
    return int(rate.idxmax())


def clustered_rates(hit: pd.Series, rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of ``rows`` by the columns ``by``: successes of ``hit`` (k, a boolean or 0/1
    series on ``rows``' index), trials (n), rate and its bounds ``low``/``high``.

    The bounds are those of the verdicts: `conceptpatch.clustered.rate` with the rows' source
    ``concept`` as the cluster (Wilson at the Rao–Scott effective n) at :data:`ALPHA`, the claims'
    level, each edge one-sided; together they form a 1 - 2 :data:`ALPHA` (90%) interval.
    """
    hit = hit.astype(int)
    keys = [rows[c] for c in by]
    out = hit.groupby(keys).agg(["sum", "count"])
    concepts = rows["concept"].astype(str)
    bounds = {}
    for key, part in hit.groupby(keys):
        est = clustered.rate(part.to_numpy(dtype=bool), concepts.loc[part.index].to_numpy(),
                             ALPHA)
        bounds[key if isinstance(key, tuple) else (key,)] = (est.low, est.high)
    edges = [bounds[key if isinstance(key, tuple) else (key,)] for key in out.index]
    out = out.reset_index().rename(columns={"sum": "k", "count": "n"})
    out["rate"] = out["k"] / out["n"]
    out["low"] = np.array([low for low, _ in edges], dtype=float)
    out["high"] = np.array([high for _, high in edges], dtype=float)
    return out


def rate_of(rows: pd.DataFrame, what: str, by: list[str]) -> pd.DataFrame:
    """Per group: trials whose claim category is ``what`` (k), trials (n), rate and the
    concept-clustered bounds the verdicts use (`clustered_rates`)."""
    return clustered_rates(six_categories(rows) == what, rows, by)


def final_checkpoint(results: pd.DataFrame) -> str | None:
    """The last checkpoint by training step, or None for empty results."""
    order = checkpoint_order(results)
    return order[-1] if order else None

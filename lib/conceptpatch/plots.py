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

from conceptpatch.claims.common import BANDS, LABEL_TO_CATEGORY, Design, band_of

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


def _band_rows(layers: list[int], n_layers: int, band: str | tuple[int, ...]) -> list[int]:
    """Positions in ``layers`` of the layers in ``band`` (a BANDS name, or layers)."""
    if isinstance(band, str):
        return [i for i, j in enumerate(layers) if band_of(j, n_layers) == band]
    return [i for i, j in enumerate(layers) if j in set(band)]


def _band_label(name: str) -> str:
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
    rate = _exact_rate(rows, ["layer", "checkpoint"])
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
    return Plot(title, caption, png=fig_to_base64(fig))


_BAND_COLOURS = {"early": "#8c8c8c", "mid": "#e7298a", "late": "#ff7f00"}


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
        pos = _band_rows(layers, n_layers, band)
        if not pos:
            continue
        lo, hi = min(pos) - 0.5, max(pos) + 0.5
        solid = band == declared or name == "declared"
        colour = _BAND_COLOURS.get(name, "#e41a1c")
        style = "-" if solid else "--"
        for y in (lo, hi):
            ax.axhline(y, color=colour, linewidth=2.0 if solid else 1.4, linestyle=style)
        bx = n_cols - 0.5 + 0.15 + 0.2 * k
        ax.plot([bx, bx], [lo + 0.06, hi - 0.06], color=colour, linewidth=4, clip_on=False,
                solid_capstyle="butt")
        label = _band_label(name) if name in BANDS else "declared layers"
        handles.append(Line2D([], [], color=colour, linewidth=2, linestyle=style,
                              label=label + (" · declared" if solid and name in BANDS else "")))
    ax.set_xlim(-0.5, n_cols - 0.5)
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2,
                  fontsize=8, frameon=False)


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


# ---- claim figures: one per claim block of the report ----------------------------------------
#
# Seen sources (setting 'seen', or each source setting where said), seen output languages, the
# declared band of the suite's ``[claims]`` design; the layer shown is the band layer with the
# highest exact rate, so a figure never shows a layer the claim did not look at.

_CLAIM_SIZE = (7.6, 3.9)
_SETTING_COLOURS = {"seen": "#1b9e77", "en_en": "#7570b3"}


def _six(rows: pd.DataFrame) -> pd.Series:
    """Outcomes on the claims' six categories (manual labels mapped; unknown labels kept)."""
    labels = outcome(rows)
    return labels.map(LABEL_TO_CATEGORY).fillna(labels)


def _seen_patched(results: pd.DataFrame, setting: str = "seen",
                  position: str = "last") -> pd.DataFrame:
    rows = patched(results, setting, position)
    return rows[rows["output_seen"].astype(bool)]


def _declared(design: Design | None) -> Design:
    return design if design is not None else Design()


def _band_label_of(design: Design) -> str:
    band = design.band
    return f"{band} band" if isinstance(band, str) else "layers " + ",".join(map(str, band))


def band_best_layer(results: pd.DataFrame, design: Design | None = None, setting: str = "seen",
                    position: str = "last", checkpoint: str | None = None) -> int | None:
    """The declared band's layer with the highest exact rate (seen output languages; one
    checkpoint or all pooled); None when the band has no patched rows."""
    rows = _seen_patched(results, setting, position)
    if checkpoint is not None:
        rows = rows[rows["checkpoint"] == checkpoint]
    if rows.empty:
        return None
    band = _declared(design).band
    layers = sorted(int(j) for j in rows["layer"].unique())
    n_layers = int(rows["n_layers"].iloc[0])
    keep = [layers[i] for i in _band_rows(layers, n_layers,
                                          band if isinstance(band, str) else tuple(band))]
    rows = rows[rows["layer"].isin(keep)]
    if rows.empty:
        return None
    rate = (_six(rows) == "exact").groupby(rows["layer"]).mean()
    return int(rate.idxmax())


def _wilson(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def _rate_of(rows: pd.DataFrame, what: str, by: list[str]) -> pd.DataFrame:
    hit = (_six(rows) == what).astype(int)
    out = hit.groupby([rows[c] for c in by]).agg(["sum", "count"]).reset_index()
    out = out.rename(columns={"sum": "k", "count": "n"})
    out["rate"] = out["k"] / out["n"]
    out["low"], out["high"] = _wilson(out["k"].to_numpy(), out["n"].to_numpy())
    return out


def _fractions(results: pd.DataFrame) -> tuple[str, pd.Series]:
    """Each checkpoint's fraction of training (tokens when every checkpoint has them)."""
    first = results.groupby("checkpoint")[["step", "tokens"]].first()
    axis = "tokens" if (first["tokens"] > 0).all() else "step"
    values = first[axis].astype(float)
    end = float(values.max())
    return axis, values / end if end > 0 else values * 0.0


def _final(results: pd.DataFrame) -> str | None:
    order = checkpoint_order(results)
    return order[-1] if order else None


def claim_curves(results: pd.DataFrame, design: Design | None = None,
                 position: str = "last") -> Plot:
    """Exact rate over training at the best layer of the declared band against the unpatched
    rates, the early-training window shaded (early emergence, stability, the gate)."""
    from conceptpatch.claims.common import axes_from_results, reference_checkpoint

    design = _declared(design)
    title = "Exact rate over training"
    layer = band_best_layer(results, design, "seen", position)
    caption = (
        f"Seen sources, seen output languages pooled: exact rate of C at layer j = {layer} (the "
        f"{_band_label_of(design)} layer with the highest rate), Wilson 95% band; grey: the "
        "unpatched rate of saying C (the baseline) and, dotted, of translating D (translation "
        f"ability). Shaded: the first {design.early_fraction:.0%} of training, where early "
        "emergence is tested; ▼ the stability reference.")
    if layer is None:
        return Plot(title, caption, note="No patched 'seen' trials into seen output languages "
                    "at the declared band; figure skipped.")
    rows = _seen_patched(results, "seen", position)
    rows = rows[rows["layer"] == layer]
    if rows["checkpoint"].nunique() < 2:
        return Plot(title, caption, note="Only one checkpoint in the results: a curve over "
                    "training needs at least two; figure skipped.")
    axis, frac = _fractions(results)
    fig = Figure(figsize=_CLAIM_SIZE)
    ax = fig.add_subplot()
    ax.axvspan(0.0, design.early_fraction, color="#d9f0d3", alpha=0.6, linewidth=0)
    ax.axvline(design.early_fraction, color="#1b7837", linestyle="--", linewidth=1.2)
    ax.text(design.early_fraction, 1.03, f" early: first {design.early_fraction:.0%}",
            color="#1b7837", fontsize=8, va="bottom", ha="left")
    rate = _rate_of(rows, "exact", ["checkpoint"])
    rate["x"] = rate["checkpoint"].map(frac)
    rate = rate.sort_values("x")
    ax.plot(rate["x"], rate["rate"], marker="o", markersize=4, color="#1b9e77",
            label=f"patched, layer {layer}")
    ax.fill_between(rate["x"], rate["low"], rate["high"], color="#1b9e77", alpha=0.18,
                    linewidth=0)
    base = results[(results["setting"] == "unpatched") & results["output_seen"].astype(bool)]
    if not base.empty:
        for what, style, label in (("exact", "-", "unpatched: says C"),
                                   ("target", ":", "unpatched: translates D")):
            b = _rate_of(base, what, ["checkpoint"])
            b["x"] = b["checkpoint"].map(frac)
            b = b.sort_values("x")
            ax.plot(b["x"], b["rate"], color="grey", linestyle=style, linewidth=1.5,
                    marker=".", label=label)
    boundary = phase_boundary(results)
    if boundary is not None:
        bx = float(frac[boundary])
        ax.axvline(bx, color="#b2182b", linestyle="--", linewidth=1.2)
        ax.text(bx, 1.03, " phase 2", color="#b2182b", fontsize=8, va="bottom")
    try:
        ref = reference_checkpoint(axes_from_results(results, design))
    except Exception:  # a figure must not fail on a design it cannot read
        ref = None
    if ref in frac.index and ref in set(rate["checkpoint"]):
        y = float(rate.set_index("checkpoint").loc[ref, "rate"])
        ax.plot([float(frac[ref])], [min(y + 0.07, 1.05)], marker="v", color="black",
                markersize=7, linestyle="none", label=f"stability reference ({ref})")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.1)
    ax.set_xlabel(f"fraction of training ({axis}; last checkpoint = 1)")
    ax.set_ylabel("rate")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8,
              frameon=False)
    return Plot(title, caption, png=fig_to_base64(fig))


def induction_layers(results: pd.DataFrame, design: Design | None = None,
                     position: str = "last") -> Plot:
    """Exact rate per first patched layer at the final checkpoint, per source setting, against
    the unpatched rate of saying C; the mid and late bands shaded (concept induction)."""
    design = _declared(design)
    final = _final(results)
    title = "Exact rate per patch layer at the final checkpoint"
    caption = (
        f"Checkpoint {final}, seen output languages pooled: exact rate of C per first patched "
        "layer, one line per source setting, Wilson 95% bands; grey: the unpatched rate of "
        "saying C on the same trials; shaded: the paper's mid and late bands scaled by depth "
        f"(declared: {_band_label_of(design)}).")
    data = results[results["checkpoint"] == final] if final is not None else results
    fig = Figure(figsize=_CLAIM_SIZE)
    ax = fig.add_subplot()
    drawn = False
    n_layers = None
    for setting in ("seen", "en_en"):
        rows = _seen_patched(data, setting, position)
        if rows.empty:
            continue
        n_layers = int(rows["n_layers"].iloc[0])
        r = _rate_of(rows, "exact", ["layer"]).sort_values("layer")
        colour = _SETTING_COLOURS[setting]
        ax.plot(r["layer"], r["rate"], marker="o", markersize=4, color=colour,
                label=f"{setting} sources")
        ax.fill_between(r["layer"], r["low"], r["high"], color=colour, alpha=0.15, linewidth=0)
        drawn = True
    if not drawn:
        return Plot(title, caption, note="No patched trials into seen output languages at the "
                    "final checkpoint; figure skipped.")
    base = data[(data["setting"] == "unpatched") & data["output_seen"].astype(bool)]
    if not base.empty:
        ax.axhline(float((_six(base) == "exact").mean()), color="grey", linestyle="-",
                   linewidth=1.5, label="unpatched: says C")
    layers = sorted(int(j) for j in patched(data, "seen", position)["layer"].unique()) or \
        sorted(int(j) for j in data.loc[data["layer"] >= 0, "layer"].unique())
    for name in ("mid", "late"):
        pos = _band_rows(layers, n_layers or 1, name)
        if pos:
            lo, hi = layers[min(pos)] - 0.5, layers[max(pos)] + 0.5
            ax.axvspan(lo, hi, color=_BAND_COLOURS[name], alpha=0.10, linewidth=0)
            declared = design.band == name
            ax.text((lo + hi) / 2, 1.03, name + (" (declared)" if declared else ""),
                    ha="center", va="bottom", fontsize=8, color=_BAND_COLOURS[name])
    ax.set_ylim(-0.02, 1.1)
    ax.set_xlabel("first patched layer j")
    ax.set_ylabel("rate")
    ax.set_xticks(layers)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8,
              frameon=False)
    return Plot(title, caption, png=fig_to_base64(fig))


def layer_curves(results: pd.DataFrame, design: Design | None = None, setting: str = "seen",
                 position: str = "last") -> Plot:
    """Exact rate of C per first patched layer, one line per seen output language and their
    pool, at the final checkpoint: the layer figure of a suite with one checkpoint, where a
    heatmap would be a single column."""
    design = _declared(design)
    final = _final(results)
    data = results[results["checkpoint"] == final] if final is not None else results
    rows = _seen_patched(data, setting, position)
    title = "Success over patch layer, by output language"
    if rows.empty:
        return Plot(title, "", note=f"No patched '{setting}' trials into seen output languages "
                    "at the final checkpoint; figure skipped.")
    n_layers = int(rows["n_layers"].iloc[0])
    caption = (
        f"Checkpoint {final}, setting '{setting}', position '{position}': exact rate of C per "
        "first patched layer j (patched at j and every later layer), one line per seen output "
        "language, the pooled rate in black with its Wilson 95% band; shaded: the paper's bands "
        f"scaled by depth ({band_spans(n_layers)}; declared: {_band_label_of(design)}).")
    fig = Figure(figsize=_CLAIM_SIZE)
    ax = fig.add_subplot()
    by_lang = _rate_of(rows, "exact", ["output_lang", "layer"])
    for k, (lang, r) in enumerate(by_lang.groupby("output_lang", sort=True)):
        r = r.sort_values("layer")
        ax.plot(r["layer"], r["rate"], marker="o", markersize=3, linewidth=1.2,
                color=f"C{k % 10}", label=str(lang))
    pooled = _rate_of(rows, "exact", ["layer"]).sort_values("layer")
    ax.plot(pooled["layer"], pooled["rate"], color="black", linewidth=2.4, label="pooled")
    ax.fill_between(pooled["layer"], pooled["low"], pooled["high"], color="black", alpha=0.12,
                    linewidth=0)
    layers = sorted(int(j) for j in pooled["layer"])
    for name in ("mid", "late"):
        pos = _band_rows(layers, n_layers, name)
        if pos:
            lo, hi = layers[min(pos)] - 0.5, layers[max(pos)] + 0.5
            ax.axvspan(lo, hi, color=_BAND_COLOURS[name], alpha=0.10, linewidth=0)
            ax.text((lo + hi) / 2, 1.03, name + (" (declared)" if design.band == name else ""),
                    ha="center", va="bottom", fontsize=8, color=_BAND_COLOURS[name])
    ax.set_ylim(-0.02, 1.1)
    ax.set_xlabel("first patched layer j")
    ax.set_ylabel("exact rate of C")
    ax.set_xticks(layers)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=6, fontsize=8,
              frameon=False)
    return Plot(title, caption, png=fig_to_base64(fig))


def _last_of_phases(results: pd.DataFrame) -> tuple[str | None, str | None]:
    """The last checkpoint of the first data phase and of the last one."""
    order = checkpoint_order(results)
    phases = results.drop_duplicates("checkpoint").set_index("checkpoint")["phase"].astype(int)
    values = sorted(set(phases))
    if len(values) < 2:
        return None, None
    first = [c for c in order if phases[c] == values[0]]
    last = [c for c in order if phases[c] == values[-1]]
    return first[-1], last[-1]


def phase_two_bars(results: pd.DataFrame, design: Design | None = None,
                   position: str = "last") -> Plot:
    """Exact rate by seen output language at the last phase-1 and the last phase-2 checkpoint
    (phase two): the claim is that non-English outputs gain more than English."""
    design = _declared(design)
    title = "Exact rate by output language, before and after phase two"
    before, after = _last_of_phases(results)
    layer = band_best_layer(results, design, "seen", position, checkpoint=after)
    caption = (
        f"Seen sources at layer j = {layer} (the {_band_label_of(design)} layer with the highest "
        f"rate at {after}): exact rate of C per seen output language at the last phase-1 "
        f"checkpoint ({before}) and the last phase-2 checkpoint ({after}), Wilson 95% intervals; "
        "numbers: the gain. The claim compares each non-English gain with English's.")
    if before is None or after is None:
        return Plot(title, caption, note="The results hold one data phase: no phase-two "
                    "figure.")
    if layer is None:
        return Plot(title, caption, note="No patched 'seen' trials into seen output languages "
                    "at the declared band; figure skipped.")
    rows = _seen_patched(results, "seen", position)
    rows = rows[(rows["layer"] == layer) & rows["checkpoint"].isin([before, after])]
    r = _rate_of(rows, "exact", ["output_lang", "checkpoint"])
    langs = sorted(r["output_lang"].unique(), key=lambda g: (g != "en", g))
    fig = Figure(figsize=_CLAIM_SIZE)
    ax = fig.add_subplot()
    width = 0.38
    for k, (ck, colour) in enumerate(((before, "#9ecae1"), (after, "#08519c"))):
        part = r[r["checkpoint"] == ck].set_index("output_lang").reindex(langs)
        xs = np.arange(len(langs)) + (k - 0.5) * width
        ax.bar(xs, part["rate"], width=width, color=colour,
               label=f"{ck} (phase {'1' if k == 0 else '2'}, last)")
        ax.errorbar(xs, part["rate"], yerr=[part["rate"] - part["low"],
                                            part["high"] - part["rate"]],
                    fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    wide = r.pivot(index="output_lang", columns="checkpoint", values="rate").reindex(langs)
    for i, lang in enumerate(langs):
        gain = wide.loc[lang, after] - wide.loc[lang, before]
        if not np.isnan(gain):
            top = np.nanmax([wide.loc[lang, before], wide.loc[lang, after]])
            ax.text(i, min(top + 0.1, 1.08), f"{gain:+.2f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(langs)),
                  labels=[f"{g} (reference)" if g == "en" else g for g in langs], fontsize=9)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("exact-match rate")
    ax.set_xlabel("seen output language")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8,
              frameon=False)
    return Plot(title, caption, png=fig_to_base64(fig))


def unseen_bars(results: pd.DataFrame, design: Design | None = None,
                position: str = "last") -> Plot:
    """Exact rate into seen and unseen output languages, and what the failures are, at the
    final checkpoint and the band layer where the seen languages patch best (unseen language)."""
    from conceptpatch.claims.unseen import BOUND, FAILURE_KINDS

    design = _declared(design)
    final = _final(results)
    title = "Unseen output languages: exact rate and failure mix"
    layer = band_best_layer(results, design, "seen", position, checkpoint=final)
    caption = (
        f"Checkpoint {final}, seen sources at layer j = {layer} (the {_band_label_of(design)} "
        "layer where the seen output languages patch best). Left: exact rate per output language "
        f"(Wilson 95%), dashed: the bound {BOUND} the unseen rate must stay under. Right: the "
        f"failures only (exact excluded), by category; the claim expects more "
        f"{' and '.join(FAILURE_KINDS)} failures in unseen languages.")
    rows = patched(results, "seen", position)
    rows = rows[(rows["checkpoint"] == final) & (rows["layer"] == layer)]
    if layer is None or rows.empty:
        return Plot(title, caption, note="No patched 'seen' trials at the declared band at the "
                    "final checkpoint; figure skipped.")
    if rows["output_seen"].astype(bool).all():
        return Plot(title, caption, note="The results hold no unseen output language; figure "
                    "skipped.")
    seen = rows.drop_duplicates("output_lang").set_index("output_lang")["output_seen"].astype(bool)
    langs = sorted(seen.index, key=lambda g: (not seen[g], g))
    r = _rate_of(rows, "exact", ["output_lang"]).set_index("output_lang").reindex(langs)
    fig = Figure(figsize=_CLAIM_SIZE)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
    colours = ["#1b9e77" if seen[g] else "#d95f02" for g in langs]
    left.bar(range(len(langs)), r["rate"], color=colours)
    left.errorbar(range(len(langs)), r["rate"], yerr=[r["rate"] - r["low"],
                                                      r["high"] - r["rate"]],
                  fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    left.axhline(BOUND, color="#d95f02", linestyle="--", linewidth=1.2)
    left.set_xticks(range(len(langs)),
                    labels=[g if seen[g] else f"{g}\n(unseen)" for g in langs], fontsize=8)
    left.set_ylim(0, 1.05)
    left.set_ylabel("exact-match rate")
    left.grid(axis="y", alpha=0.3)
    cats = _six(rows)
    failures = rows[cats != "exact"]
    fcats = cats[cats != "exact"]
    groups = [("seen\n(pooled)", failures["output_seen"].astype(bool))] + [
        (f"{g}\n(unseen)", failures["output_lang"] == g) for g in langs if not seen[g]]
    present = set(fcats)
    order = [c for c in CATEGORY_ORDER if c in present] + sorted(present - set(CATEGORY_ORDER))
    bottom = np.zeros(len(groups))
    for cat in order:
        share = np.array([float((fcats[mask] == cat).mean()) if mask.any() else 0.0
                          for _, mask in groups])
        right.bar(range(len(groups)), share, bottom=bottom, width=0.7,
                  color=_CATEGORY_COLOURS.get(cat, "#cccccc"), label=cat, edgecolor="white",
                  linewidth=0.4)
        bottom += share
    right.set_xticks(range(len(groups)), labels=[name for name, _ in groups], fontsize=8)
    right.set_ylim(0, 1)
    right.set_ylabel("share of failures")
    right.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    fig.tight_layout()
    return Plot(title, caption, png=fig_to_base64(fig))


def language_rates(results: pd.DataFrame, design: Design | None = None,
                   position: str = "last") -> Plot:
    """Exact rate per seen output language at the final checkpoint, per source setting, beside
    each language's unpatched translation ability (language dependence)."""
    design = _declared(design)
    final = _final(results)
    title = "Exact rate by output language"
    layer = band_best_layer(results, design, "seen", position, checkpoint=final)
    high, low = set(design.high_resource), set(design.low_resource)
    caption = (
        f"Checkpoint {final}, layer j = {layer} (the {_band_label_of(design)} layer with the "
        "highest rate): exact rate of C per seen output language and source setting, Wilson 95% "
        "intervals; ◆: the unpatched rate of translating D into that language (translation "
        "ability), which the claim's adjusted test accounts for."
        + (" Tick labels mark the declared resource levels." if high or low else ""))
    data = results[results["checkpoint"] == final] if final is not None else results
    settings = [s for s in ("seen", "en_en")
                if not _seen_patched(data, s, position).empty]
    if layer is None or not settings:
        return Plot(title, caption, note="No patched trials into seen output languages at the "
                    "declared band; figure skipped.")
    langs = sorted(_seen_patched(data, settings[0], position)["output_lang"].unique())
    fig = Figure(figsize=_CLAIM_SIZE)
    ax = fig.add_subplot()
    width = 0.8 / len(settings)
    for k, setting in enumerate(settings):
        rows = _seen_patched(data, setting, position)
        rows = rows[rows["layer"] == layer]
        r = _rate_of(rows, "exact", ["output_lang"]).set_index("output_lang").reindex(langs)
        xs = np.arange(len(langs)) + (k - (len(settings) - 1) / 2) * width
        ax.bar(xs, r["rate"], width=width, color=_SETTING_COLOURS[setting],
               label=f"{setting} sources")
        ax.errorbar(xs, r["rate"], yerr=[r["rate"] - r["low"], r["high"] - r["rate"]],
                    fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    base = data[(data["setting"] == "unpatched") & data["output_seen"].astype(bool)]
    if not base.empty:
        t = _rate_of(base, "target", ["output_lang"]).set_index("output_lang").reindex(langs)
        ax.plot(range(len(langs)), t["rate"], marker="D", color="black", linestyle="none",
                markersize=5, label="unpatched: translates D")

    def tick(g: str) -> str:
        return f"{g}\n(high)" if g in high else f"{g}\n(low)" if g in low else g

    ax.set_xticks(range(len(langs)), labels=[tick(g) for g in langs], fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rate")
    ax.set_xlabel("seen output language")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8,
              frameon=False)
    return Plot(title, caption, png=fig_to_base64(fig))

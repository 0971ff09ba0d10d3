"""Figures over training: success per language, the claim curves, the phase-two bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from conceptpatch.claims.common import Design, axes_from_results, reference_checkpoint
from conceptpatch.figures.common import (
    BAND_TEXT,
    CLAIM_SIZE,
    Plot,
    band_best_layer,
    band_label_of,
    best_layer,
    checkpoint_order,
    clustered_rates,
    declared_design,
    exact_rate,
    fig_to_base64,
    figure_csv,
    layer_text,
    outcome,
    patched,
    phase_boundary,
    rate_of,
    seen_patched,
)

__all__ = ["claim_curves", "phase_two_bars", "success_over_training"]


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


def _fractions(results: pd.DataFrame) -> tuple[str, pd.Series]:
    """Each checkpoint's fraction of training (tokens when every checkpoint has them)."""
    first = results.groupby("checkpoint")[["step", "tokens"]].first()
    axis = "tokens" if (first["tokens"] > 0).all() else "step"
    values = first[axis].astype(float)
    end = float(values.max())
    return axis, values / end if end > 0 else values * 0.0


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


def success_over_training(
    results: pd.DataFrame,
    setting: str = "seen",
    position: str = "last",
    layer: int | None = None,
) -> Plot:
    """Exact-match success per output language over training, concept-clustered bands (the
    verdicts' bounds), phase boundary."""
    layer = best_layer(results, setting, position) if layer is None else layer
    title = "Success over training per output language"
    caption = (
        f"Exact-match rate at {layer_text(layer, 'patch layer')} (setting '{setting}', "
        f"position '{position}'), shaded: {BAND_TEXT}; dashed lines: unseen output "
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
    rate = clustered_rates(outcome(rows) == "exact", rows, ["output_lang", "checkpoint"])
    rate["x"] = rate["checkpoint"].map(x_of)
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
        b = exact_rate(base, ["checkpoint"])
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
    return Plot(title, caption, png=fig_to_base64(fig), data=figure_csv(fig), note=note)


def claim_curves(results: pd.DataFrame, design: Design | None = None,
                 position: str = "last") -> Plot:
    """Exact rate over training at the best layer of the declared band against the unpatched
    rates, the early-training window shaded (early emergence, stability, the gate)."""
    design = declared_design(design)
    title = "Exact rate over training"
    layer = band_best_layer(results, design, "seen", position)
    caption = (
        f"Seen sources, seen output languages pooled: exact rate of C at {layer_text(layer)} (the "
        f"{band_label_of(design)} layer with the highest rate), {BAND_TEXT}; grey: the "
        "unpatched rate of saying C (the baseline) and, dotted, of translating D (translation "
        f"ability). Shaded: the first {design.early_fraction:.0%} of training, where early "
        "emergence is tested; ▼ the stability reference.")
    if layer is None:
        return Plot(title, caption, note="No patched 'seen' trials into seen output languages "
                    "at the declared band; figure skipped.")
    rows = seen_patched(results, "seen", position)
    rows = rows[rows["layer"] == layer]
    if rows["checkpoint"].nunique() < 2:
        return Plot(title, caption, note="Only one checkpoint in the results: a curve over "
                    "training needs at least two; figure skipped.")
    axis, frac = _fractions(results)
    fig = Figure(figsize=CLAIM_SIZE)
    ax = fig.add_subplot()
    ax.axvspan(0.0, design.early_fraction, color="#d9f0d3", alpha=0.6, linewidth=0)
    ax.axvline(design.early_fraction, color="#1b7837", linestyle="--", linewidth=1.2)
    ax.text(design.early_fraction, 1.03, f" early: first {design.early_fraction:.0%}",
            color="#1b7837", fontsize=8, va="bottom", ha="left")
    rate = rate_of(rows, "exact", ["checkpoint"])
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
            b = rate_of(base, what, ["checkpoint"])
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
    return Plot(title, caption, png=fig_to_base64(fig), data=figure_csv(fig))


def phase_two_bars(results: pd.DataFrame, design: Design | None = None,
                   position: str = "last") -> Plot:
    """Exact rate by seen output language at the last phase-1 and the last phase-2 checkpoint
    (phase two): the claim is that non-English outputs gain more than English."""
    design = declared_design(design)
    title = "Exact rate by output language, before and after phase two"
    before, after = _last_of_phases(results)
    layer = band_best_layer(results, design, "seen", position, checkpoint=after)
    caption = (
        f"Seen sources at {layer_text(layer)} (the {band_label_of(design)} layer with the highest "
        f"rate at {after}): exact rate of C per seen output language at the last phase-1 "
        f"checkpoint ({before}) and the last phase-2 checkpoint ({after}), whiskers: {BAND_TEXT}; "
        "numbers: the gain. The claim compares each non-English gain with English's.")
    if before is None or after is None:
        return Plot(title, caption, note="The results hold one data phase: no phase-two "
                    "figure.")
    if layer is None:
        return Plot(title, caption, note="No patched 'seen' trials into seen output languages "
                    "at the declared band; figure skipped.")
    rows = seen_patched(results, "seen", position)
    rows = rows[(rows["layer"] == layer) & rows["checkpoint"].isin([before, after])]
    r = rate_of(rows, "exact", ["output_lang", "checkpoint"])
    langs = sorted(r["output_lang"].unique(), key=lambda g: (g != "en", g))
    fig = Figure(figsize=CLAIM_SIZE)
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
    return Plot(title, caption, png=fig_to_base64(fig), data=figure_csv(fig))

"""Figures by output language: unseen languages and their failures, language dependence."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from conceptpatch.claims.common import Design
from conceptpatch.claims.unseen import BOUND, FAILURE_KINDS
from conceptpatch.figures.common import (
    BAND_TEXT,
    CATEGORY_COLOURS,
    CATEGORY_ORDER,
    CLAIM_SIZE,
    SETTING_COLOURS,
    Plot,
    band_best_layer,
    band_label_of,
    declared_design,
    fig_to_base64,
    figure_csv,
    final_checkpoint,
    layer_text,
    patched,
    rate_of,
    seen_patched,
    six_categories,
)

__all__ = ["language_rates", "unseen_bars"]


def unseen_bars(results: pd.DataFrame, design: Design | None = None,
                position: str = "last") -> Plot:
    """Exact rate into seen and unseen output languages, and what the failures are, at the
    final checkpoint and the band layer where the seen languages patch best (unseen language)."""
    design = declared_design(design)
    final = final_checkpoint(results)
    title = "Unseen output languages: exact rate and failure mix"
    layer = band_best_layer(results, design, "seen", position, checkpoint=final)
    caption = (
        f"Checkpoint {final}, seen sources at {layer_text(layer)} (the {band_label_of(design)} "
        "layer where the seen output languages patch best). Left: exact rate per output language "
        f"({BAND_TEXT}), dashed: the bound {BOUND} the unseen rate must stay under. Right: the "
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
    r = rate_of(rows, "exact", ["output_lang"]).set_index("output_lang").reindex(langs)
    fig = Figure(figsize=CLAIM_SIZE)
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
    cats = six_categories(rows)
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
                  color=CATEGORY_COLOURS.get(cat, "#cccccc"), label=cat, edgecolor="white",
                  linewidth=0.4)
        bottom += share
    right.set_xticks(range(len(groups)), labels=[name for name, _ in groups], fontsize=8)
    right.set_ylim(0, 1)
    right.set_ylabel("share of failures")
    right.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    fig.tight_layout()
    return Plot(title, caption, png=fig_to_base64(fig), data=figure_csv(fig))


def language_rates(results: pd.DataFrame, design: Design | None = None,
                   position: str = "last") -> Plot:
    """Exact rate per seen output language at the final checkpoint, per source setting, beside
    each language's unpatched translation ability (language dependence)."""
    design = declared_design(design)
    final = final_checkpoint(results)
    title = "Exact rate by output language"
    layer = band_best_layer(results, design, "seen", position, checkpoint=final)
    high, low = set(design.high_resource), set(design.low_resource)
    caption = (
        f"Checkpoint {final}, {layer_text(layer)} (the {band_label_of(design)} layer with the "
        "highest rate): exact rate of C per seen output language and source setting, "
        f"{BAND_TEXT}; ◆: the unpatched rate of translating D into that language (translation "
        "ability), which the claim's adjusted test accounts for."
        + (" Tick labels mark the declared resource levels." if high or low else ""))
    data = results[results["checkpoint"] == final] if final is not None else results
    settings = [s for s in ("seen", "en_en")
                if not seen_patched(data, s, position).empty]
    if layer is None or not settings:
        return Plot(title, caption, note="No patched trials into seen output languages at the "
                    "declared band; figure skipped.")
    langs = sorted(seen_patched(data, settings[0], position)["output_lang"].unique())
    fig = Figure(figsize=CLAIM_SIZE)
    ax = fig.add_subplot()
    width = 0.8 / len(settings)
    for k, setting in enumerate(settings):
        rows = seen_patched(data, setting, position)
        rows = rows[rows["layer"] == layer]
        r = rate_of(rows, "exact", ["output_lang"]).set_index("output_lang").reindex(langs)
        xs = np.arange(len(langs)) + (k - (len(settings) - 1) / 2) * width
        ax.bar(xs, r["rate"], width=width, color=SETTING_COLOURS[setting],
               label=f"{setting} sources")
        ax.errorbar(xs, r["rate"], yerr=[r["rate"] - r["low"], r["high"] - r["rate"]],
                    fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    base = data[(data["setting"] == "unpatched") & data["output_seen"].astype(bool)]
    if not base.empty:
        t = rate_of(base, "target", ["output_lang"]).set_index("output_lang").reindex(langs)
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
    return Plot(title, caption, png=fig_to_base64(fig), data=figure_csv(fig))

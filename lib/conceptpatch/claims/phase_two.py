"""Phase two: multi-way parallel data raises exact translations into non-English outputs.

Per seen non-English output language L, a difference in differences over the same trials: L's
gain in exact rate from the last phase-1 to the last phase-2 checkpoint, minus English's gain
(or minus L's gain in a control run without phase-two data, ``control=``), at each layer of the
declared band (Bonferroni), concept-clustered; Holm across languages. Training that simply goes
on raises every language alike and cancels out. The evidence adds the paper's shift of exact over
synonym (exact / (exact + synonym)) and the same contrast on unpatched translation ability, so a
gain that only tracks translation ability is labelled so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from conceptpatch import clustered
from conceptpatch.claims import testable
from conceptpatch.claims.common import (
    PAPER,
    PIVOT,
    Axes,
    BandResult,
    Claim,
    Design,
    Draft,
    Verdict,
    axes_from_results,
    band_layers,
    band_name,
    family,
    missing_verdict,
    rows,
)
from conceptpatch.clustered import Estimate

CLAIM = Claim(
    id="phase_two", paper=PAPER, version=2, alpha=0.05, sesoi=0.05, paper_effect=0.15,
    statement="Phase two (multi-way parallel data) increases exact translations into non-English "
              "output languages more than into English.",
)
SETTING = "seen"
#: The caveat of a gain no larger than the rise in unpatched translation ability.
TRACKS = "the gain may only track translation ability"


def cases(axes: Axes) -> list[str]:
    """One case per seen, non-English output language, when the suite has two phases."""
    if CLAIM.id in testable.no_case(axes):
        return []
    return [lang for lang in axes.seen if lang != PIVOT]


def _last(df: pd.DataFrame, axes: Axes, phase_rank: int) -> str | None:
    phases = sorted(set(axes.phases))
    if len(phases) < 2:
        return None
    want = phases[phase_rank]
    names = [c for c, p in zip(axes.checkpoints, axes.phases, strict=True) if p == want]
    return names[-1] if names else None


def _gains(df: pd.DataFrame, before: str, after: str, layer: int | None, what: str
           ) -> pd.DataFrame:
    """Per trial: ``what`` after minus before (patched rows at ``layer``, or unpatched)."""
    sel = dict(setting=SETTING, layer=layer) if layer is not None else dict(setting="unpatched")
    a = rows(df, checkpoint=before, **sel)[["trial", "concept", "output_lang", "category"]]
    b = rows(df, checkpoint=after, **sel)[["trial", "category"]]
    m = a.merge(b, on="trial", suffixes=("_a", "_b"))
    gain = m["category_b"].eq(what).astype(int) - m["category_a"].eq(what).astype(int)
    return m.assign(gain=gain.to_numpy())


def did(gains: pd.DataFrame, lang: str, reference: pd.DataFrame, alpha: float) -> Estimate:
    """L's mean gain minus the reference trials' mean gain, concept-clustered."""
    mine = gains[gains["output_lang"] == lang]
    values = np.concatenate([mine["gain"].to_numpy(), reference["gain"].to_numpy()])
    groups = np.repeat([0, 1], [len(mine), len(reference)])
    concepts = np.concatenate([mine["concept"].to_numpy(), reference["concept"].to_numpy()])
    return clustered.contrast(values, groups, [1.0, -1.0], concepts, alpha, span=(-1.0, 1.0))


def _share(df: pd.DataFrame, ck: str, lang: str, layers: list[int]) -> float:
    sub = rows(df, checkpoint=ck, setting=SETTING, output_lang=lang, layer=layers)
    ex, syn = int(sub["category"].eq("exact").sum()), int(sub["category"].eq("synonym").sum())
    return ex / (ex + syn) if ex + syn else float("nan")


def evaluate(df: pd.DataFrame, alpha: float = CLAIM.alpha, *, design: Design | None = None,
             control: pd.DataFrame | None = None, claim: Claim = CLAIM) -> list[Verdict]:
    """One verdict per case; ``control``: the results of a run without phase-two data."""
    axes, held = testable.screened(claim.id, cases, df, design)
    if held is not None:
        return held
    before, after = _last(df, axes, 0), _last(df, axes, -1)
    langs = cases(axes)
    if before is None or after is None:
        return [missing_verdict(claim.id, g, "needs checkpoints of two data phases")
                for g in langs]
    layers = band_layers(rows(df, checkpoint=after), axes.design.band)
    gains = {j: _gains(df, before, after, j, "exact") for j in layers}
    unpatched = _gains(df, before, after, None, "target")
    ref_gains, ref_unpatched = gains, unpatched  # English's trials, picked per language below
    if control is not None:
        ctrl_axes = axes_from_results(control)
        cb, ca = _last(control, ctrl_axes, 0), _last(control, ctrl_axes, -1)
        ref_gains = {j: _gains(control, cb, ca, j, "exact") if cb and ca else g.iloc[0:0]
                     for j, g in gains.items()}
        ref_unpatched = (_gains(control, cb, ca, None, "target") if cb and ca
                         else unpatched.iloc[0:0])
    versus = "the control run" if control is not None else PIVOT
    items = []
    for lang in langs:
        if control is None and PIVOT not in axes.seen:
            items.append(missing_verdict(
                claim.id, lang, f"needs {PIVOT} as a seen output language or a control run"))
            continue
        ref_lang = PIVOT if control is None else lang
        per_layer: dict[int, Estimate] = {}
        for j in layers:
            ref = ref_gains[j]
            est = did(gains[j], lang, ref[ref["output_lang"] == ref_lang], alpha)
            if est.n and not np.isnan(est.effect):
                per_layer[j] = est
        if not per_layer:
            items.append(missing_verdict(
                claim.id, lang, f"no {SETTING} rows for {lang} and its reference at {before} and "
                                f"{after} in the band"))
            continue
        band = BandResult(tuple(per_layer), per_layer)
        est = per_layer[band.best]
        t_ref = ref_unpatched[ref_unpatched["output_lang"] == ref_lang]
        translation = did(unpatched, lang, t_ref, alpha)
        share_before = _share(df, before, lang, list(band.layers))
        share_after = _share(df, after, lang, list(band.layers))
        tracks = translation.pvalue <= alpha and translation.low >= est.effect - 1e-9
        note = (f"; unpatched translation into {lang} vs {versus} also rose by "
                f"{translation.effect:+.3f} (bounds [{translation.low:+.3f}, "
                f"{translation.high:+.3f}])" + (f": {TRACKS}" if tracks else ""))
        items.append(Draft(
            claim, lang, alpha, effect=est.effect, low=est.low, high=band.max_high,
            p_raw=band.pvalue, n=est.n, caveat=TRACKS if tracks else "",
            what=(f"{lang}: gain {before} -> {after} minus {versus}'s, "
                  f"{band_name(axes.design.band)} layer {band.best} of {list(band.layers)}; "
                  f"exact share of exact+synonym {share_before:.2f} -> {share_after:.2f}{note}"),
            evidence={"before": before, "after": after, "layer": band.best, "versus": versus,
                      "layers": band.table(), "translation_did": translation.effect,
                      "translation_p": translation.pvalue, "tracks_translation": tracks,
                      "exact_share_before": share_before, "exact_share_after": share_after}))
    return family(items)

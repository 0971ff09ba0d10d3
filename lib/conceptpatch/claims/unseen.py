"""Unseen output language: patching into a language the model never saw fails, and fails as
copies or unrelated words.

At the final checkpoint and the band layer where the seen output languages patch best (chosen on
seen rows only); if the seen languages do not patch there, both cases are inconclusive: there is
no success to fail relative to. ``bound-<lang>``: the unseen exact rate is below the seen one by
at least the SESOI (concept-clustered contrast) and under BOUND (clustered Wilson upper bound),
both shown (the larger p-value). ``mix-<lang>``: among failures only (exact excluded, manual
labels mapped onto the six categories first), copies and unrelated words are more common than in
the seen languages' failures. Holm across all cases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from conceptpatch import clustered
from conceptpatch.claims import testable
from conceptpatch.claims.common import (
    PAPER,
    Axes,
    Claim,
    Design,
    Draft,
    Verdict,
    band_layers,
    band_name,
    band_test,
    family,
    missing_verdict,
    rows,
)

CLAIM = Claim(
    id="unseen_language", paper=PAPER, version=2, alpha=0.05, sesoi=0.05, paper_effect=0.30,
    statement="Patching into an unseen output language fails; failures are copies or unrelated.",
)
BOUND = 0.10  # "fails": the unseen exact rate stays below 10%
MIX_SESOI = 0.10  # a difference in the share of copy+unrelated failures that matters
FAILURE_KINDS = ("copy", "unrelated")
SETTING = "seen"


def cases(axes: Axes) -> list[str]:
    """``bound-<lang>`` and ``mix-<lang>`` per unseen output language."""
    if CLAIM.id in testable.no_case(axes):
        return []
    return [f"{kind}-{lang}" for lang in axes.unseen for kind in ("bound", "mix")]


def _two_groups(a: np.ndarray, ca: np.ndarray, b: np.ndarray, cb: np.ndarray, alpha: float
                ) -> clustered.Estimate:
    values = np.concatenate([a, b]).astype(float)
    groups = np.repeat([0, 1], [len(a), len(b)])
    return clustered.contrast(values, groups, [1.0, -1.0], np.concatenate([ca, cb]), alpha)


def evaluate(df: pd.DataFrame, alpha: float = CLAIM.alpha, *, design: Design | None = None,
             claim: Claim = CLAIM) -> list[Verdict]:
    """One verdict per case of :func:`cases`."""
    axes, held = testable.screened(claim.id, cases, df, design)
    if held is not None:
        return held
    final = axes.checkpoints[-1]
    at = rows(df, checkpoint=final)
    layers = band_layers(at, axes.design.band)
    seen_rows = rows(at, output_lang=list(axes.seen))
    band = band_test(rows(seen_rows, setting=SETTING), rows(seen_rows, setting="unpatched"),
                     layers, alpha)
    if band is None or not band.clear(alpha, claim.sesoi):
        reason = (f"the seen output languages do not clearly patch (by the SESOI) at {final} "
                  f"({band_name(axes.design.band)} layers {layers}): no success to fail "
                  "relative to")
        return [missing_verdict(claim.id, c, reason) for c in cases(axes)]
    j = band.best
    seen_at = rows(seen_rows, setting=SETTING, layer=j)
    s_exact = seen_at["category"].eq("exact").to_numpy()
    items = []
    for lang in axes.unseen:
        un = rows(at, setting=SETTING, layer=j, output_lang=lang)
        if un.empty:
            items += [missing_verdict(claim.id, f"{kind}-{lang}", f"no {SETTING} rows at layer {j}")
                      for kind in ("bound", "mix")]
            continue
        u_exact = un["category"].eq("exact").to_numpy()
        level = clustered.rate(u_exact, un["concept"].to_numpy(), alpha)
        gap = _two_groups(s_exact, seen_at["concept"].to_numpy(), u_exact,
                          un["concept"].to_numpy(), alpha)
        items.append(Draft(
            claim, f"bound-{lang}", alpha, effect=gap.effect, low=gap.low, high=gap.high,
            p_raw=max(level.pvalue_below(BOUND), gap.pvalue_above(claim.sesoi)), n=gap.n,
            opposite=level.low > BOUND,
            opposite_text=f"the unseen exact rate's lower bound {level.low:.3f} > {BOUND}",
            what=(f"{lang} at {final}, layer {j} (best for seen): seen exact minus unseen "
                  f"exact; unseen exact {level.effect:.3f}, upper bound {level.high:.3f} "
                  f"vs BOUND {BOUND}"),
            evidence={"checkpoint": final, "layer": j, "unseen_rate": level.effect,
                      "unseen_high": level.high, "bound": BOUND}))
        fail_u = un[~un["category"].eq("exact")]
        fail_s = seen_at[~seen_at["category"].eq("exact")]
        if fail_u.empty or fail_s.empty:
            items.append(missing_verdict(claim.id, f"mix-{lang}", "no failures to compare"))
            continue
        mix = _two_groups(fail_u["category"].isin(FAILURE_KINDS).to_numpy(),
                          fail_u["concept"].to_numpy(),
                          fail_s["category"].isin(FAILURE_KINDS).to_numpy(),
                          fail_s["concept"].to_numpy(), alpha)
        counts_u = fail_u["category"].value_counts().to_dict()
        counts_s = fail_s["category"].value_counts().to_dict()
        items.append(Draft(
            claim, f"mix-{lang}", alpha, effect=mix.effect, low=mix.low, high=mix.high,
            p_raw=mix.pvalue, n=mix.n, sesoi=MIX_SESOI,
            what=(f"{lang} at {final}, layer {j}: share of copy+unrelated among failures, "
                  f"unseen minus seen (unseen {counts_u}, seen {counts_s})"),
            evidence={"checkpoint": final, "layer": j, "unseen": counts_u, "seen": counts_s}))
    return family(items)

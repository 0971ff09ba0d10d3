"""Language dependence: how well the shared space patches depends on the output language.

Per source setting at the final checkpoint, seen output languages, each layer of the declared
band (Bonferroni): exact rate by output language, concept-clustered. Directed when the suite
declares resource levels (high-resource above low-resource, one-sided), otherwise the omnibus
Wald test that all languages share one rate. Refuted when at every band layer every language's
deviation from the languages' mean rate is bounded within +/- SESOI. Needs clear induction at the
band (a Bonferroni lower bound above the SESOI): nothing depends on the language where nothing
patches. The evidence repeats the omnibus test
adjusted for each trial's unpatched translation ability.
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
    sources,
)

CLAIM = Claim(
    id="language_dependence", paper=PAPER, version=2, alpha=0.05, sesoi=0.10, paper_effect=0.30,
    statement="Patching success differs between output languages.",
)


def cases(axes: Axes) -> list[str]:
    """One case per source setting, with two or more seen output languages."""
    return [] if CLAIM.id in testable.no_case(axes) else sources(axes)


def _test(at: pd.DataFrame, base: pd.DataFrame, langs: list[str], design: Design,
          alpha: float) -> dict[str, float]:
    codes = {g: i for i, g in enumerate(langs)}
    values = at["category"].eq("exact").to_numpy(dtype=float)
    groups = at["output_lang"].map(codes).to_numpy()
    concepts = at["concept"].to_numpy()
    k = len(langs)
    high = [g for g in design.high_resource if g in codes]
    low = [g for g in design.low_resource if g in codes]
    if high and low:
        w = np.zeros(k)
        w[[codes[g] for g in high]] = 1 / len(high)
        w[[codes[g] for g in low]] = -1 / len(low)
        p = clustered.contrast(values, groups, w, concepts, alpha).pvalue
    else:
        p = clustered.wald_equal(values, groups, concepts).pvalue
    trans = at[["trial"]].merge(base[["trial", "category"]], on="trial", how="left")
    ability = trans["category"].eq("target").to_numpy(dtype=float)
    p_adjusted = clustered.wald_equal(values, groups, concepts,
                                      covariate=ability).pvalue
    deviations = []
    for i in range(k):
        w = np.full(k, -1 / k)
        w[i] += 1
        deviations.append(clustered.contrast(values, groups, w, concepts, alpha))
    rates = {g: float(values[groups == codes[g]].mean()) for g in langs}
    return {"p": p, "p_adjusted_for_translation": p_adjusted, "rates": rates,
            "bound": max(max(abs(e.low), abs(e.high)) for e in deviations),
            "largest": max(abs(e.effect) for e in deviations)}


def evaluate(df: pd.DataFrame, alpha: float = CLAIM.alpha, *, design: Design | None = None,
             claim: Claim = CLAIM) -> list[Verdict]:
    """One verdict per source setting."""
    axes, held = testable.screened(claim.id, cases, df, design)
    if held is not None:
        return held
    final = axes.checkpoints[-1]
    at_ck = rows(df, checkpoint=final, output_lang=list(axes.seen))
    layers = band_layers(at_ck, axes.design.band)
    base = rows(at_ck, setting="unpatched")
    directed = bool(axes.design.high_resource and axes.design.low_resource)
    test = "high- above low-resource" if directed else "omnibus Wald"
    items = []
    for setting in cases(axes):
        patched = rows(at_ck, setting=setting)
        induced = band_test(patched, base, layers, alpha)
        if induced is None or not induced.clear(alpha, claim.sesoi):
            reason = (f"{setting} sources do not clearly patch at {final} "
                      f"({band_name(axes.design.band)} layers {layers}): no success whose "
                      "language dependence to test")
            items.append(missing_verdict(claim.id, setting, reason))
            continue
        per_layer = {j: _test(rows(patched, layer=j), base, list(axes.seen), axes.design, alpha)
                     for j in induced.layers}
        best = min(per_layer, key=lambda j: (per_layer[j]["p"], j))
        bound = max(t["bound"] for t in per_layer.values())
        t = per_layer[best]
        listing = ", ".join(f"{g} {r:.2f}" for g, r in sorted(t["rates"].items(),
                                                               key=lambda kv: kv[1]))
        items.append(Draft(
            claim, setting, alpha, effect=t["largest"], low=0.0, high=bound,
            p_raw=min(1.0, t["p"] * len(per_layer)), n=int((patched["layer"] == best).sum()),
            what=(f"{setting} sources at {final}, layer {best} of {list(per_layer)}: exact by "
                  f"output language [{listing}]; {test} test, concept-clustered; largest "
                  f"deviation from the mean rate (bound over the band {bound:.3f}); adjusted "
                  f"for translation ability p={t['p_adjusted_for_translation']:.2g}"),
            evidence={"checkpoint": final, "layer": best, "directed": directed,
                      "layers": {str(j): dict(x) for j, x in per_layer.items()}}))
    return family(items)

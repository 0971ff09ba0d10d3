"""Concept induction: patching C's mean latent makes the model say C in a held-out pair.

Per (source setting, seen output language) at the reference checkpoint (default: the last one),
each layer of the declared band (default: mid) against the unpatched rate of saying C on the same
trials; concept-clustered paired test, Bonferroni over the band's layers, Holm across cases.
Refuted when every layer's upper bound lies below the SESOI.
"""

from __future__ import annotations

import pandas as pd

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
    id="concept_induction", paper=PAPER, version=2, alpha=0.05, sesoi=0.05, paper_effect=0.30,
    statement="Patching the mean latent of C over source pairs induces C in a held-out pair, "
              "from seen-language and from English-only sources.",
)


def cases(axes: Axes) -> list[str]:
    """``<setting>-<output language>`` for the source settings and the seen output languages."""
    if CLAIM.id in testable.no_case(axes):
        return []
    return [f"{s}-{lang}" for s in sources(axes) for lang in axes.seen]


def evaluate(df: pd.DataFrame, alpha: float = CLAIM.alpha, *, design: Design | None = None,
             checkpoint: str | None = None, claim: Claim = CLAIM) -> list[Verdict]:
    """One verdict per case of :func:`cases` on the results table ``df``."""
    axes, held = testable.screened(claim.id, cases, df, design)
    if held is not None:
        return held
    final = checkpoint or axes.checkpoints[-1]
    at_ck = rows(df, checkpoint=final)
    layers = band_layers(at_ck, axes.design.band)
    items = []
    for case in cases(axes):
        setting, lang = case.split("-", 1)
        patched = rows(at_ck, setting=setting, output_lang=lang)
        base = rows(at_ck, setting="unpatched", output_lang=lang)
        band = band_test(patched, base, layers, alpha) if not base.empty else None
        if band is None:
            reason = (f"no {setting} rows at {band_name(axes.design.band)} layers {layers} or no "
                      f"unpatched rows for {lang} at {final}")
            items.append(missing_verdict(claim.id, case, reason))
            continue
        best = band.estimates[band.best]
        items.append(Draft(
            claim, case, alpha, effect=best.effect, low=best.low, high=band.max_high,
            p_raw=band.pvalue, n=best.n,
            what=(f"{case} at {final}, {band_name(axes.design.band)} layers "
                  f"{list(band.layers)} (best {band.best}): exact minus unpatched rate of "
                  f"saying C; {best.method}"),
            evidence={"checkpoint": final, "layer": band.best, "layers": band.table(),
                      "band": band_name(axes.design.band), "method": best.method}))
    return family(items)

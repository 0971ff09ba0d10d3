"""Stability: after the early window, patching success stays where it is (no gradual growth).

Per checkpoint after the early window and in the reference checkpoint's data phase (phase-two
checkpoints are the phase-two claim's), each layer of the declared band against the same layer at
the reference (declared in the suite, default: the last checkpoint of the first phase), same
trials: paired TOST within +/- MARGIN at every band layer (intersection-union), Holm across
checkpoints. Refuted when a layer's difference clears the margin (Bonferroni over the band).
Needs clear induction at the reference (a Bonferroni lower bound above the margin): there
is nothing to keep stable otherwise.
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
    reference_checkpoint,
    rows,
)

#: The margin: a change of the exact rate smaller than 0.10 is "stable" (the paper calls rates
#: that move by a few points "relatively stable"; 0.10 is below its phase-two gains).
MARGIN = 0.10
CLAIM = Claim(
    id="stability", paper=PAPER, version=1, alpha=0.05, sesoi=MARGIN, paper_effect=0.0,
    statement="After it emerges, patching success stays stable within its data phase.",
)
SETTING = "seen"


def cases(axes: Axes) -> list[str]:
    """``stable-<checkpoint>`` after the early window, in the reference's phase."""
    if CLAIM.id in testable.no_case(axes):
        return []
    return [f"stable-{c}" for c in testable.later_in_phase(axes)]


def evaluate(df: pd.DataFrame, alpha: float = CLAIM.alpha, *, design: Design | None = None,
             claim: Claim = CLAIM) -> list[Verdict]:
    """One verdict per case of :func:`cases`."""
    axes, held = testable.screened(claim.id, cases, df, design)
    if held is not None:
        return held
    ref = reference_checkpoint(axes)
    seen = rows(df, output_lang=list(axes.seen))
    at_ref = rows(seen, checkpoint=ref)
    layers = band_layers(at_ref, axes.design.band)
    ref_patched = rows(at_ref, setting=SETTING)
    induced = band_test(ref_patched, rows(at_ref, setting="unpatched"), layers, alpha)
    items = []
    for case in cases(axes):
        ck = case.removeprefix("stable-")
        if induced is None or not induced.clear(alpha, claim.sesoi):
            reason = (f"no induction at the reference {ref} ({band_name(axes.design.band)} layers"
                      f" {layers}): nothing to stay stable")
            items.append(missing_verdict(claim.id, case, reason))
            continue
        band = band_test(rows(seen, checkpoint=ck, setting=SETTING), ref_patched, layers, alpha)
        if band is None:
            items.append(missing_verdict(claim.id, case, f"no {SETTING} rows at {ck} in the band"))
            continue
        m = len(band.layers)
        worst = max(band.layers, key=lambda j: (abs(band.estimates[j].effect), -j))
        est = band.estimates[worst]
        tost = max(max(e.pvalue_above(-MARGIN), e.pvalue_below(MARGIN))
                   for e in band.estimates.values())
        moved = any(lo > MARGIN or hi < -MARGIN
                    for lo, hi in (band.estimates[j].at(alpha / m) for j in band.layers))
        items.append(Draft(
            claim, case, alpha, effect=est.effect, low=est.low, high=est.high, p_raw=tost,
            n=est.n, opposite=moved, bounded=False,
            opposite_text=f"the exact rate moved by more than {MARGIN}",
            what=(f"{ck} vs reference {ref}, {band_name(axes.design.band)} layers "
                  f"{list(band.layers)} (largest change at {worst}): paired TOST within "
                  f"+/-{MARGIN} at every layer"),
            evidence={"checkpoint": ck, "reference": ref, "layers": band.table(),
                      "margin": MARGIN}))
    return family(items)

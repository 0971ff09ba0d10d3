"""Early emergence: the shared concept space appears early in training, rather than gradually.

One case, ``emergence``: some checkpoint within the declared early fraction of training (default:
the first third, by tokens or steps) has a layer of the declared band whose exact rate minus the
unpatched rate of saying C (seen sources, seen output languages pooled, same trials) has a
Bonferroni lower bound above the SESOI: a clear effect, not a significant trickle. Refuted when
every early checkpoint's every band layer has its upper bound below the SESOI. The evidence puts
emergence beside the onset of translation ability (the unpatched rate of answering D).
"""

from __future__ import annotations

import pandas as pd

from conceptpatch import clustered
from conceptpatch.claims import testable
from conceptpatch.claims.common import (
    PAPER,
    Axes,
    BandResult,
    Claim,
    Design,
    Draft,
    Verdict,
    band_layers,
    band_name,
    band_test,
    early_checkpoints,
    family,
    missing_verdict,
    rows,
)

CLAIM = Claim(
    id="early_emergence", paper=PAPER, version=2, alpha=0.05, sesoi=0.05, paper_effect=0.30,
    statement="Concept patching succeeds early in training (within the first third) rather than "
              "emerging gradually.",
)
SETTING = "seen"


def cases(axes: Axes) -> list[str]:
    """One case, when the suite has checkpoints within the early window and after it."""
    return [] if CLAIM.id in testable.no_case(axes) else ["emergence"]


def band_tests(df: pd.DataFrame, axes: Axes, alpha: float) -> dict[str, BandResult | None]:
    """Per checkpoint: the band's layers (seen sources, seen outputs) against the unpatched rate."""
    seen = rows(df, output_lang=list(axes.seen))
    found = {}
    for ck in axes.checkpoints:
        at = rows(seen, checkpoint=ck)
        found[ck] = band_test(rows(at, setting=SETTING), rows(at, setting="unpatched"),
                              band_layers(at, axes.design.band), alpha)
    return found


def onsets(df: pd.DataFrame, axes: Axes, bands: dict[str, BandResult | None], alpha: float,
           sesoi: float) -> dict[str, object]:
    """First checkpoint (and its training fraction) where induction (``bands``), and where
    translation ability, has its lower bound above ``sesoi`` (descriptive: not corrected over
    checkpoints)."""
    base = rows(df, output_lang=list(axes.seen), setting="unpatched")
    first_induction = first_translation = None
    for ck, frac in zip(axes.checkpoints, axes.progress, strict=True):
        at = rows(base, checkpoint=ck)
        if first_translation is None and not at.empty:
            est = clustered.rate(at["category"].eq("target").to_numpy(),
                                 at["concept"].to_numpy(), alpha)
            if est.low > sesoi:
                first_translation = (ck, frac)
        band = bands[ck]
        if first_induction is None and band is not None and band.clear(alpha, sesoi):
            first_induction = (ck, frac)
    return {"induction": first_induction, "translation": first_translation}


def evaluate(df: pd.DataFrame, alpha: float = CLAIM.alpha, *, design: Design | None = None,
             claim: Claim = CLAIM) -> list[Verdict]:
    """The ``emergence`` verdict."""
    axes, held = testable.screened(claim.id, cases, df, design)
    if held is not None:
        return held
    bands = band_tests(df, axes, alpha)
    tests = {ck: bands[ck] for ck in early_checkpoints(axes) if bands[ck] is not None}
    if not tests:
        reason = (f"no checkpoint within the first {axes.design.early_fraction:.0%} of training "
                  f"has {SETTING} and unpatched rows at {band_name(axes.design.band)} layers")
        return [missing_verdict(claim.id, "emergence", reason)]
    m = sum(len(b.layers) for b in tests.values())
    above = {(ck, j): b.estimates[j].pvalue_above(claim.sesoi)
             for ck, b in tests.items() for j in b.layers}
    (ck_best, j_best), p_best = min(above.items(), key=lambda kv: (kv[1], kv[0][0]))
    p_raw = min(1.0, p_best * m)
    best = tests[ck_best].estimates[j_best]
    max_high = max(b.max_high for b in tests.values())
    found = onsets(df, axes, bands, alpha, claim.sesoi)

    def where(item: object) -> str:
        return "never" if item is None else f"{item[0]} ({item[1]:.0%} of training)"

    return family([Draft(
        claim, "emergence", alpha, effect=best.effect, low=best.at(alpha / m)[0], high=max_high,
        p_raw=p_raw, n=best.n,
        what=(f"early checkpoints {list(tests)} (first {axes.design.early_fraction:.0%} of "
              f"training), {band_name(axes.design.band)} layers: best {ck_best} layer "
              f"{j_best}, exact minus unpatched, test of effect > SESOI over {m} "
              f"checkpoint-layers (Bonferroni); induction first clear at "
              f"{where(found['induction'])}, translation ability at "
              f"{where(found['translation'])}"),
        evidence={"early": list(tests), "checkpoint": ck_best, "layer": j_best,
                  "per_checkpoint": {ck: b.table() for ck, b in tests.items()},
                  "onset_induction": found["induction"],
                  "onset_translation": found["translation"],
                  "early_fraction": axes.design.early_fraction})])

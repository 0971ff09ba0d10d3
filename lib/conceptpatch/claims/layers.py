"""Layer sensitivity: mid layers patch, the last layers fail (the paper's bands scaled by depth).

Per source setting at the reference checkpoint (default: the last one), seen output languages
pooled. Mid = layers at 0.25-0.6 of depth, late = 0.65 and deeper, early = below mid (reported on
its own). Supported when all three hold: the mid band beats the unpatched rate (best layer,
Bonferroni), every late layer stays under unpatched + SESOI (upper bounds), and the best mid
layer beats the best late layer (Bonferroni for the mid pick). Refuted when the mid band is absent
(every upper bound below the SESOI), the mid layers do not beat the late ones by the SESOI, or a
late layer patches (its Bonferroni lower bound above the SESOI).
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
    band_test,
    family,
    missing_verdict,
    paired_rows,
    rows,
    sources,
)

CLAIM = Claim(
    id="layer_sensitivity", paper=PAPER, version=2, alpha=0.05, sesoi=0.05, paper_effect=0.30,
    statement="Patching from the mid layers induces the concept; patching only the last layers "
              "does not.",
)


def cases(axes: Axes) -> list[str]:
    """One case per source setting."""
    return [] if CLAIM.id in testable.no_case(axes) else sources(axes)


def evaluate(df: pd.DataFrame, alpha: float = CLAIM.alpha, *, design: Design | None = None,
             checkpoint: str | None = None, claim: Claim = CLAIM) -> list[Verdict]:
    """One verdict per source setting."""
    axes, held = testable.screened(claim.id, cases, df, design)
    if held is not None:
        return held
    final = checkpoint or axes.checkpoints[-1]
    at_ck = rows(df, checkpoint=final, output_lang=list(axes.seen))
    mid_l, late_l, early_l = (band_layers(at_ck, b) for b in ("mid", "late", "early"))
    items = []
    for setting in cases(axes):
        patched = rows(at_ck, setting=setting)
        base = rows(at_ck, setting="unpatched")
        mid = band_test(patched, base, mid_l, alpha)
        late = band_test(patched, base, late_l, alpha)
        if mid is None or late is None:
            reason = (f"{setting} at {final} needs patched mid layers ({mid_l}) and late layers "
                      f"({late_l}) and unpatched rows")
            items.append(missing_verdict(claim.id, setting, reason))
            continue
        early = band_test(patched, base, early_l, alpha)
        j_late = max(late.layers, key=lambda k: (late.estimates[k].effect, -k))
        m = len(mid.layers)
        j_mid = mid.best
        vs_late = paired_rows(rows(patched, layer=j_mid), rows(patched, layer=j_late), alpha / m)
        p_vs_late = min(1.0, vs_late.pvalue * m)
        late_opp = any(late.estimates[k].at(alpha / len(late.layers))[0] > claim.sesoi
                       for k in late.layers)
        late_ok = late.max_high < claim.sesoi
        items.append(Draft(
            claim, setting, alpha, effect=vs_late.effect, low=vs_late.low,
            high=min(vs_late.high, mid.max_high), p_raw=max(mid.pvalue, p_vs_late), n=vs_late.n,
            opposite=late_opp,
            opposite_text="a late layer patches (its lower bound clears the SESOI)",
            supportable=late_ok,  # supported needs the late bound shown
            what=(f"{setting} at {final}: mid layer {j_mid} vs late layer {j_late} "
                  f"(mid vs unpatched {mid.estimates[j_mid].effect:+.3f}, Bonferroni "
                  f"p={mid.pvalue:.2g}; late upper bound over unpatched "
                  f"{late.max_high:+.3f} {'<' if late_ok else '>='} SESOI)"),
            evidence={"checkpoint": final, "mid": mid.table(), "late": late.table(),
                      "early": early.table() if early else {}, "mid_layer": j_mid,
                      "late_layer": j_late, "late_bound_ok": late_ok,
                      "p_mid_vs_unpatched": mid.pvalue, "p_mid_vs_late": p_vs_late}))
    return family(items)

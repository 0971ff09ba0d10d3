"""Regression gate (``--new-checkpoint NAME``): is NAME's patching worse than before it?

Per (source setting, seen output language): the layer with the most exact translations over NAME
and the WINDOW checkpoints before it pooled (a choice blind to which is new), then NAME against
each earlier checkpoint on the same trials (concept-clustered paired test of a drop, Holm over
the comparisons and across cases). The gate fails (refuted) only on a significant drop whose size
is at least the margin; it passes (supported) when every drop's upper bound is below the margin.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from conceptpatch.claims.common import (
    PAPER,
    Axes,
    Claim,
    Design,
    Verdict,
    axes_from_results,
    family,
    fmt_ci,
    fmt_p,
    missing_item,
    missing_verdict,
    paired_rows,
    rows,
)
from conceptpatch.claims.induction import cases as induction_cases

CLAIM = Claim(
    id="regression", paper=PAPER, version=2, alpha=0.05, sesoi=0.10, paper_effect=0.0,
    statement="A new checkpoint patches no worse than the checkpoints before it.",
)
WINDOW = 2  # how many earlier checkpoints the new one is compared with (``[claims] gate_window``)


def gate(suite: Any) -> tuple[int, float]:
    """The gate's window and margin from ``[claims] gate_window`` / ``gate_margin`` (defaults:
    :data:`WINDOW` earlier checkpoints, a drop of the claim's SESOI)."""
    spec = getattr(suite, "claims", None) or {}
    return int(spec.get("gate_window", WINDOW)), float(spec.get("gate_margin", CLAIM.sesoi))


def cases(axes: Axes) -> list[str]:
    """``<setting>-<output language>`` as for concept induction."""
    return induction_cases(axes)


def evaluate(df: pd.DataFrame, new_checkpoint: str, alpha: float = CLAIM.alpha, *,
             margin: float | None = None, window: int = WINDOW, design: Design | None = None,
             claim: Claim = CLAIM) -> list[Verdict]:
    """One verdict per case; ``margin`` (default the claim's SESOI) is the drop that matters."""
    margin = claim.sesoi if margin is None else margin
    axes = axes_from_results(df, design)
    order = list(axes.checkpoints)
    all_cases = cases(axes)
    if new_checkpoint not in order:
        return [missing_verdict(claim.id, c, f"no rows for new checkpoint {new_checkpoint}")
                for c in all_cases]
    earlier = order[: order.index(new_checkpoint)][-window:]
    if not earlier:
        return [missing_verdict(claim.id, c, f"{new_checkpoint} has no earlier checkpoint")
                for c in all_cases]
    items = []
    for case in all_cases:
        setting, lang = case.split("-", 1)
        sub = rows(df, setting=setting, output_lang=lang, checkpoint=[*earlier, new_checkpoint])
        patched = sub[sub["layer"] >= 0]
        if patched.empty:
            items.append(missing_item(
                claim.id, case, f"no rows for {case} at {new_checkpoint} or {earlier}"))
            continue
        rate = patched["category"].eq("exact").groupby(patched["layer"]).mean()
        layer = int(min(j for j, v in rate.items() if v == rate.max()))
        new = rows(patched, checkpoint=new_checkpoint, layer=layer)
        drops = {e: paired_rows(rows(patched, checkpoint=e, layer=layer), new, alpha)
                 for e in earlier}
        drops = {e: d for e, d in drops.items() if d.n}
        if new.empty or not drops:
            items.append(missing_item(claim.id, case, f"no paired trials for {case}"))
            continue
        worst = min(drops, key=lambda e: (drops[e].pvalue, -drops[e].effect))
        p_raw = min(1.0, drops[worst].pvalue * len(drops))

        def build(p_adj: float, case=case, drops=drops, worst=worst, layer=layer,
                  p_raw=p_raw) -> Verdict:
            d = drops[worst]
            high = max(e.high for e in drops.values())
            if p_adj <= alpha and d.effect >= margin:
                verdict, text = "refuted", "regressed"
            elif high < margin:
                verdict, text = "supported", "no drop as large as the margin"
            else:
                verdict, text = "inconclusive", "undetermined"
            listing = "; ".join(f"{e}: drop {x.effect:+.3f} {fmt_ci(x.low, x.high)}"
                                for e, x in drops.items())
            msg = (f"{case} at {new_checkpoint}, layer {layer} (best over old and new pooled): "
                   f"{listing}; margin {margin}; worst {worst} p={fmt_p(p_raw)}, Holm "
                   f"p={fmt_p(p_adj)}, n={d.n} -> {verdict} ({text})")
            return Verdict(claim.id, case, verdict, d.effect, d.low, high, p_adj, d.n, msg,
                           {"new": new_checkpoint, "earlier": earlier, "layer": layer,
                            "drops": {e: x.effect for e, x in drops.items()}},
                           p_raw, margin, claim.paper_effect, text)

        items.append((case, p_raw, build))
    return family(items)

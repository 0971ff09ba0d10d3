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
    Draft,
    Verdict,
    axes_from_results,
    claims_section,
    family,
    missing_verdict,
    paired_rows,
    rows,
)
from conceptpatch.claims.induction import cases as induction_cases
from conceptpatch.config.sections import ClaimsSection
from conceptpatch.numbers import interval_text, p_text

CLAIM = Claim(
    id="regression", paper=PAPER, version=2, alpha=0.05, sesoi=0.10, paper_effect=0.0,
    statement="A new checkpoint patches no worse than the checkpoints before it.",
)
#: How many earlier checkpoints the new one is compared with (``[claims] gate_window``).
WINDOW = ClaimsSection.gate_window


def gate(suite: Any) -> tuple[int, float]:
    """The gate's window and margin from ``[claims] gate_window`` / ``gate_margin`` (defaults:
    :data:`WINDOW` earlier checkpoints, a drop of the claim's SESOI)."""
    spec = claims_section(suite)
    return spec.gate_window, CLAIM.sesoi if spec.gate_margin is None else float(spec.gate_margin)


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
            items.append(missing_verdict(
                claim.id, case, f"no rows for {case} at {new_checkpoint} or {earlier}"))
            continue
        rate = patched["category"].eq("exact").groupby(patched["layer"]).mean()
        layer = int(min(j for j, v in rate.items() if v == rate.max()))
        new = rows(patched, checkpoint=new_checkpoint, layer=layer)
        drops = {e: paired_rows(rows(patched, checkpoint=e, layer=layer), new, alpha)
                 for e in earlier}
        drops = {e: d for e, d in drops.items() if d.n}
        if new.empty or not drops:
            items.append(missing_verdict(claim.id, case, f"no paired trials for {case}"))
            continue
        worst = min(drops, key=lambda e: (drops[e].pvalue, -drops[e].effect))
        d = drops[worst]
        listing = "; ".join(f"{e}: drop {x.effect:+.3f} {interval_text(x.low, x.high)}"
                            for e, x in drops.items())
        items.append(Draft(
            claim, case, alpha, effect=d.effect, low=d.low,
            high=max(e.high for e in drops.values()), p_raw=min(1.0, d.pvalue * len(drops)),
            n=d.n, sesoi=margin, rule=gate_verdict,
            what=(f"{case} at {new_checkpoint}, layer {layer} (best over old and new pooled): "
                  f"{listing}; margin {margin}; worst {worst}"),
            evidence={"new": new_checkpoint, "earlier": earlier, "layer": layer,
                      "drops": {e: x.effect for e, x in drops.items()}}))
    return family(items)


def gate_verdict(draft: Draft, p_adj: float) -> Verdict:
    """The gate's rule (a draft's ``sesoi`` is the margin): refuted, a fail, on a significant
    drop at least the margin; supported, a pass, when every drop's upper bound is below it."""
    margin = draft.sesoi
    if p_adj <= draft.alpha and draft.effect >= margin:
        verdict, text = "refuted", "regressed"
    elif draft.high < margin:
        verdict, text = "supported", "no drop as large as the margin"
    else:
        verdict, text = "inconclusive", "undetermined"
    msg = (f"{draft.what} p={p_text(draft.p_raw)}, Holm p={p_text(p_adj)}, n={draft.n} -> "
           f"{verdict} ({text})")
    return Verdict(draft.claim.id, draft.case, verdict, draft.effect, draft.low, draft.high,
                   p_adj, draft.n, msg, draft.evidence, draft.p_raw, margin,
                   draft.claim.paper_effect, text)

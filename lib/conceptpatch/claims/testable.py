"""Which claims a suite (or a results table) can test, and why not: the one definition.

Two kinds of reasons, both from :class:`~conceptpatch.claims.common.Axes` alone, so ``conceptpatch
check`` tells them before any compute and the claims, the pytest plugin and the notebook API agree:

- the design gives the claim no case (:func:`no_case`): too few checkpoints, phases or languages,
  or no source setting the claim reads. Such a claim has no case anywhere: each claim module's
  ``cases(axes)`` is empty, so the plugin collects nothing and ``evaluate`` returns nothing.
- the claim's layer band has no computed layer (:func:`band_gaps`): its cases exist, but each is
  reported ``inconclusive`` with the reading ``"untestable: <reason>"`` (:func:`untestable_verdict`)
  so that ``--inconclusive fail`` fails on it and the report says why. Known only where the
  model's layer count is (``Axes.n_layers``); unknown, nothing is guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pandas as pd

from conceptpatch.claims.common import (
    BANDS,
    PIVOT,
    Axes,
    Design,
    Verdict,
    axes_from_results,
    band_of,
    early_checkpoints,
    reference_checkpoint,
    sources,
)

__all__ = [
    "UNTESTABLE",
    "band_gaps",
    "computed_band",
    "later_in_phase",
    "no_case",
    "screen",
    "screened",
    "untestable",
    "untestable_verdict",
]

#: How the reading of a case whose claim cannot be tested starts.
UNTESTABLE = "untestable"
#: The bands each claim reads: "design" is the suite's declared band (``[claims] band``).
NEEDS_BANDS: dict[str, tuple[str, ...]] = {
    "concept_induction": ("design",), "layer_sensitivity": ("mid", "late"),
    "early_emergence": ("design",), "stability": ("design",), "phase_two": ("design",),
    "unseen_language": ("design",), "language_dependence": ("design",), "regression": (),
}


def _sources(axes: Axes) -> str | None:
    return None if sources(axes) else "the suite runs neither seen nor en_en sources"


def _seen_setting(axes: Axes) -> str | None:
    return None if "seen" in axes.settings else "needs the seen source setting"


def _seen(axes: Axes, at_least: int = 1) -> str | None:
    if len(axes.seen) >= at_least:
        return None
    return ("the suite lists no seen output language" if at_least == 1
            else f"needs {at_least} or more seen output languages")


def _first(*reasons: str | None) -> str | None:
    return next((r for r in reasons if r is not None), None)


def later_in_phase(axes: Axes) -> list[str]:
    """The checkpoints stability compares with its reference: after the early window, in the
    reference's data phase, the reference excluded."""
    ref = reference_checkpoint(axes)
    if ref is None or ref not in axes.checkpoints:
        return []
    phase = axes.phases[axes.checkpoints.index(ref)]
    early = set(early_checkpoints(axes))
    return [c for c, p in zip(axes.checkpoints, axes.phases, strict=True)
            if c not in early and c != ref and p == phase]


def _emergence(axes: Axes) -> str | None:
    early = early_checkpoints(axes)
    if early and len(early) < len(axes.checkpoints):
        return None
    return (f"needs checkpoints across training: one within the first "
            f"{axes.design.early_fraction:.0%} (early_fraction) and one after it")


def _stability(axes: Axes) -> str | None:
    ref = axes.design.reference
    if ref is not None and ref not in axes.checkpoints:
        return f"the declared reference {ref!r} is not a checkpoint of the suite"
    if later_in_phase(axes):
        return None
    return ("needs two checkpoints of one data phase after the first "
            f"{axes.design.early_fraction:.0%} of training (the reference and another)")


def _phase_two(axes: Axes) -> str | None:
    if len(set(axes.phases)) < 2:
        return "needs checkpoints of data phases 1 and 2"
    if not [g for g in axes.seen if g != PIVOT]:
        return f"needs a seen output language besides {PIVOT}"
    return None


def _unseen(axes: Axes) -> str | None:
    return None if axes.unseen else "the suite lists no unseen language"


#: What each claim needs of the design to have a case at all (None: it has its cases).
RULES: dict[str, Callable[[Axes], str | None]] = {
    "concept_induction": lambda a: _first(_sources(a), _seen(a)),
    "layer_sensitivity": lambda a: _first(_sources(a), _seen(a)),
    "early_emergence": lambda a: _first(_seen_setting(a), _seen(a), _emergence(a)),
    "stability": lambda a: _first(_seen_setting(a), _seen(a), _stability(a)),
    "phase_two": lambda a: _first(_seen_setting(a), _phase_two(a)),
    "unseen_language": lambda a: _first(_seen_setting(a), _seen(a), _unseen(a)),
    "language_dependence": lambda a: _first(_sources(a), _seen(a, 2)),
    "regression": lambda a: _first(_sources(a), _seen(a)),
}


def no_case(axes: Axes) -> dict[str, str]:
    """The claims the design gives no case, each with the reason (the suite cannot test them)."""
    if not axes.checkpoints:
        return {claim: "the suite has no checkpoint" for claim in RULES}
    found = {claim: rule(axes) for claim, rule in RULES.items()}
    return {claim: why for claim, why in found.items() if why is not None}


def _patched(axes: Axes) -> list[int] | None:
    """The first layers computed, in 0..n_layers-1; None when the layer count is unknown."""
    n = axes.n_layers
    if n is None:
        known = axes.layers is not None and all(j >= 0 for j in axes.layers)
        return sorted(set(axes.layers)) if known else None
    if axes.layers is None:
        return list(range(n))
    return sorted({j % n for j in axes.layers if -n <= j < n})


def computed_band(axes: Axes, band: str | Sequence[int]) -> list[int] | None:
    """The computed layers in ``band`` (a band name or explicit layers); None when unknown."""
    layers = _patched(axes)
    if layers is None:
        return None
    if not isinstance(band, str):
        return [j for j in layers if j in set(band)]
    if axes.n_layers is None:
        return None
    return [j for j in layers if band_of(j, axes.n_layers) == band]


def _in_band(band: str, n_layers: int) -> list[int]:
    return [j for j in range(n_layers) if band_of(j, n_layers) == band]


def _band_gap(axes: Axes, band: str | Sequence[int]) -> str | None:
    """Why ``band`` has no computed layer, with the fix; None when it has one or is unknown."""
    found = computed_band(axes, band)
    if found is None or found:
        return None
    layers = _patched(axes) or []
    n = axes.n_layers
    of = f" of {n}" if n is not None else ""
    listed = f"layers {', '.join(map(str, layers)) or 'none'}{of}"
    if not isinstance(band, str):
        return (f"its band (layers {', '.join(map(str, band))}) has no computed layer "
                f"({listed}): compute them in [patch] layers")
    lo, hi = BANDS[band]
    inside = _in_band(band, int(n or 0))
    fix = (f"add one of {inside[0]}-{inside[-1]} to [patch] layers" if inside
           else f"the model has too few layers for a {band} band")
    return f"the {band} band ({lo:g}-{hi:g} of depth) has no computed layer ({listed}): {fix}"


def band_gaps(axes: Axes) -> dict[str, str]:
    """The claims with cases whose layer band has no computed layer, each with the reason and
    the fix (empty where the model's layer count is unknown: see :func:`computed_band`)."""
    out: dict[str, str] = {}
    skip = no_case(axes)
    for claim, bands in NEEDS_BANDS.items():
        if claim in skip:
            continue
        named = [axes.design.band if b == "design" else b for b in bands]
        why = _first(*(_band_gap(axes, b) for b in named))
        if why is not None:
            out[claim] = why
    return out


def untestable(axes: Axes) -> dict[str, str]:
    """Every claim the design cannot test, with the reason: no case (:func:`no_case`), or a
    layer band without a computed layer (:func:`band_gaps`)."""
    return {**no_case(axes), **band_gaps(axes)}


def untestable_verdict(claim_id: str, case: str, reason: str) -> Verdict:
    """An inconclusive verdict for a case its claim cannot test, read "untestable: <reason>"."""
    nan = math.nan
    text = f"{UNTESTABLE}: {reason}"
    return Verdict(claim_id, case, "inconclusive", nan, nan, nan, nan, 0, text, {"untestable":
                   reason}, reading=text)


def screen(claim_id: str, cases: Sequence[str], axes: Axes) -> list[Verdict] | None:
    """What a claim's ``evaluate`` returns before testing: nothing for a claim without cases,
    an untestable verdict per case when its band has no computed layer; None: go on and test."""
    if not cases:
        return []
    why = band_gaps(axes).get(claim_id)
    if why is None:
        return None
    return [untestable_verdict(claim_id, case, why) for case in cases]


def screened(claim_id: str, cases: Callable[[Axes], Sequence[str]], df: pd.DataFrame,
             design: Design | None) -> tuple[Axes, list[Verdict] | None]:
    """The axes of a results table, and :func:`screen` of the claim's ``cases`` on them."""
    axes = axes_from_results(df, design)
    return axes, screen(claim_id, cases(axes), axes)

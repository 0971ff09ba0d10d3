"""The paper's claims as pure functions of a results table, one module per claim.

Each module (:mod:`~conceptpatch.claims.induction`, ``layers``, ``emergence``, ``stability``,
``phase_two``, ``unseen``, ``language``, ``regression``) declares its :class:`Claim` (alpha, the
smallest effect size of interest, the paper's effect), ``cases(axes)`` and
``evaluate(df, alpha, ...) -> list[Verdict]``; :mod:`~conceptpatch.claims.common` holds what they
share and :mod:`~conceptpatch.claims.simulate` draws results tables for calibration. Nothing here
imports pytest at module level.
"""

from __future__ import annotations

from types import ModuleType

from conceptpatch.claims import (
    emergence,
    induction,
    language,
    layers,
    phase_two,
    regression,
    stability,
    unseen,
)
from conceptpatch.claims.common import (
    CATEGORIES,
    LABEL_TO_CATEGORY,
    PAPER,
    Axes,
    Claim,
    Design,
    Verdict,
    assert_verdict,
    axes_from_results,
    axes_from_suite,
    benjamini_hochberg,
    decide,
    missing_verdict,
    to_categories,
)
from conceptpatch.claims.simulate import World, simulate, synthetic_results

#: Every claim module by claim id, in the order the paper makes them (the gate last).
MODULES: dict[str, ModuleType] = {m.CLAIM.id: m for m in (
    induction, layers, emergence, stability, phase_two, unseen, language, regression)}

__all__ = [
    "CATEGORIES",
    "LABEL_TO_CATEGORY",
    "MODULES",
    "PAPER",
    "Axes",
    "Claim",
    "Design",
    "Verdict",
    "World",
    "assert_verdict",
    "axes_from_results",
    "axes_from_suite",
    "benjamini_hochberg",
    "decide",
    "missing_verdict",
    "simulate",
    "synthetic_results",
    "to_categories",
]

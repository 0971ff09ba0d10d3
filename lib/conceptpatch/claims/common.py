"""What every claim shares: verdicts, the claim's design, layer bands, row selection, decisions.

A claim module (one per paper claim, beside this one) declares its :class:`Claim` (level alpha,
smallest effect size of interest, the paper's effect), lists its cases from the suite's
:class:`Axes`, and evaluates a results table into :class:`Verdict` s with :func:`decide`:

- ``supported``: the claim's one-sided test is significant after the claim's correction (Holm
  across its cases, Bonferroni for a layer picked inside a band) and the effect is not shown to
  be smaller than the SESOI;
- ``refuted``: the effect's upper confidence bound lies below the SESOI (an equivalence-style
  "absent, or smaller than matters"), or the claim's opposite is significant;
- ``inconclusive``: neither.

Trials are clustered by their source concept (:mod:`conceptpatch.clustered`). Layer bands are
fractions of depth, the paper's 6-14 (mid) and 16+ (late) of 24 layers scaled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from conceptpatch import clustered, stats
from conceptpatch.clustered import Estimate
from conceptpatch.config.sections import ClaimsSection, section
from conceptpatch.errors import SuiteError
from conceptpatch.numbers import confidence_text, interval_text, p_text
from conceptpatch.vocabulary import CATEGORIES, LABEL_TO_CATEGORY

__all__ = [
    "BANDS",
    "CATEGORIES",
    "LABEL_TO_CATEGORY",
    "PAPER",
    "PIVOT",
    "SOURCE_SETTINGS",
    "Axes",
    "BandResult",
    "Claim",
    "Design",
    "Draft",
    "Verdict",
    "assert_verdict",
    "axes_from_results",
    "axes_from_suite",
    "band_layers",
    "band_test",
    "benjamini_hochberg",
    "decide",
    "family",
    "missing_verdict",
    "settle",
    "to_categories",
]

PAPER = "arXiv:2601.22851"
PIVOT = "en"
SOURCE_SETTINGS = ("seen", "en_en")
VerdictName = Literal["supported", "refuted", "inconclusive"]
#: Depth fractions of the paper's bands (EuroLLM-1.7B: mid = layers 6-14, late = 16+ of 24).
BANDS: Mapping[str, tuple[float, float]] = {
    "early": (0.0, 0.25), "mid": (0.25, 0.6), "late": (0.65, 1.0),
}


@dataclass(frozen=True, slots=True)
class Claim:
    """A statement of the paper tested by one claim module; edit it, bump ``version``.

    ``sesoi`` is the smallest effect size of interest (below it the claim counts as absent);
    ``paper_effect`` the size the paper reports, for the reading "smaller than the paper's".
    """

    id: str
    paper: str
    version: int
    alpha: float = 0.05
    sesoi: float = 0.05
    paper_effect: float = 0.30
    statement: str = ""


@dataclass(frozen=True, slots=True)
class Design:
    """What a suite declares in advance for its claims (``[claims]`` in the suite TOML).

    ``band``: the layer band where the concept is read (``"early"``, ``"mid"``, ``"late"`` or
    explicit layers); ``reference``: the checkpoint stability compares with (default: the last
    checkpoint of the first data phase); ``early_fraction``: "early" as a fraction of training;
    ``high_resource``/``low_resource``: output languages for the directed language test.
    """

    band: str | tuple[int, ...] = ClaimsSection.band
    reference: str | None = ClaimsSection.reference
    early_fraction: float = ClaimsSection.early_fraction
    high_resource: tuple[str, ...] = ClaimsSection.high_resource
    low_resource: tuple[str, ...] = ClaimsSection.low_resource

    @classmethod
    def from_suite(cls, suite: Any) -> Design:
        """The design of a suite's ``[claims]`` (a section, or a mapping; absent keys: the
        section's defaults)."""
        spec = claims_section(suite)
        band = spec.band
        return cls(
            band=tuple(int(j) for j in band) if isinstance(band, tuple) else str(band),
            reference=spec.reference,
            early_fraction=float(spec.early_fraction),
            high_resource=tuple(spec.high_resource),
            low_resource=tuple(spec.low_resource),
        )


def claims_section(suite: Any) -> ClaimsSection:
    """The ``[claims]`` section of a suite, or of a mapping (a suite as JSON), typed."""
    spec = getattr(suite, "claims", None)
    return spec if isinstance(spec, ClaimsSection) else section(ClaimsSection, spec or {})


@dataclass(frozen=True, slots=True)
class Verdict:
    """The finding of one case of a claim: verdict, effect with CI, p-value, n, evidence.

    ``ci_low``/``ci_high`` are one-sided ``alpha`` bounds; ``pvalue`` is adjusted within the
    claim (Holm), ``raw_pvalue`` the case's own (after any band correction); ``reading`` says
    what the numbers mean ("absent", "smaller than the paper's effect", ...).
    """

    claim_id: str
    case: str
    verdict: VerdictName
    effect: float
    ci_low: float
    ci_high: float
    pvalue: float
    n: int
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    raw_pvalue: float = math.nan
    sesoi: float = math.nan
    paper_effect: float = math.nan
    reading: str = ""

    def to_record(self) -> dict[str, Any]:
        """A JSON-able dict (NaN and inf become None; numpy scalars become Python ones)."""
        return {
            "claim_id": self.claim_id, "case": self.case, "verdict": self.verdict,
            "effect": stats.finite(self.effect), "ci_low": stats.finite(self.ci_low),
            "ci_high": stats.finite(self.ci_high), "pvalue": stats.finite(self.pvalue),
            "raw_pvalue": stats.finite(self.raw_pvalue), "n": int(self.n),
            "sesoi": stats.finite(self.sesoi),
            "paper_effect": stats.finite(self.paper_effect), "reading": self.reading,
            "message": self.message, "evidence": _jsonable(dict(self.evidence)),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return stats.finite(value)
    return value


def assert_verdict(verdict: Verdict) -> None:
    """Turn a verdict into the pytest outcome: pass, ``pytest.fail`` or ``pytest.skip``."""
    import pytest

    if verdict.verdict == "refuted":
        pytest.fail(f"refuted: {verdict.message}", pytrace=False)
    if verdict.verdict == "inconclusive":
        pytest.skip(f"inconclusive: {verdict.message}")


def decide(p_adj: float, high: float, alpha: float, sesoi: float,
           opposite: bool = False) -> VerdictName:
    """Three outcomes: refuted when the upper bound is below the SESOI (or ``opposite``: the
    claim's contrary was shown), supported when significant, otherwise inconclusive."""
    if opposite or (not math.isnan(high) and high < sesoi):
        return "refuted"
    if not math.isnan(p_adj) and p_adj <= alpha:
        return "supported"
    return "inconclusive"


#: How a supported case's reading starts when the support comes with a caveat (the report
#: shows such cases as caveats, not as plain support).
CAVEAT = "caveat"


def reading(verdict: VerdictName, high: float, paper_effect: float, opposite: bool = False,
            significant: bool = False) -> str:
    """What a verdict means in words, "absent" kept apart from "smaller than the paper's"."""
    if verdict == "refuted":
        if opposite:
            return "contradicted"
        return "present but below the smallest effect of interest" if significant else "absent"
    if verdict == "supported":
        return ("smaller than the paper's effect" if high < paper_effect
                else "consistent with the paper's effect")
    return "undetermined"


def missing_verdict(claim_id: str, case: str, reason: str) -> Verdict:
    """An inconclusive verdict for a case without the rows it needs."""
    nan = math.nan
    return Verdict(claim_id, case, "inconclusive", nan, nan, nan, nan, 0, reason, {},
                   reading="not measurable")


def to_categories(labels: pd.Series) -> pd.Series:
    """Manual labels mapped onto the six categories; an unknown label is an error, not dropped."""
    mapped = labels.map(LABEL_TO_CATEGORY)
    unknown = sorted(set(labels[mapped.isna()].astype(str)))
    if unknown:
        raise ValueError(
            f"labels {', '.join(unknown)} have no outcome category: use one of "
            f"{', '.join(LABEL_TO_CATEGORY)}")
    return mapped


# ---- what a claim ranges over ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Axes:
    """What claims range over: ordered checkpoints (with phases), languages, source settings."""

    checkpoints: tuple[str, ...]
    phases: tuple[int, ...]
    seen: tuple[str, ...]
    unseen: tuple[str, ...]
    settings: tuple[str, ...]
    design: Design = Design()
    progress: tuple[float, ...] = ()  # each checkpoint's fraction of training (tokens or steps)
    layers: tuple[int, ...] | None = None  # the first layers computed; None: all of the model's
    n_layers: int | None = None  # the model's decoder layers; None: not known (yet)


def _code(lang: Any) -> str:
    return str(getattr(lang, "code", lang))


def axes_from_suite(suite: Any, upto: str | None = None, n_layers: int | None = None) -> Axes:
    """Axes of a resolved suite, checkpoints ordered by step (then tokens); ``upto`` keeps the
    checkpoints up to that one (the regression gate); ``n_layers``: the model's, where known."""
    cks = sorted(suite.checkpoints,
                 key=lambda c: (int(getattr(c, "step", 0) or 0), int(getattr(c, "tokens", 0) or 0)))
    axis = [int(getattr(c, "tokens", 0) or 0) for c in cks]
    if not all(axis):
        axis = [int(getattr(c, "step", 0) or 0) for c in cks]
    progress = _fractions(axis)
    names = [c.name for c in cks]
    if upto is not None:
        if upto not in names:
            raise SuiteError(f"--new-checkpoint {upto!r} is not a checkpoint of the suite: "
                             f"choose one of {', '.join(names)}")
        cks = cks[: names.index(upto) + 1]
        progress = progress[: len(cks)]
    inner = getattr(suite, "suite", None)
    settings = getattr(suite, "settings", None) or getattr(inner, "settings", None)
    seen = getattr(suite, "seen", None) or getattr(suite, "languages_seen", ())
    unseen = getattr(suite, "unseen", None) or getattr(suite, "languages_unseen", ())
    layers = getattr(inner if inner is not None else suite, "layers", None)
    return Axes(
        tuple(c.name for c in cks), tuple(int(getattr(c, "phase", 1) or 1) for c in cks),
        tuple(_code(x) for x in seen), tuple(_code(x) for x in unseen),
        tuple(str(s) for s in settings or SOURCE_SETTINGS),
        Design.from_suite(inner if inner is not None else suite), progress,
        None if layers is None else tuple(int(j) for j in layers), n_layers,
    )


def _fractions(axis: Sequence[int]) -> tuple[float, ...]:
    """Training fractions: each value over the last."""
    end = max(axis) if len(axis) else 0
    return tuple(a / end if end else 0.0 for a in axis)


def checkpoint_order(df: pd.DataFrame) -> list[str]:
    """Checkpoints of a results table ordered by step, then tokens."""
    first = df.groupby("checkpoint")[["step", "tokens"]].first()
    return list(first.sort_values(["step", "tokens"], kind="stable").index)


def axes_from_results(df: pd.DataFrame, design: Design | None = None) -> Axes:
    """Axes present in a results table."""
    design = design or Design()
    if df.empty:
        return Axes((), (), (), (), (), design)
    order = checkpoint_order(df)
    phase = df.groupby("checkpoint")["phase"].first()
    langs = df.groupby("output_lang")["output_seen"].first()
    patched = df[df["layer"] >= 0]
    return Axes(
        tuple(order), tuple(int(phase[c]) for c in order),
        tuple(sorted(langs.index[langs.astype(bool)])),
        tuple(sorted(langs.index[~langs.astype(bool)])),
        tuple(sorted(set(df["setting"]) - {"unpatched"})), design,
        _fractions([int(v) for v in training_axis(df)[order]]),
        tuple(sorted(int(j) for j in patched["layer"].unique())),
        int(df["n_layers"].max()) if "n_layers" in df.columns else None,
    )


def sources(axes: Axes) -> list[str]:
    """The source settings a claim ranges over that the suite runs."""
    return [s for s in SOURCE_SETTINGS if s in axes.settings]


def early_checkpoints(axes: Axes) -> list[str]:
    """Checkpoints within the declared early fraction of training."""
    return [c for c, f in zip(axes.checkpoints, axes.progress, strict=True)
            if f <= axes.design.early_fraction]


def reference_checkpoint(axes: Axes) -> str | None:
    """The declared reference, else the last checkpoint of the first data phase."""
    if axes.design.reference is not None:
        return axes.design.reference
    if not axes.checkpoints:
        return None
    first = axes.phases[0]
    return [c for c, p in zip(axes.checkpoints, axes.phases, strict=True) if p == first][-1]


def training_axis(df: pd.DataFrame) -> pd.Series:
    """Training progress per checkpoint: tokens when every checkpoint has them, else steps."""
    first = df.groupby("checkpoint")[["step", "tokens"]].first()
    return first["tokens"] if (first["tokens"] > 0).all() else first["step"]


# ---- layer bands --------------------------------------------------------------------------


def band_of(layer: int, n_layers: int) -> str | None:
    """The band a first patched layer falls in by depth fraction (None between mid and late)."""
    frac = layer / n_layers
    for name, (lo, hi) in BANDS.items():
        if lo <= frac < hi or (name == "mid" and frac == hi) or (name == "late" and frac >= lo):
            return name
    return None


def band_layers(df: pd.DataFrame, band: str | Sequence[int]) -> list[int]:
    """The patched layers of ``df`` in ``band`` (a band name or explicit layers)."""
    patched = df[df["layer"] >= 0]
    if patched.empty:
        return []
    layers = sorted(int(j) for j in patched["layer"].unique())
    if not isinstance(band, str):
        return [j for j in layers if j in set(band)]
    if band not in BANDS:
        raise ValueError(f"band {band!r} is not one of {', '.join(BANDS)} or a list of layers")
    n_layers = int(patched["n_layers"].iloc[0])
    return [j for j in layers if band_of(j, n_layers) == band]


def band_name(band: str | Sequence[int]) -> str:
    return band if isinstance(band, str) else "layers " + ",".join(map(str, band))


# ---- rows and paired outcomes ---------------------------------------------------------------


def rows(df: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """Rows where every column equals its value (or is in it, for a list)."""
    mask = np.ones(len(df), dtype=bool)
    for col, val in where.items():
        if isinstance(val, list | tuple | set):
            mask &= df[col].isin(list(val)).to_numpy()
        else:
            mask &= (df[col] == val).to_numpy()
    return df[mask]


def aligned(a: pd.DataFrame, b: pd.DataFrame, what_a: str = "exact", what_b: str = "exact",
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes ``category == what`` of the trials both frames hold, and their concepts."""
    ta, tb = a["trial"].to_numpy(), b["trial"].to_numpy()
    if len(np.unique(ta)) != len(ta) or len(np.unique(tb)) != len(tb):
        a, b = a.drop_duplicates("trial"), b.drop_duplicates("trial")
        ta, tb = a["trial"].to_numpy(), b["trial"].to_numpy()
    _, ia, ib = np.intersect1d(ta, tb, assume_unique=True, return_indices=True)
    return (a["category"].to_numpy()[ia] == what_a, b["category"].to_numpy()[ib] == what_b,
            a["concept"].to_numpy()[ia])


def paired_rows(a: pd.DataFrame, b: pd.DataFrame, alpha: float, what_b: str = "exact"
                ) -> Estimate:
    """Clustered paired comparison of exact in ``a`` against ``what_b`` in ``b``."""
    x, y, concepts = aligned(a, b, "exact", what_b)
    return clustered.paired(x, y, concepts, alpha)


@dataclass(frozen=True, slots=True)
class BandResult:
    """Per-layer paired estimates of one comparison over a band's layers."""

    layers: tuple[int, ...]
    estimates: Mapping[int, Estimate]

    @property
    def best(self) -> int:
        """The layer with the smallest p-value (ties: larger effect, then lower layer)."""
        return min(self.layers, key=lambda j: (self.estimates[j].pvalue,
                                               -self.estimates[j].effect, j))

    @property
    def pvalue(self) -> float:
        """The best layer's p-value, Bonferroni over the band's layers."""
        return min(1.0, self.estimates[self.best].pvalue * len(self.layers))

    @property
    def max_high(self) -> float:
        """The largest upper bound: below a margin at every layer (intersection-union test)."""
        return max(self.estimates[j].high for j in self.layers)

    def clear(self, alpha: float, margin: float) -> bool:
        """Some layer's Bonferroni lower bound clears ``margin``: a success worth comparing."""
        return self.simultaneous_low(alpha)[1] > margin

    def simultaneous_low(self, alpha: float) -> tuple[int, float]:
        """The layer whose Bonferroni lower bound is highest, and that bound."""
        m = len(self.layers)
        lows = {j: self.estimates[j].at(alpha / m)[0] for j in self.layers}
        j = max(self.layers, key=lambda k: (lows[k], -k))
        return j, lows[j]

    def table(self) -> dict[str, dict[str, float]]:
        """Per-layer effect, bounds and p-value, for evidence."""
        return {str(j): {"effect": e.effect, "low": e.low, "high": e.high, "p": e.pvalue}
                for j, e in self.estimates.items()}


def band_test(patched: pd.DataFrame, reference: pd.DataFrame, layers: Sequence[int],
              alpha: float, what_ref: str = "exact") -> BandResult | None:
    """Exact at each layer of ``layers`` in ``patched`` against ``reference`` (same trials):
    the unpatched rows, or patched rows compared layer by layer."""
    by_layer = bool((reference["layer"] >= 0).any())
    found = {}
    for j in layers:
        at = patched[patched["layer"] == j]
        ref = reference[reference["layer"] == j] if by_layer else reference
        if at.empty or ref.empty:
            continue
        est = paired_rows(at, ref, alpha, what_ref)
        if est.n:
            found[j] = est
    return BandResult(tuple(found), found) if found else None


# ---- families ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """A case's numbers before the claim's Holm adjustment; :func:`family` settles it.

    ``what`` starts the message; ``opposite``: the claim's contrary was shown (``opposite_text``
    says how); ``sesoi``: the case's own, default the claim's; ``bounded=False`` for claims whose
    refutation is ``opposite`` alone (equivalence claims); ``caveat`` replaces a supported case's
    reading (what the support may only reflect); ``supportable=False``: a condition of support
    failed, so the Holm p-value is dropped (NaN) and the case is at most inconclusive; ``rule``:
    the claim's own decision in place of :func:`decide` (the regression gate's).
    """

    claim: Claim
    case: str
    alpha: float
    effect: float
    low: float
    high: float
    p_raw: float
    n: int
    what: str
    evidence: Mapping[str, Any]
    opposite: bool = False
    opposite_text: str = ""
    sesoi: float | None = None
    bounded: bool = True
    caveat: str = ""
    supportable: bool = True
    rule: Callable[[Draft, float], Verdict] | None = None


def family(cases: Iterable[Draft | Verdict]) -> list[Verdict]:
    """Holm across a claim's cases: each draft settled at its Holm-adjusted p-value (a verdict,
    such as a :func:`missing_verdict`, passes through, outside Holm)."""
    cases = list(cases)
    raw = [c.p_raw if isinstance(c, Draft) else math.nan for c in cases]
    adjusted = stats.holm(raw) if cases else np.array([])
    return [settle(c, float(p)) if isinstance(c, Draft) else c
            for c, p in zip(cases, adjusted, strict=True)]


def benjamini_hochberg(pvalues: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg q-values across every case of a run (None stays None)."""
    idx = [i for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    out: list[float | None] = [None] * len(pvalues)
    if idx:
        q = multipletests([float(pvalues[i]) for i in idx], method="fdr_bh")[1]
        for i, v in zip(idx, q, strict=True):
            out[i] = float(v)
    return out


def make_verdict(claim: Claim, case: str, alpha: float, *, p_adj: float, **numbers: Any
                 ) -> Verdict:
    """The verdict of a case's numbers (the fields of :class:`Draft`) at ``p_adj``."""
    return settle(Draft(claim, case, alpha, **numbers), p_adj)


def settle(draft: Draft, p_adj: float) -> Verdict:
    """A draft's verdict at its Holm-adjusted p-value: decision, reading, one-line message."""
    if not draft.supportable:
        p_adj = math.nan
    if draft.rule is not None:
        return draft.rule(draft, p_adj)
    d, claim, alpha = draft, draft.claim, draft.alpha
    sesoi = claim.sesoi if d.sesoi is None else d.sesoi
    verdict = decide(p_adj, d.high if d.bounded else math.nan, alpha, sesoi, d.opposite)
    text = reading(verdict, d.high, claim.paper_effect, d.opposite, p_adj <= alpha)
    if d.caveat and verdict == "supported":
        text = f"{CAVEAT}: {d.caveat}"
    msg = (f"{d.what}: effect {d.effect:+.3f}, one-sided {confidence_text(alpha)} bounds "
           f"{interval_text(d.low, d.high)}, SESOI {sesoi}, paper {claim.paper_effect}; "
           f"p={p_text(d.p_raw)}, Holm p={p_text(p_adj)}, "
           f"n={d.n}{'; ' + d.opposite_text if d.opposite else ''} -> {verdict} ({text})")
    return Verdict(claim.id, d.case, verdict, d.effect, d.low, d.high, p_adj, d.n, msg,
                   dict(d.evidence), d.p_raw, sesoi, claim.paper_effect, text)

"""The paper's claims as pure functions of a results table, each ending in verdicts.

One ``evaluate_<claim>(df, alpha, ...) -> list[Verdict]`` per claim of DESIGN.md. Each takes the
results table of the contract (one row per trial), picks the rows the claim needs, runs the tests
of :mod:`conceptpatch.stats` with Holm across the claim's cases, and turns every case into a
:class:`Verdict`:

- ``supported``: the claim's test is significant at ``alpha`` after Holm;
- ``refuted``: it is not, although the test had power >= ``min_power`` against an effect of the
  paper's size (or, for a harm test, the harm is significant);
- ``inconclusive``: it is not, and the power was too low, or the rows are missing.

Success of a patched trial is ``category == "exact"``; the unpatched baseline is the rate of
saying C without a patch on the same trial ids. When a test picks the best of several patch
layers its p-value is Bonferroni-multiplied by the number of layers tried. Nothing here imports
pytest at module level: :func:`assert_verdict` does so when a test calls it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from conceptpatch import stats
from conceptpatch.stats import PairedTest, TwoSampleTest

__all__ = [
    "CATEGORIES",
    "MIN_POWER",
    "PAPER",
    "Axes",
    "Claim",
    "Verdict",
    "assert_verdict",
    "axes_from_results",
    "axes_from_suite",
    "cases_concept_induction",
    "cases_emergence",
    "cases_language_dependence",
    "cases_layer_sensitivity",
    "cases_phase_two",
    "cases_regression",
    "cases_stability",
    "cases_unseen_bound",
    "cases_unseen_mix",
    "decide",
    "evaluate_concept_induction",
    "evaluate_early_emergence",
    "evaluate_language_dependence",
    "evaluate_layer_sensitivity",
    "evaluate_phase_two",
    "evaluate_regression",
    "evaluate_unseen_language",
    "missing_verdict",
    "synthetic_results",
]

PAPER = "arXiv:2601.22851"
MIN_POWER = 0.8
PIVOT = "en"
SOURCE_SETTINGS = ("seen", "en_en")
CATEGORIES = ("exact", "synonym", "other_language", "copy", "target", "unrelated")
VerdictName = Literal["supported", "refuted", "inconclusive"]
Comparison = PairedTest | TwoSampleTest


@dataclass(frozen=True, slots=True)
class Claim:
    """A statement of the paper tested by one module of ``claims/``; edit it, bump ``version``."""

    id: str
    paper: str
    version: int
    alpha: float = 0.05
    statement: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The finding of one case of a claim: verdict, effect with CI, p-value, n, power, evidence."""

    claim_id: str
    case: str
    verdict: VerdictName
    effect: float
    ci_low: float
    ci_high: float
    pvalue: float
    n: int
    power: float
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """A JSON-able dict (NaN and inf become None; numpy scalars become Python ones)."""
        return {
            "claim_id": self.claim_id,
            "case": self.case,
            "verdict": self.verdict,
            "effect": stats.finite(self.effect),
            "ci_low": stats.finite(self.ci_low),
            "ci_high": stats.finite(self.ci_high),
            "pvalue": stats.finite(self.pvalue),
            "n": int(self.n),
            "power": stats.finite(self.power),
            "message": self.message,
            "evidence": _jsonable(dict(self.evidence)),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
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


def decide(pvalue: float, power: float, alpha: float, min_power: float = MIN_POWER) -> VerdictName:
    """Supported when significant; refuted when not despite adequate power; else inconclusive."""
    if math.isnan(pvalue):
        return "inconclusive"
    if pvalue <= alpha:
        return "supported"
    return "refuted" if power >= min_power else "inconclusive"


def missing_verdict(claim_id: str, case: str, reason: str) -> Verdict:
    """An inconclusive verdict for a case without the rows it needs."""
    nan = float("nan")
    return Verdict(claim_id, case, "inconclusive", nan, nan, nan, nan, 0, nan, reason, {})


# ---- what a claim ranges over ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Axes:
    """What claims range over: ordered checkpoints (with phases), languages, source settings."""

    checkpoints: tuple[str, ...]
    phases: tuple[int, ...]
    seen: tuple[str, ...]
    unseen: tuple[str, ...]
    settings: tuple[str, ...]


def _code(lang: Any) -> str:
    return str(getattr(lang, "code", lang))


def axes_from_suite(suite: Any, upto: str | None = None) -> Axes:
    """Axes of a resolved suite (``conceptpatch.suite.Resolved``), checkpoints ordered by step.

    Takes any object with ``checkpoints`` (each with ``name``, ``step``, ``tokens``, ``phase``),
    ``seen``/``languages_seen``, ``unseen``/``languages_unseen`` and ``settings`` (or
    ``suite.settings``). ``upto`` keeps the checkpoints up to that one (the regression gate).
    """
    cks = sorted(
        suite.checkpoints,
        key=lambda c: (int(getattr(c, "step", 0) or 0), int(getattr(c, "tokens", 0) or 0)),
    )
    names = [c.name for c in cks]
    if upto is not None:
        if upto not in names:
            from conceptpatch.errors import SuiteError

            raise SuiteError(
                f"--new-checkpoint {upto!r} is not a checkpoint of the suite: choose one of "
                f"{', '.join(names)}"
            )
        cks = cks[: names.index(upto) + 1]
    inner = getattr(suite, "suite", None)
    settings = getattr(suite, "settings", None) or getattr(inner, "settings", None)
    seen = getattr(suite, "seen", None) or getattr(suite, "languages_seen", ())
    unseen = getattr(suite, "unseen", None) or getattr(suite, "languages_unseen", ())
    return Axes(
        tuple(c.name for c in cks),
        tuple(int(getattr(c, "phase", 1) or 1) for c in cks),
        tuple(_code(x) for x in seen),
        tuple(_code(x) for x in unseen),
        tuple(str(s) for s in settings or SOURCE_SETTINGS),
    )


def axes_from_results(df: pd.DataFrame) -> Axes:
    """Axes present in a results table (checkpoints ordered by step, then tokens)."""
    if df.empty:
        return Axes((), (), (), (), ())
    order = _checkpoints(df)
    phase = df.groupby("checkpoint")["phase"].first()
    langs = df.groupby("output_lang")["output_seen"].first()
    return Axes(
        tuple(order),
        tuple(int(phase[c]) for c in order),
        tuple(sorted(langs.index[langs.astype(bool)])),
        tuple(sorted(langs.index[~langs.astype(bool)])),
        tuple(sorted(set(df["setting"]) - {"unpatched"})),
    )


def _sources(axes: Axes) -> list[str]:
    return [s for s in SOURCE_SETTINGS if s in axes.settings]


def _n_early(n_checkpoints: int, early_fraction: float) -> int:
    return max(1, math.ceil(n_checkpoints * early_fraction))


def cases_concept_induction(axes: Axes) -> list[str]:
    """``<setting>-<output language>`` for the source settings and the seen output languages."""
    return [f"{s}-{lang}" for s in _sources(axes) for lang in axes.seen]


def cases_emergence(axes: Axes) -> list[str]:
    """One case: the first third of the checkpoints holds one significantly above baseline."""
    return ["emergence"] if axes.checkpoints else []


def cases_stability(axes: Axes, early_fraction: float = 1 / 3) -> list[str]:
    """``stable-<checkpoint>`` for every checkpoint after the early third."""
    start = _n_early(len(axes.checkpoints), early_fraction)
    return [f"stable-{c}" for c in axes.checkpoints[start:]]


def cases_layer_sensitivity(axes: Axes) -> list[str]:
    """One case per checkpoint."""
    return list(axes.checkpoints)


def cases_phase_two(axes: Axes) -> list[str]:
    """One case per seen, non-English output language."""
    return [lang for lang in axes.seen if lang != PIVOT]


def cases_unseen_bound(axes: Axes) -> list[str]:
    """``bound-<lang>`` per unseen output language."""
    return [f"bound-{lang}" for lang in axes.unseen]


def cases_unseen_mix(axes: Axes) -> list[str]:
    """``mix-<lang>`` per unseen output language."""
    return [f"mix-{lang}" for lang in axes.unseen]


def cases_language_dependence(axes: Axes) -> list[str]:
    """One case per source setting."""
    return _sources(axes)


def cases_regression(axes: Axes) -> list[str]:
    """``<setting>-<output language>`` as for concept induction."""
    return cases_concept_induction(axes)


# ---- row selection ----------------------------------------------------------------------------


def _checkpoints(df: pd.DataFrame) -> list[str]:
    first = df.groupby("checkpoint")[["step", "tokens"]].first()
    return list(first.sort_values(["step", "tokens"], kind="stable").index)


def _layer_bands(frame: pd.DataFrame) -> tuple[list[int], list[int]]:
    """Mid layers (j < 2L/3) and last layers (j >= 2L/3) among the patched layers of ``frame``."""
    patched = frame[frame["layer"] >= 0]
    if patched.empty:
        return [], []
    n_layers = int(patched["n_layers"].iloc[0])
    cut = (2 * n_layers) // 3
    layers = sorted(int(j) for j in patched["layer"].unique())
    return [j for j in layers if j < cut], [j for j in layers if j >= cut]


def _rows(df: pd.DataFrame, **where: Any) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for col, val in where.items():
        if isinstance(val, list | tuple | set):
            mask &= df[col].isin(list(val)).to_numpy()
        else:
            mask &= (df[col] == val).to_numpy()
    return df[mask]


def _exact(frame: pd.DataFrame) -> pd.Series:
    """Exact-translation indicator indexed by (output language, trial)."""
    s = frame["category"].eq("exact")
    s.index = pd.MultiIndex.from_arrays([frame["output_lang"], frame["trial"]])
    return s[~s.index.duplicated()]


def _pair_exact(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Exact indicators of the trials both frames hold, in one order (numpy fast path)."""
    ta, tb = a["trial"].to_numpy(), b["trial"].to_numpy()
    if len(np.unique(ta)) == len(ta) and len(np.unique(tb)) == len(tb):
        _, ia, ib = np.intersect1d(ta, tb, assume_unique=True, return_indices=True)
        return (a["category"].to_numpy()[ia] == "exact", b["category"].to_numpy()[ib] == "exact")
    x, y = _exact(a).align(_exact(b), join="inner")
    return x.to_numpy(), y.to_numpy()


def _compare(a: pd.DataFrame, b: pd.DataFrame, alternative: stats.Alternative = "greater"
             ) -> Comparison | None:
    """Exact McNemar on the trial ids both frames share; Fisher when they share none."""
    if a.empty or b.empty:
        return None
    x, y = _pair_exact(a, b)
    if len(x):
        return stats.mcnemar_test(x, y, alternative)
    ka, kb = int(a["category"].eq("exact").sum()), int(b["category"].eq("exact").sum())
    return stats.fisher_test(ka, len(a), kb, len(b), alternative)


def _rates(t: Comparison) -> tuple[float, float]:
    if isinstance(t, PairedTest):
        return t.rate_x, t.rate_y
    return t.k1 / t.n1, t.k2 / t.n2


def _power(t: Comparison, effect: float, alpha: float) -> float:
    """Power of the comparison ``t`` was, against a rise of ``effect`` at its n and level alpha."""
    if isinstance(t, PairedTest):
        p01 = min(max(t.c / t.n, 0.01), (1 - effect) / 2)
        return stats.power_mcnemar(t.n, p01 + effect, p01, alpha)
    base = t.k2 / t.n2
    return stats.power_two_sample(t.n1, t.n2, min(base + effect, 0.999), base, alpha)


def _best(tests: Mapping[int, Comparison | None]) -> tuple[int, Comparison, int] | None:
    """The layer with the smallest p-value (ties: larger effect, then lower layer), and m tried."""
    ok = {j: t for j, t in tests.items() if t is not None}
    if not ok:
        return None
    j = min(ok, key=lambda k: (ok[k].pvalue, -ok[k].statistic, k))
    return j, ok[j], len(ok)


def _best_layer_by_count(frame: pd.DataFrame, layers: Sequence[int]) -> int | None:
    """The layer of ``layers`` with the most exact translations in ``frame`` (pooled selection)."""
    sub = frame[frame["layer"].isin(list(layers))]
    if sub.empty:
        return None
    counts = sub["category"].eq("exact").groupby(sub["layer"]).mean()
    best = counts.max()
    return int(min(j for j, v in counts.items() if v == best))


def _fmt_p(p: float) -> str:
    return "nan" if math.isnan(p) else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def _ci_text(iv: stats.Interval) -> str:
    return f"[{iv.low:+.3f}, {iv.high:+.3f}]"


def _family(
    claim_id: str,
    items: list[tuple[str, float, Callable[[float, float], Verdict]]],
    alpha: float,
) -> list[Verdict]:
    """Holm across a claim's cases; each item builds its Verdict from (p_holm, alpha_case).

    Items are (case, raw p-value or NaN, builder); the builder gets the Holm-adjusted p-value and
    the per-case level alpha/m at which power is computed (Bonferroni, the worst step of Holm).
    """
    adjusted = stats.holm([p for _, p, _ in items]) if items else np.array([])
    m = max(1, sum(not math.isnan(p) for _, p, _ in items))
    return [build(float(p_adj), alpha / m)
            for (_, _, build), p_adj in zip(items, adjusted, strict=True)]


def _comparison_verdict(
    claim_id: str, case: str, t: Comparison, p_adj: float, power: float, alpha: float,
    what: str, evidence: dict[str, Any], verdict: VerdictName | None = None,
) -> Verdict:
    verdict = verdict or decide(p_adj, power, alpha)
    iv = t.ci(1 - alpha)
    rx, ry = _rates(t)
    n_x = t.n if isinstance(t, PairedTest) else t.n1
    kx = round(rx * n_x)
    wil = stats.rate_interval(kx, n_x, 0.95, "wilson")
    msg = (
        f"{what}: exact rate {rx:.3f} ({kx}/{n_x}, Wilson 95% [{wil.low:.3f}, {wil.high:.3f}]) "
        f"vs {ry:.3f}; difference {t.statistic:+.3f}, one-sided {1 - alpha:.0%} CI "
        f"{_ci_text(iv)}; {t.method} p={_fmt_p(t.pvalue)}, adjusted p={_fmt_p(p_adj)}, "
        f"n={t.n}, power={power:.2f} -> {verdict}"
    )
    ev = {"rate": rx, "rate_ci_low": wil.low, "rate_ci_high": wil.high, "reference_rate": ry,
          "method": t.method, "raw_pvalue": t.pvalue, **evidence}
    return Verdict(claim_id, case, verdict, t.statistic, iv.low, iv.high, p_adj, t.n, power,
                   msg, ev)


def _final(df: pd.DataFrame, checkpoint: str | None) -> str | None:
    order = _checkpoints(df)
    if checkpoint is not None:
        return checkpoint if checkpoint in order else None
    return order[-1] if order else None


# ---- claims -------------------------------------------------------------------------------------


def evaluate_concept_induction(
    df: pd.DataFrame, alpha: float, *, effect: float = 0.30, checkpoint: str | None = None,
    claim_id: str = "concept_induction",
) -> list[Verdict]:
    """Patching the mean latent induces C in held-out pairs, from seen and from English sources.

    Per (source setting, seen output language) at the final checkpoint: the best patch layer's
    exact rate against the unpatched rate of saying C on the same trial ids (exact McNemar,
    one-sided, Bonferroni over layers), Holm across cases; power against a rise of ``effect``.
    """
    axes = axes_from_results(df)
    final = _final(df, checkpoint)
    items = []
    for case in cases_concept_induction(axes):
        setting, lang = case.split("-", 1)
        rows = _rows(df, checkpoint=final, output_lang=lang)
        base = _rows(rows, setting="unpatched")
        patched = _rows(rows, setting=setting)
        best = _best({int(j): _compare(g, base) for j, g in patched.groupby("layer")})
        if best is None:
            reason = f"no {setting} or unpatched rows for output language {lang} at {final}"
            items.append((case, float("nan"),
                          lambda p, a, c=case, r=reason: missing_verdict(claim_id, c, r)))
            continue
        layer, t, m = best

        def build(p_adj, a_case, case=case, t=t, layer=layer, m=m, setting=setting,
                  lang=lang):
            power = _power(t, effect, a_case / m)
            what = (f"{setting} sources -> {lang} at {final}, layer {layer} (best of {m}) vs "
                    f"unpatched")
            return _comparison_verdict(claim_id, case, t, p_adj, power, alpha, what,
                                       {"checkpoint": final, "layer": layer, "layers_tried": m})

        items.append((case, min(1.0, t.pvalue * m), build))
    return _family(claim_id, items, alpha)


def _induction_by_checkpoint(
    df: pd.DataFrame, setting: str, langs: Sequence[str], layers: Sequence[int] | None = None
) -> dict[str, tuple[int, Comparison, int] | None]:
    out = {}
    for ck in _checkpoints(df):
        rows = _rows(df, checkpoint=ck, output_lang=list(langs))
        base = _rows(rows, setting="unpatched")
        patched = _rows(rows, setting=setting)
        if layers is not None:
            patched = patched[patched["layer"].isin(list(layers))]
        out[ck] = _best({int(j): _compare(g, base) for j, g in patched.groupby("layer")})
    return out


def evaluate_early_emergence(
    df: pd.DataFrame, alpha: float, *, effect: float = 0.30, tolerance: float = 0.15,
    early_fraction: float = 1 / 3, min_checkpoints: int = 3, claim_id: str = "early_emergence",
) -> list[Verdict]:
    """The shared space appears within the first third of the checkpoints and then stays stable.

    Needs ``min_checkpoints`` checkpoints (fewer: inconclusive).
    ``emergence``: some checkpoint of the early third has its best layer's exact rate (seen
    sources, seen output languages pooled) significantly above the unpatched rate (exact McNemar,
    Bonferroni over layers, Holm over the early checkpoints). ``stable-<ckpt>``: every later
    checkpoint's exact rate, at the layer best over all checkpoints, is equivalent to the
    emergence checkpoint's within ``tolerance`` (TOST, Holm across checkpoints).
    """
    axes = axes_from_results(df)
    order = list(axes.checkpoints)
    n_early = _n_early(len(order), early_fraction)
    seen_rows = _rows(df, output_lang=list(axes.seen))
    per_ck = _induction_by_checkpoint(seen_rows, "seen", axes.seen) if order else {}
    early = order[:n_early]
    raw = [min(1.0, per_ck[c][1].pvalue * per_ck[c][2]) if per_ck.get(c) else float("nan")
           for c in early]
    adj = stats.holm(raw) if early else np.array([])
    m_early = max(1, int(np.sum(~np.isnan(raw)))) if early else 1
    table = [
        {"checkpoint": c, "rate": _rates(per_ck[c][1])[0], "baseline": _rates(per_ck[c][1])[1],
         "layer": per_ck[c][0], "pvalue_bonferroni": min(1.0, per_ck[c][1].pvalue * per_ck[c][2])}
        for c in order if per_ck.get(c)
    ]
    verdicts: list[Verdict] = []
    if len(order) < min_checkpoints:
        reason = f"needs >= {min_checkpoints} checkpoints to speak of early, has {len(order)}"
        return [missing_verdict(claim_id, c, reason)
                for c in cases_emergence(axes) + cases_stability(axes, early_fraction)]
    emerged = next((c for c, p in zip(early, adj, strict=True) if p <= alpha), None)
    if not table:
        verdicts.append(missing_verdict(claim_id, "emergence",
                                        "no seen-source and unpatched rows for seen languages"))
    elif emerged is not None:
        layer, t, m = per_ck[emerged]
        p_adj = float(adj[early.index(emerged)])
        power = _power(t, effect, alpha / m_early / m)
        what = (f"first early checkpoint above baseline is {emerged} "
                f"({order.index(emerged) + 1} of {len(order)}; early = first {n_early}), "
                f"layer {layer}")
        verdicts.append(_comparison_verdict(claim_id, "emergence", t, p_adj, power, alpha, what,
                                            {"checkpoint": emerged, "table": table}))
    else:
        tested = [c for c in early if per_ck.get(c)]
        if not tested:
            verdicts.append(missing_verdict(claim_id, "emergence",
                                            f"no rows for the early checkpoints {early}"))
        else:
            powers = {c: _power(per_ck[c][1], effect, alpha / m_early / per_ck[c][2])
                      for c in tested}
            c = max(tested, key=lambda k: (powers[k], order.index(k)))
            layer, t, _m = per_ck[c]
            later = next((row["checkpoint"] for row in table
                          if row["pvalue_bonferroni"] <= alpha and row["checkpoint"] not in early),
                         None)
            what = (f"no checkpoint of the first {n_early} of {len(order)} is above baseline "
                    f"(first later one: {later}); best-powered early checkpoint {c}, layer {layer}")
            verdicts.append(_comparison_verdict(
                claim_id, "emergence", t, float(adj[early.index(c)]), powers[c], alpha, what,
                {"checkpoint": c, "first_later": later, "table": table}))
    # stability after emergence
    later_cases = cases_stability(axes, early_fraction)
    if emerged is None:
        reason = "no early emergence to be stable from (see the emergence case)"
        verdicts += [missing_verdict(claim_id, case, reason) for case in later_cases]
        return verdicts
    layer = _best_layer_by_count(_rows(seen_rows, setting="seen"),
                                 sorted(set(seen_rows["layer"]) - {-1}))
    ref = _rows(seen_rows, setting="seen", layer=layer, checkpoint=emerged)
    k_ref, n_ref = int(ref["category"].eq("exact").sum()), len(ref)
    items = []
    for case in later_cases:
        ck = case.removeprefix("stable-")
        rows = _rows(seen_rows, setting="seen", layer=layer, checkpoint=ck)
        if rows.empty or n_ref == 0:
            items.append((case, float("nan"), lambda p, a, c=case, k=ck: missing_verdict(
                claim_id, c, f"no seen-source rows at layer {layer} for {k} or {emerged}")))
            continue
        k, n = int(rows["category"].eq("exact").sum()), len(rows)
        t = stats.tost_test(k, n, k_ref, n_ref, tolerance)

        def build(p_adj, a_case, case=case, t=t, ck=ck):
            pooled = (t.k1 + t.k2) / (t.n1 + t.n2)
            power = stats.power_tost(t.n1, t.n2, pooled, tolerance, a_case)
            verdict = decide(p_adj, power, alpha)
            iv = t.ci(1 - 2 * alpha)
            msg = (f"exact rate at {ck} {t.k1 / t.n1:.3f} ({t.k1}/{t.n1}) vs at emergence "
                   f"checkpoint {emerged} {t.k2 / t.n2:.3f} ({t.k2}/{t.n2}), layer {layer}: "
                   f"difference {t.statistic:+.3f}, {1 - 2 * alpha:.0%} CI {_ci_text(iv)}, "
                   f"{t.method} margin +/-{tolerance} p={_fmt_p(t.pvalue)}, adjusted "
                   f"p={_fmt_p(p_adj)}, n={t.n}, power={power:.2f} -> {verdict}")
            return Verdict(claim_id, case, verdict, t.statistic, iv.low, iv.high, p_adj, t.n,
                           power, msg, {"checkpoint": ck, "reference": emerged, "layer": layer,
                                        "rate": t.k1 / t.n1, "reference_rate": t.k2 / t.n2,
                                        "margin": tolerance, "method": t.method,
                                        "raw_pvalue": t.pvalue})

        items.append((case, t.pvalue, build))
    return verdicts + _family(claim_id, items, alpha)


def evaluate_layer_sensitivity(
    df: pd.DataFrame, alpha: float, *, effect: float = 0.30, claim_id: str = "layer_sensitivity",
) -> list[Verdict]:
    """Early-to-mid layers patch, the last layers fail: per checkpoint, paired on trial ids.

    Mid layers are j < 2L/3, last layers j >= 2L/3. Per checkpoint (seen sources, seen output
    languages pooled): the best mid layer (Bonferroni) against the best last layer (the
    conservative reference), exact McNemar one-sided, Holm across checkpoints. A checkpoint
    without concept induction at any mid layer (best mid vs unpatched not significant at
    ``alpha``) has no effect to localise and is inconclusive.
    """
    axes = axes_from_results(df)
    seen_rows = _rows(df, output_lang=list(axes.seen))
    mid, last = _layer_bands(_rows(seen_rows, setting="seen"))
    induced = _induction_by_checkpoint(seen_rows, "seen", axes.seen, layers=mid) if mid else {}
    items = []
    for ck in cases_layer_sensitivity(axes):
        rows = _rows(seen_rows, setting="seen", checkpoint=ck)

        def skip(reason, case=ck):
            return lambda p, a: missing_verdict(claim_id, case, reason)

        if not mid or not last:
            items.append((ck, float("nan"), skip(f"suite patches no {'mid' if not mid else 'last'}"
                                                 " layer (mid: j < 2L/3, last: j >= 2L/3)")))
            continue
        ind = induced.get(ck)
        if ind is None:
            items.append((ck, float("nan"), skip(f"no seen-source or unpatched rows at {ck}")))
            continue
        p_ind = min(1.0, ind[1].pvalue * ind[2])
        if p_ind > alpha:
            items.append((ck, float("nan"), skip(
                f"no concept induction at {ck} (best mid layer {ind[0]}: exact "
                f"{_rates(ind[1])[0]:.3f} vs unpatched {_rates(ind[1])[1]:.3f}, p={_fmt_p(p_ind)}),"
                " so no layer effect to localise")))
            continue
        ref_layer = _best_layer_by_count(rows, last)
        ref = _rows(rows, layer=ref_layer)
        best = _best({j: _compare(_rows(rows, layer=j), ref) for j in mid})
        if best is None:
            items.append((ck, float("nan"), skip(f"no mid-layer rows at {ck}")))
            continue
        layer, t, m = best

        def build(p_adj, a_case, ck=ck, t=t, layer=layer, m=m, ref_layer=ref_layer):
            power = _power(t, effect, a_case / m)
            what = (f"{ck}: mid layer {layer} (best of {m}) vs last layer {ref_layer} "
                    f"(best of {len(last)})")
            return _comparison_verdict(claim_id, ck, t, p_adj, power, alpha, what,
                                       {"checkpoint": ck, "layer": layer,
                                        "last_layer": ref_layer, "mid_layers": mid,
                                        "last_layers": last})

        items.append((ck, min(1.0, t.pvalue * m), build))
    return _family(claim_id, items, alpha)


def evaluate_phase_two(
    df: pd.DataFrame, alpha: float, *, effect: float = 0.15, claim_id: str = "phase_two",
) -> list[Verdict]:
    """Phase two raises exact translations into non-English seen output languages.

    Per non-English seen output language: the last phase-2 checkpoint against the last phase-1
    checkpoint on the same trials (exact McNemar, one-sided), at the layer with the most exact
    translations over both checkpoints pooled (seen sources), Holm across languages.
    """
    axes = axes_from_results(df)
    p1 = [c for c, ph in zip(axes.checkpoints, axes.phases, strict=True) if ph == 1]
    p2 = [c for c, ph in zip(axes.checkpoints, axes.phases, strict=True) if ph == 2]
    cases = cases_phase_two(axes)
    if not p1 or not p2:
        reason = f"suite needs phase-1 and phase-2 checkpoints (has phase 1: {p1}, phase 2: {p2})"
        return [missing_verdict(claim_id, c, reason) for c in cases]
    a, b = p1[-1], p2[-1]
    seen_rows = _rows(df, setting="seen", checkpoint=[a, b], output_lang=list(axes.seen))
    layer = _best_layer_by_count(seen_rows, sorted(set(seen_rows["layer"])))
    items = []
    for lang in cases:
        after = _rows(seen_rows, checkpoint=b, layer=layer, output_lang=lang)
        before = _rows(seen_rows, checkpoint=a, layer=layer, output_lang=lang)
        t = _compare(after, before)
        if t is None:
            items.append((lang, float("nan"), lambda p, al, c=lang: missing_verdict(
                claim_id, c, f"no seen-source rows into {c} at {a} or {b}")))
            continue

        def build(p_adj, a_case, lang=lang, t=t):
            power = _power(t, effect, a_case)
            what = f"into {lang}, layer {layer}: last phase-2 {b} vs last phase-1 {a}"
            return _comparison_verdict(claim_id, lang, t, p_adj, power, alpha, what,
                                       {"before": a, "after": b, "layer": layer})

        items.append((lang, t.pvalue, build))
    return _family(claim_id, items, alpha)


_UNSEEN_DESIGN = {"exact": 0.02, "synonym": 0.0, "other_language": 0.05, "copy": 0.45,
                  "target": 0.03, "unrelated": 0.45}


def evaluate_unseen_language(
    df: pd.DataFrame, alpha: float, *, bound: float = 0.10, design_rate: float = 0.02,
    checkpoint: str | None = None, claim_id: str = "unseen_language",
) -> list[Verdict]:
    """An unseen output language fails, and its failures differ in kind from seen languages.

    ``bound-<lang>``: at the final checkpoint and the layer that patches the seen output languages
    best (the unseen language's own best when there are none), the exact rate is below
    ``bound`` (exact binomial, one-sided; power at ``design_rate``).
    ``mix-<lang>``: at that layer, the category mix of the unseen language differs from the seen
    languages pooled (chi-square, Monte Carlo when sparse; power against mostly copies and
    unrelated words); inconclusive unless the seen languages' exact rate there exceeds
    ``bound`` (nothing to contrast with). Holm across all cases.
    """
    axes = axes_from_results(df)
    final = _final(df, checkpoint)
    patched = _rows(df, checkpoint=final, setting="seen")
    seen_rows = _rows(patched, output_lang=list(axes.seen))
    seen_layer = _best_layer_by_count(seen_rows, sorted(set(seen_rows["layer"])))
    items = []
    for lang in axes.unseen:
        rows = _rows(patched, output_lang=lang)
        layer = seen_layer
        if layer is None and not rows.empty:
            layer = _best_layer_by_count(rows, sorted(set(rows["layer"])))
        at = _rows(rows, layer=layer) if layer is not None else rows
        for case in (f"bound-{lang}", f"mix-{lang}"):
            if at.empty:
                items.append((case, float("nan"), lambda p, a, c=case, g=lang: missing_verdict(
                    claim_id, c, f"no seen-source rows into unseen {g} at {final}")))
        if at.empty:
            continue
        k, n = int(at["category"].eq("exact").sum()), len(at)
        tb = stats.binomial_test(k, n, bound, "less")

        def build_bound(p_adj, a_case, lang=lang, t=tb, layer=layer):
            power = stats.power_binomial(t.n, bound, design_rate, a_case, "less")
            verdict = decide(p_adj, power, alpha)
            iv = t.ci(1 - alpha)
            msg = (f"unseen {lang} at {final}, layer {layer} (best for seen): exact rate "
                   f"{t.statistic:.3f} ({t.k}/{t.n}), one-sided {1 - alpha:.0%} upper bound "
                   f"{iv.high:.3f} vs bound {bound}; {t.method} p={_fmt_p(t.pvalue)}, adjusted "
                   f"p={_fmt_p(p_adj)}, n={t.n}, power={power:.2f} -> {verdict}")
            return Verdict(claim_id, f"bound-{lang}", verdict, t.statistic, iv.low, iv.high,
                           p_adj, t.n, power, msg, {"checkpoint": final, "layer": layer,
                                                    "bound": bound, "method": t.method,
                                                    "raw_pvalue": t.pvalue})

        items.append((f"bound-{lang}", tb.pvalue, build_bound))
        seen_at = _rows(patched, output_lang=list(axes.seen), layer=layer)
        if seen_at.empty:
            reason = f"no seen output languages at layer {layer} to compare"
            items.append((f"mix-{lang}", float("nan"), lambda p, a, g=lang, r=reason:
                          missing_verdict(claim_id, f"mix-{g}", r)))
            continue
        k_s = int(seen_at["category"].eq("exact").sum())
        if stats.binomial_test(k_s, len(seen_at), bound, "greater").pvalue > alpha:
            reason = (f"seen output languages do not patch either at layer {layer} (exact "
                      f"{k_s}/{len(seen_at)}, not above {bound}): no success to contrast with")
            items.append((f"mix-{lang}", float("nan"), lambda p, a, g=lang, r=reason:
                          missing_verdict(claim_id, f"mix-{g}", r)))
            continue
        cu = at["category"].value_counts().reindex(CATEGORIES, fill_value=0)
        cs = seen_at["category"].value_counts().reindex(CATEGORIES, fill_value=0)
        th = stats.heterogeneity_test(np.vstack([cu.to_numpy(), cs.to_numpy()]))

        def build_mix(p_adj, a_case, lang=lang, t=th, cu=cu, cs=cs, layer=layer):
            design = np.array([_UNSEEN_DESIGN[c] for c in CATEGORIES])
            seen_mix = cs.to_numpy() / cs.sum()
            power = stats.power_heterogeneity(np.vstack([design, seen_mix]),
                                              np.array([cu.sum(), cs.sum()]), a_case)
            verdict = decide(p_adj, power, alpha)
            fail_u = int(cu["copy"] + cu["unrelated"])
            fail_s = int(cs["copy"] + cs["unrelated"])
            diff = stats.fisher_test(fail_u, int(cu.sum()), fail_s, int(cs.sum()), "two-sided")
            iv = diff.ci(1 - alpha)
            mix_u = ", ".join(f"{c} {int(v)}" for c, v in cu.items() if v)
            mix_s = ", ".join(f"{c} {int(v)}" for c, v in cs.items() if v)
            msg = (f"unseen {lang} at {final}, layer {layer}: categories [{mix_u}] vs seen "
                   f"[{mix_s}]; copy+unrelated share {fail_u / cu.sum():.3f} vs "
                   f"{fail_s / cs.sum():.3f} (difference {diff.statistic:+.3f}, "
                   f"{1 - alpha:.0%} CI {_ci_text(iv)}); chi-square ({t.method}) "
                   f"{t.statistic:.2f}, dof {t.dof}, p={_fmt_p(t.pvalue)}, adjusted "
                   f"p={_fmt_p(p_adj)}, n={t.n}, power={power:.2f} -> {verdict}")
            return Verdict(claim_id, f"mix-{lang}", verdict, diff.statistic, iv.low, iv.high,
                           p_adj, t.n, power, msg,
                           {"checkpoint": final, "layer": layer, "unseen": cu.to_dict(),
                            "seen": cs.to_dict(), "method": t.method, "raw_pvalue": t.pvalue})

        items.append((f"mix-{lang}", th.pvalue, build_mix))
    return _family(claim_id, items, alpha)


def evaluate_language_dependence(
    df: pd.DataFrame, alpha: float, *, spread: float = 0.30, checkpoint: str | None = None,
    claim_id: str = "language_dependence",
) -> list[Verdict]:
    """Alignment depends on the output language: heterogeneity of exact rates across languages.

    Per source setting at the final checkpoint, at the layer with the most exact translations
    pooled over the seen output languages: chi-square homogeneity test of exact vs not across
    the seen output languages (Monte Carlo when sparse), Holm across settings. Power against
    rates spread evenly over ``spread`` around the pooled rate. The effect is the range of rates
    with Newcombe's interval between the two extreme languages (selected, so descriptive).
    """
    axes = axes_from_results(df)
    final = _final(df, checkpoint)
    items = []
    for setting in cases_language_dependence(axes):
        rows = _rows(df, checkpoint=final, setting=setting, output_lang=list(axes.seen))
        if len(axes.seen) < 2 or rows.empty:
            items.append((setting, float("nan"), lambda p, a, s=setting: missing_verdict(
                claim_id, s, f"needs >= 2 seen output languages with {s} rows at {final}")))
            continue
        layer = _best_layer_by_count(rows, sorted(set(rows["layer"])))
        at = _rows(rows, layer=layer)
        hit = at["category"].eq("exact")
        k = hit.groupby(at["output_lang"]).sum()
        n = hit.groupby(at["output_lang"]).size()
        table = np.column_stack([k.to_numpy(), (n - k).to_numpy()])
        t = stats.heterogeneity_test(table)

        def build(p_adj, a_case, setting=setting, t=t, k=k, n=n, layer=layer):
            rates = (k / n).sort_values()
            pooled = float(k.sum() / n.sum())
            lo = max(0.01, pooled - spread / 2)
            design = np.linspace(lo, min(0.99, lo + spread), len(n))
            power = stats.power_heterogeneity(np.column_stack([design, 1 - design]),
                                              n.to_numpy(), a_case)
            verdict = decide(p_adj, power, alpha)
            hi_l, lo_l = rates.index[-1], rates.index[0]
            diff = stats.fisher_test(int(k[hi_l]), int(n[hi_l]), int(k[lo_l]), int(n[lo_l]),
                                     "two-sided")
            iv = diff.ci(1 - alpha)
            listing = ", ".join(f"{g} {k[g]}/{n[g]}={k[g] / n[g]:.2f}" for g in rates.index)
            msg = (f"{setting} sources at {final}, layer {layer}: exact by output language "
                   f"[{listing}]; range {diff.statistic:.3f} ({hi_l} - {lo_l}, "
                   f"{1 - alpha:.0%} CI {_ci_text(iv)}); chi-square ({t.method}) "
                   f"{t.statistic:.2f}, dof {t.dof}, p={_fmt_p(t.pvalue)}, adjusted "
                   f"p={_fmt_p(p_adj)}, n={t.n}, power={power:.2f} -> {verdict}")
            return Verdict(claim_id, setting, verdict, diff.statistic, iv.low, iv.high, p_adj,
                           t.n, power, msg,
                           {"checkpoint": final, "layer": layer, "method": t.method,
                            "rates": {g: float(k[g] / n[g]) for g in rates.index},
                            "n": {g: int(n[g]) for g in rates.index}, "raw_pvalue": t.pvalue})

        items.append((setting, t.pvalue, build))
    return _family(claim_id, items, alpha)


def evaluate_regression(
    df: pd.DataFrame, new_checkpoint: str, alpha: float, *, drop: float = 0.10,
    window: int = 2, claim_id: str = "regression",
) -> list[Verdict]:
    """Regression gate: is ``new_checkpoint`` significantly worse than the checkpoints before it?

    Per (source setting, seen output language), at the layer with the most exact translations
    over the earlier checkpoints: for each trial id, the new exact indicator minus its mean over
    the last ``window`` earlier checkpoints; a one-sided exact sign test that drops outnumber
    rises, Holm across cases. Significant -> refuted (regression); else supported when the test
    had power >= MIN_POWER against a drop of ``drop`` (noise level: the smaller of the observed
    drop and rise counts), inconclusive otherwise.
    """
    axes = axes_from_results(df)
    order = list(axes.checkpoints)
    cases = cases_regression(axes)
    if new_checkpoint not in order:
        return [missing_verdict(claim_id, c, f"no rows for new checkpoint {new_checkpoint}")
                for c in cases]
    earlier = order[: order.index(new_checkpoint)][-window:]
    if not earlier:
        return [missing_verdict(claim_id, c, f"{new_checkpoint} has no earlier checkpoint")
                for c in cases]
    items = []
    for case in cases:
        setting, lang = case.split("-", 1)
        rows = _rows(df, setting=setting, output_lang=lang)
        layer = _best_layer_by_count(_rows(rows, checkpoint=earlier),
                                     sorted(set(rows["layer"])))
        new = _rows(rows, checkpoint=new_checkpoint, layer=layer)
        old = _rows(rows, checkpoint=earlier, layer=layer)
        if new.empty or old.empty:
            items.append((case, float("nan"), lambda p, a, c=case: missing_verdict(
                claim_id, c, f"no rows for {c} at {new_checkpoint} or {earlier}")))
            continue
        old_mean = old["category"].eq("exact").groupby(old["trial"]).mean()
        new_hit = new["category"].eq("exact").groupby(new["trial"]).first().astype(float)
        x, y = new_hit.align(old_mean, join="inner")
        d = (x - y).to_numpy()
        n_down, n_up = int((d < 0).sum()), int((d > 0).sum())
        t = (stats.binomial_test(n_down, n_down + n_up, 0.5, "greater")
             if n_down + n_up else None)
        p_raw = t.pvalue if t is not None else 1.0

        def build(p_adj, a_case, case=case, d=d, n_down=n_down, n_up=n_up, x=x, y=y,
                  layer=layer, p_raw=p_raw):
            n = len(d)
            p01 = min(max(min(n_up, n_down) / max(n, 1), 0.01), (1 - drop) / 2)
            power = stats.power_mcnemar(n, p01 + drop, p01, a_case)
            verdict: VerdictName = ("refuted" if p_adj <= alpha else
                                    "supported" if power >= MIN_POWER else "inconclusive")
            kx, ky = round(float(x.sum())), round(float(y.sum()))
            iv = stats.fisher_test(kx, n, ky, n, "two-sided").ci(1 - alpha)
            msg = (f"{case} at {new_checkpoint} vs mean of {', '.join(earlier)}, layer {layer}: "
                   f"exact rate {x.mean():.3f} vs {y.mean():.3f} (difference {d.mean():+.3f}, "
                   f"{1 - alpha:.0%} CI {_ci_text(iv)}); {n_down} trials worse, {n_up} better, "
                   f"exact sign test p={_fmt_p(p_raw)}, adjusted p={_fmt_p(p_adj)}, n={n}, "
                   f"power against a drop of {drop}={power:.2f} -> {verdict}")
            return Verdict(claim_id, case, verdict, float(d.mean()), iv.low, iv.high, p_adj, n,
                           power, msg, {"new": new_checkpoint, "earlier": earlier,
                                        "layer": layer, "worse": n_down, "better": n_up,
                                        "raw_pvalue": p_raw})

        items.append((case, p_raw, build))
    return _family(claim_id, items, alpha)


# ---- synthetic results tables (tests, calibration, demos) -----------------------------------

RateFn = Callable[[int, str, int, str], float]


def synthetic_results(
    *,
    checkpoints: Sequence[tuple[str, int, int]] = (("ck0", 0, 1), ("ck1", 100, 1),
                                                   ("ck2", 200, 1), ("ck3", 300, 2)),
    n_layers: int = 6,
    layers: Iterable[int] | None = None,
    seen: Sequence[str] = ("en", "fr", "de"),
    unseen: Sequence[str] = ("cy",),
    settings: Sequence[str] = ("seen", "en_en"),
    trials: int = 60,
    rate: RateFn | float = 0.5,
    baseline: float = 0.02,
    correlation: float = 0.0,
    seen_failures: Mapping[str, float] | None = None,
    unseen_failures: Mapping[str, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """A results table with the contract's schema and planted exact rates.

    ``checkpoints`` are (name, step, phase). ``rate(checkpoint_index, setting, layer,
    output_lang)`` (or a constant) is the chance a patched trial is exact; unpatched rows
    (layer -1) are exact with chance ``baseline``. With ``correlation`` rho, a trial reuses its
    own uniform draw with chance rho (same trial ids correlate across layers and checkpoints).
    Failures draw their category from ``seen_failures`` / ``unseen_failures``.
    """
    rng = np.random.default_rng(seed)
    layers = list(range(n_layers)) if layers is None else list(layers)
    langs = list(seen) + list(unseen)
    seen_f = dict(seen_failures or {c: 1.0 for c in CATEGORIES[1:]})
    unseen_f = dict(unseen_failures or {"copy": 0.5, "unrelated": 0.5})
    rate_fn: RateFn = rate if callable(rate) else (lambda *_: float(rate))
    n_trials = trials * len(langs)
    trial_ids = np.arange(n_trials, dtype=np.int64)
    out_lang = np.repeat(langs, trials)
    in_lang = np.array([seen[(langs.index(g) + 1) % len(seen)] for g in out_lang])
    shared = rng.random(n_trials)
    concept = np.array([f"c{i % 97}" for i in trial_ids])
    target = np.array([f"d{(i * 7 + 3) % 97}" for i in trial_ids])
    parts = []
    blocks = [("unpatched", -1)] + [(s, j) for s in settings for j in layers]
    for ci, (name, step, phase) in enumerate(checkpoints):
        for setting, layer in blocks:
            p = np.array([baseline if setting == "unpatched" else rate_fn(ci, setting, layer, g)
                          for g in langs]).repeat(trials)
            u = np.where(rng.random(n_trials) < correlation, shared, rng.random(n_trials))
            exact = u < p
            cat = np.empty(n_trials, dtype=object)
            cat[exact] = "exact"
            for mask, mix in ((np.isin(out_lang, list(seen)), seen_f),
                              (np.isin(out_lang, list(unseen)), unseen_f)):
                sel = mask & ~exact
                names = list(mix)
                probs = np.array([mix[c] for c in names], dtype=float)
                cat[sel] = rng.choice(names, size=int(sel.sum()), p=probs / probs.sum())
            parts.append(pd.DataFrame({
                "checkpoint": name, "step": np.int64(step), "tokens": np.int64(step * 1000),
                "phase": np.int64(phase), "layer": np.int64(layer),
                "n_layers": np.int64(n_layers), "position": "last", "setting": setting,
                "source_pairs": {"unpatched": "", "en_en": "en-en"}.get(setting, "de-en;en-fr"),
                "input_lang": in_lang, "output_lang": out_lang,
                "output_seen": np.isin(out_lang, list(seen)), "concept": concept,
                "target_concept": target, "trial": trial_ids,
                "output": [f"{c}:{g}" if k == "exact" else k
                           for c, g, k in zip(concept, out_lang, cat, strict=True)],
                "category": cat.astype(str), "p_concept": np.where(exact, 0.6, 0.05),
                "seed": np.int64(seed), "suite_hash": "synthetic",
            }))
    return pd.concat(parts, ignore_index=True)

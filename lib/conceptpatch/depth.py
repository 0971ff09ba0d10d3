"""Models compared by depth: where along its depth each model reads a patched concept.

Models differ in their number of layers, so layer numbers cannot be compared; fractions of depth
can. For each model (one checkpoint of one results table) this module measures, on one relative
depth axis, the exact rate by first patched layer, the model's **concept band**, and its
translation ability, then compares the bands' positions across models. Pure (pandas, numpy,
scipy): no torch, no files.

Definitions (docs/real-models.md#models-compared-by-depth says the same in prose):

- **Relative depth.** First patched layer j (0..n-1 of n decoder layers; the patch overwrites
  layer j's output and every later layer's) occupies the depth bin [j/n, (j+1)/n): the n layers
  tile [0, 1] whatever n is. A curve's point for layer j sits at the bin's middle, (j + 0.5)/n;
  a band of layers a..b runs from a/n (**start**) to (b+1)/n (**end**), **centre** their mean.
  The bin's start j/n is what `conceptpatch.claims.common.band_of` and read depth call layer j's
  depth, so a band here is on the scale of the claims' bands (the paper's mid = 0.25-0.6). Bins
  rather than points j/n: with points, a 6-layer model's last layer sits at 0.83 and a 30-layer
  model's at 0.97, which biases small models towards the input end, and a one-layer band has no
  width.
- **Exact rate by layer.** Trials of one source setting (default ``seen``) into seen output
  languages whose answer is C's word in the output language (category ``exact``), per first
  patched layer, with a concept-clustered Wilson interval (`conceptpatch.clustered.rate`, the
  source concept C the cluster).
- **Concept band.** The layers whose exact rate is at least half the model's peak rate, as the
  contiguous run of computed layers that holds the peak (the lowest peak layer on ties): the
  peak's width at half its height. No band when the peak rate is 0. A band is **clear** when
  the peak layer's lower bound lies above the **floor**, the unpatched exact rate (how often the
  model says C with no patch at all); otherwise it is the half-maximum width of noise, and every
  comparison with it reads "no clear band".
- **Intervals of the band.** A concept-cluster bootstrap: ``draws`` resamples of the concepts
  with replacement (seeded), each concept bringing all its trials at every layer; the band is
  recomputed on each and the interval is the equal-tailed percentile interval of its start, end
  and centre over the draws that have a band (those without one are counted, not used). Models
  whose trials have the same concepts share each draw (a concept drawn twice counts twice in
  both), so what their concepts have in common cancels in their difference; other models are
  resampled independently.
- **Translation ability.** The ``unpatched`` setting into seen output languages: the share of
  trials whose answer is one of D's words in the output language (the category scoring gives an
  unpatched trial's correct translation of its own concept D is ``target``), with a clustered
  Wilson interval, the concept D the cluster.
- **The comparison.** For each pair of models and each of start, end and centre: the difference
  (first minus second) with a Wald interval from the bootstrap standard error of the difference
  and a Wald test of equality (z, two-sided p, equal to the chi-square with 1 df). Over all
  models, a Wald chi-square test that every model's value is equal: the k - 1 successive
  differences with their bootstrap covariance, k - 1 degrees of freedom (fewer where the
  covariance is singular). A pair **differs** when p <= 1 - level; it is **the same within
  +-margin** when its interval lies inside (-margin, margin) (two one-sided tests at
  (1 - level)/2 each); otherwise **undetermined**.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from conceptpatch import clustered
from conceptpatch.errors import ConceptPatchError
from conceptpatch.vocabulary import SETTINGS

__all__ = [
    "DRAWS",
    "EDGES",
    "HALF",
    "LEVEL",
    "MARGIN",
    "SEED",
    "Comparison",
    "Interval",
    "ModelDepth",
    "ModelInput",
    "Selected",
    "band_edges",
    "band_positions",
    "bootstrap_edges",
    "compare",
    "concept_counts",
    "exact_by_layer",
    "layer_bin",
    "measure_model",
    "pair_rows",
    "relative_depth",
    "select",
    "translation",
    "wald_equal",
]

#: The band holds the layers at or above this fraction of the peak exact rate (half maximum).
HALF = 0.5
#: Two-sided confidence level of every interval.
LEVEL = 0.95
#: Bootstrap resamples of the concepts, and the seed of their generator.
DRAWS = 1000
SEED = 0
#: A difference of band position inside +-MARGIN (fraction of depth) counts as the same position.
MARGIN = 0.1
#: The band's three positions, in the order of every table.
EDGES: tuple[str, ...] = ("start", "end", "centre")
_TOLERANCE = 1e-12  # float slack of "at least half the peak" (1/3 vs (2/3) / 2)


def relative_depth(layer: int | np.ndarray, n_layers: int) -> float | np.ndarray:
    """Where layer j of ``n_layers`` sits on the depth axis: the middle of its bin,
    ``(j + 0.5) / n``."""
    return (layer + 0.5) / n_layers


def layer_bin(layer: int, n_layers: int) -> tuple[float, float]:
    """The depth bin ``[j / n, (j + 1) / n)`` that layer j of ``n_layers`` occupies."""
    return layer / n_layers, (layer + 1) / n_layers


def band_positions(rates: Sequence[float] | np.ndarray,
                   threshold: float = HALF) -> tuple[int, int] | None:
    """Positions (first, last) in ``rates`` (one rate per computed layer, in layer order) of the
    concept band: the contiguous run at or above ``threshold`` times the peak that holds the
    peak (the first peak on ties); None when the peak is 0 or no rate is finite."""
    r = np.asarray(rates, dtype=float)
    if r.size == 0 or not np.isfinite(r).any():
        return None
    at = int(np.nanargmax(r))
    peak = float(r[at])
    if not peak > 0:
        return None
    above = np.nan_to_num(r, nan=-1.0) >= threshold * peak - _TOLERANCE
    first, last = at, at
    while first > 0 and above[first - 1]:
        first -= 1
    while last < r.size - 1 and above[last + 1]:
        last += 1
    return first, last


def band_edges(first_layer: int, last_layer: int, n_layers: int) -> tuple[float, float, float]:
    """(start, end, centre) as fractions of depth of the band of layers first..last."""
    start, end = first_layer / n_layers, (last_layer + 1) / n_layers
    return start, end, (start + end) / 2


@dataclass(frozen=True, slots=True)
class Interval:
    """A value with its two-sided interval (NaN where it is not defined)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Selected:
    """The rows one model is measured on: one checkpoint, seen output languages."""

    checkpoint: str
    step: int
    n_layers: int
    setting: str
    patched: pd.DataFrame  # rows of ``setting`` at every computed first layer
    unpatched: pd.DataFrame  # rows of ``unpatched``

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(sorted(int(j) for j in self.patched["layer"].unique()))


def _order(table: pd.DataFrame) -> list[str]:
    """Checkpoints by step, then tokens, then name."""
    first = table.drop_duplicates("checkpoint")[["checkpoint", "step", "tokens"]]
    first = first.sort_values(["step", "tokens", "checkpoint"], kind="stable")
    return first["checkpoint"].astype(str).tolist()


def select(table: pd.DataFrame, name: str, checkpoint: str | None = None,
           setting: str = "seen") -> Selected:
    """The rows of ``table`` (a results table) one model is measured on: checkpoint
    ``checkpoint`` (default the last by step), ``setting`` and ``unpatched``, seen output
    languages. ``name`` (the store) is what a refusal names; every refusal is one line."""
    if setting not in SETTINGS or setting == "unpatched":
        patched = ", ".join(s for s in SETTINGS if s != "unpatched")
        raise ConceptPatchError(f"--setting {setting!r} is not a patched setting: use one of"
                                f" {patched}")
    if table.empty:
        raise ConceptPatchError(f"{name} holds no results: run `conceptpatch run SUITE --store"
                                " DIR` first")
    order = _order(table)
    if checkpoint is None:
        checkpoint = order[-1]
    elif checkpoint not in order:
        shown = ", ".join(order[:6]) + (f" and {len(order) - 6} more" if len(order) > 6 else "")
        raise ConceptPatchError(f"checkpoint {checkpoint!r} is not in {name} (it has {shown}):"
                                " fix --checkpoint")
    rows = table[(table["checkpoint"].astype(str) == checkpoint)
                 & table["output_seen"].astype(bool)]
    patched = rows[(rows["setting"] == setting) & (rows["layer"] >= 0)]
    unpatched = rows[rows["setting"] == "unpatched"]
    fix = ("add it to the suite's [patch] settings and run the suite into a new --store"
           " (or pass another --setting)")
    if patched.empty:
        held = ", ".join(sorted(set(table["setting"].astype(str)))) or "none"
        raise ConceptPatchError(f"{name} has no patched rows of setting {setting!r} into seen"
                                f" output languages at checkpoint {checkpoint!r} (its settings:"
                                f" {held}): {fix}")
    if unpatched.empty:
        raise ConceptPatchError(
            f"{name} has no 'unpatched' rows into seen output languages at checkpoint"
            f" {checkpoint!r}, so translation ability cannot be measured: add \"unpatched\" to"
            " the suite's [patch] settings and run the suite into a new --store")
    depths = sorted(set(int(n) for n in rows["n_layers"]))
    if len(depths) != 1:
        raise ConceptPatchError(f"{name} records {len(depths)} layer counts at checkpoint"
                                f" {checkpoint!r}: its units are damaged; recompute them")
    layers = patched["layer"].nunique()
    if layers < 2:
        raise ConceptPatchError(
            f"{name} has one first patched layer only (layer {int(patched['layer'].iloc[0])}):"
            " a band needs several; run the suite with layers = \"all\" into a new --store")
    step = int(rows["step"].iloc[0])
    return Selected(checkpoint, step, depths[0], setting, patched.reset_index(drop=True),
                    unpatched.reset_index(drop=True))


def _alpha(level: float) -> float:
    """One-sided alpha of a two-sided ``level`` interval (clustered.py's bounds are one-sided)."""
    return (1 - level) / 2


def exact_by_layer(patched: pd.DataFrame, n_layers: int, level: float = LEVEL) -> pd.DataFrame:
    """Exact rate by first patched layer: layer, depth (bin middle), trials, exact, concepts,
    rate and its concept-clustered interval (low, high)."""
    out = []
    for layer, rows in patched.groupby("layer", sort=True):
        hit = (rows["category"].astype(str) == "exact").to_numpy()
        est = clustered.rate(hit, rows["concept"].astype(str).to_numpy(), _alpha(level))
        out.append({"layer": int(layer), "depth": relative_depth(int(layer), n_layers),
                    "trials": int(hit.size), "exact": int(hit.sum()),
                    "concepts": int(est.clusters), "rate": est.effect, "low": est.low,
                    "high": est.high})
    return pd.DataFrame(out, columns=["layer", "depth", "trials", "exact", "concepts", "rate",
                                      "low", "high"])


def translation(unpatched: pd.DataFrame, level: float = LEVEL) -> tuple[Interval, int]:
    """Translation ability (share of unpatched trials answering one of D's words in the output
    language, category ``target``) with its interval clustered by D; and the trial count."""
    hit = (unpatched["category"].astype(str) == "target").to_numpy()
    est = clustered.rate(hit, unpatched["target_concept"].astype(str).to_numpy(), _alpha(level))
    return Interval(est.effect, est.low, est.high), int(hit.size)


def concept_counts(patched: pd.DataFrame, concepts: Sequence[str], layers: Sequence[int]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(exact, trials), each concepts x layers: what each concept contributes to each layer's
    rate (the unit the bootstrap resamples)."""
    c = pd.Categorical(patched["concept"].astype(str), categories=list(concepts)).codes
    if (c < 0).any():
        raise ValueError("patched rows hold a concept that is not in concepts")
    index = {j: i for i, j in enumerate(layers)}
    j = patched["layer"].map(index).to_numpy(dtype=np.int64)
    hit = (patched["category"].astype(str) == "exact").to_numpy(dtype=float)
    exact = np.zeros((len(concepts), len(layers)))
    trials = np.zeros((len(concepts), len(layers)))
    np.add.at(exact, (c, j), hit)
    np.add.at(trials, (c, j), 1.0)
    return exact, trials


def bootstrap_edges(exact: np.ndarray, trials: np.ndarray, weights: np.ndarray,
                    layers: Sequence[int], n_layers: int, threshold: float = HALF) -> np.ndarray:
    """The band's (start, end, centre) in each bootstrap draw: ``weights`` (draws x concepts)
    says how often each concept was drawn; a draw without a band gives NaN."""
    hits, counts = weights @ exact, weights @ trials
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(counts > 0, hits / np.where(counts > 0, counts, 1.0), np.nan)
    out = np.full((weights.shape[0], len(EDGES)), np.nan)
    for b, row in enumerate(rates):
        found = band_positions(row, threshold)
        if found is not None:
            out[b] = band_edges(layers[found[0]], layers[found[1]], n_layers)
    return out


@dataclass(frozen=True)
class ModelInput:
    """One model to compare: its label, its results table, the checkpoint (None: the last)."""

    label: str
    table: pd.DataFrame
    checkpoint: str | None = None
    source: str = ""  # the store the table came from, for messages and the page


@dataclass(frozen=True)
class ModelDepth:
    """One model measured on the depth axis (see the module's definitions)."""

    label: str
    source: str
    checkpoint: str
    step: int
    n_layers: int
    setting: str
    layers: tuple[int, ...]
    curve: pd.DataFrame = field(repr=False, compare=False)
    concepts: int
    trials: int  # trials per layer on average (setting, seen outputs)
    peak_layer: int
    peak: Interval  # the exact rate at the peak layer, with its clustered interval
    band_layers: tuple[int, int] | None  # first and last layer of the band; None: no band
    start: Interval
    end: Interval
    centre: Interval
    translation: Interval
    translation_trials: int
    floor: Interval  # the unpatched exact rate, clustered by C
    undefined_draws: int  # bootstrap draws without a band
    draws: np.ndarray = field(repr=False, compare=False)  # draws x (start, end, centre)

    @property
    def clear(self) -> bool:
        """Whether the band is clear of noise: the peak's lower bound is above the floor."""
        return self.band_layers is not None and self.peak.low > self.floor.value

    def edge(self, name: str) -> Interval:
        """The band's ``start``, ``end`` or ``centre``."""
        return {"start": self.start, "end": self.end, "centre": self.centre}[name]


def _percentile(values: np.ndarray, level: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def measure_model(selected: Selected, label: str, source: str, draws: np.ndarray,
                  concepts: Sequence[str], threshold: float = HALF,
                  level: float = LEVEL) -> ModelDepth:
    """Measure one model: curve, band with bootstrap intervals (``draws``: the weight of each
    of ``concepts`` in each draw), translation ability."""
    layers = selected.layers
    curve = exact_by_layer(selected.patched, selected.n_layers, level)
    rates = curve["rate"].to_numpy(dtype=float)
    at = int(np.nanargmax(rates))
    found = band_positions(rates, threshold)
    exact, trials = concept_counts(selected.patched, concepts, layers)
    boot = bootstrap_edges(exact, trials, draws, layers, selected.n_layers, threshold)
    if found is None:
        values: tuple[float, ...] = (math.nan,) * len(EDGES)
        band = None
    else:
        band = (layers[found[0]], layers[found[1]])
        values = band_edges(band[0], band[1], selected.n_layers)
    edges = [Interval(v, *_percentile(boot[:, i], level)) for i, v in enumerate(values)]
    ability, n_unpatched = translation(selected.unpatched, level)
    said = (selected.unpatched["category"].astype(str) == "exact").to_numpy()
    floor = clustered.rate(said, selected.unpatched["concept"].astype(str).to_numpy(),
                           _alpha(level))
    peak = curve.iloc[at]
    return ModelDepth(
        label=label, source=source, checkpoint=selected.checkpoint, step=selected.step,
        n_layers=selected.n_layers, setting=selected.setting, layers=layers, curve=curve,
        concepts=int(selected.patched["concept"].nunique()),
        trials=round(len(selected.patched) / len(layers)), peak_layer=int(peak["layer"]),
        peak=Interval(float(peak["rate"]), float(peak["low"]), float(peak["high"])),
        band_layers=band, start=edges[0], end=edges[1], centre=edges[2], translation=ability,
        translation_trials=n_unpatched, floor=Interval(floor.effect, floor.low, floor.high),
        undefined_draws=int(np.isnan(boot[:, 0]).sum()),
        draws=boot,
    )


def wald_equal(values: np.ndarray, draws: np.ndarray) -> tuple[float, int, float]:
    """(chi-square, df, p) of the Wald test that the k ``values`` are equal, with the
    covariance of their bootstrap ``draws`` (draws x k; rows with a NaN are left out).

    The statistic is d' V^+ d for the k - 1 successive differences d and their covariance V;
    df is V's rank. A difference the draws never vary in (a zero-variance direction) that is
    not 0 gives an infinite statistic, k - 1 df, p = 0; no difference where nothing varies
    gives (0, 0, 1).
    """
    v = np.asarray(values, dtype=float)
    k = v.size
    rows = np.asarray(draws, dtype=float).reshape(-1, k)
    rows = rows[np.isfinite(rows).all(axis=1)]
    if k < 2 or not np.isfinite(v).all() or rows.shape[0] < 2:
        return math.nan, 0, math.nan
    contrast = np.eye(k)[:-1] - np.eye(k, k=1)[:-1]
    diff = contrast @ v
    cov = contrast @ np.atleast_2d(np.cov(rows, rowvar=False, ddof=1)) @ contrast.T
    eig, vec = np.linalg.eigh(cov)
    positive = eig > max(float(eig.max()), 0.0) * 1e-10 + 1e-15
    proj = vec.T @ diff
    df = int(positive.sum())
    if np.any(np.abs(proj[~positive]) > 1e-12):
        return math.inf, k - 1, 0.0
    if df == 0:
        return 0.0, 0, 1.0
    stat = float(np.sum(proj[positive] ** 2 / eig[positive]))
    return stat, df, float(sps.chi2.sf(stat, df))


def _reading(p: float, low: float, high: float, level: float, margin: float) -> str:
    if math.isnan(p):
        return "not measurable"
    if p <= 1 - level:
        return "differ"
    if -margin < low and high < margin:
        return f"same within ±{margin:g}"
    return "undetermined"


def pair_rows(a: ModelDepth, b: ModelDepth, level: float = LEVEL,
              margin: float = MARGIN) -> list[dict[str, object]]:
    """The comparison of two models' bands, one row per edge: difference (a - b), bootstrap
    standard error, Wald interval, chi-square (z squared, 1 df), p, usable draws, reading."""
    z = float(sps.norm.isf((1 - level) / 2))
    out: list[dict[str, object]] = []
    for i, edge in enumerate(EDGES):
        diff = a.edge(edge).value - b.edge(edge).value
        pair = np.column_stack([a.draws[:, i], b.draws[:, i]])
        usable = int(np.isfinite(pair).all(axis=1).sum())
        stat, df, p = wald_equal(np.array([a.edge(edge).value, b.edge(edge).value]), pair)
        d = pair[np.isfinite(pair).all(axis=1)]
        se = float(np.std(d[:, 0] - d[:, 1], ddof=1)) if usable >= 2 else math.nan
        low, high = (diff - z * se, diff + z * se) if math.isfinite(diff) else (math.nan,) * 2
        missing = [m.label for m in (a, b) if not m.clear]
        out.append({
            "kind": "pair", "model_a": a.label, "model_b": b.label, "edge": edge,
            "difference": diff, "se": se, "low": low, "high": high, "statistic": stat,
            "df": df, "p": p, "draws": usable,
            "reading": (f"no clear band in {', '.join(missing)}" if missing
                        else _reading(p, low, high, level, margin)),
        })
    return out


def _all_rows(models: Sequence[ModelDepth], level: float) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i, edge in enumerate(EDGES):
        values = np.array([m.edge(edge).value for m in models])
        draws = np.column_stack([m.draws[:, i] for m in models])
        stat, df, p = wald_equal(values, draws)
        missing = [m.label for m in models if not m.clear]
        reading = (f"no clear band in {', '.join(missing)}" if missing else "not measurable"
                   if math.isnan(p) else "differ" if p <= 1 - level else "no difference shown")
        out.append({
            "kind": "all", "model_a": f"all {len(models)} models", "model_b": "", "edge": edge,
            "difference": math.nan, "se": math.nan, "low": math.nan, "high": math.nan,
            "statistic": stat, "df": df, "p": p,
            "draws": int(np.isfinite(draws).all(axis=1).sum()), "reading": reading,
        })
    return out


@dataclass(frozen=True)
class Comparison:
    """Models measured on the depth axis and compared: ``tests`` holds one row per pair and
    edge (``kind`` "pair") and, with three models or more, one per edge over all of them
    (``kind`` "all", the chi-square test of equal positions)."""

    models: tuple[ModelDepth, ...]
    tests: pd.DataFrame = field(repr=False)
    setting: str = "seen"
    threshold: float = HALF
    level: float = LEVEL
    draws: int = DRAWS
    seed: int = SEED
    margin: float = MARGIN


def compare(inputs: Sequence[ModelInput], setting: str = "seen", threshold: float = HALF,
            level: float = LEVEL, draws: int = DRAWS, seed: int = SEED,
            margin: float = MARGIN) -> Comparison:
    """Measure each model of ``inputs`` and compare their bands (see the module's definitions).

    One seeded generator draws, in the order of ``inputs``, one weight matrix (draws x
    concepts, multinomial counts) per distinct concept set, so a run is reproducible and models
    with the same concepts share their draws.
    """
    if not inputs:
        raise ConceptPatchError("no model to compare: pass one or more stores")
    if not 0 < threshold <= 1 or not 0 < level < 1 or draws < 2:
        raise ConceptPatchError("threshold must lie in (0, 1], level in (0, 1) and draws be at"
                                " least 2: fix the arguments")
    labels = [m.label for m in inputs]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise ConceptPatchError(f"two models are labelled {twice[0]!r}: give each store its own"
                                " --label")
    chosen = [select(m.table, f"store {m.source!r}" if m.source else f"model {m.label!r}",
                     m.checkpoint, setting) for m in inputs]
    rng = np.random.default_rng(seed)
    weights: dict[tuple[str, ...], np.ndarray] = {}
    models = []
    for given, rows in zip(inputs, chosen, strict=True):
        concepts = tuple(sorted(set(rows.patched["concept"].astype(str))))
        if concepts not in weights:
            n = len(concepts)
            weights[concepts] = rng.multinomial(n, np.full(n, 1.0 / n), size=draws).astype(float)
        models.append(measure_model(rows, given.label, given.source, weights[concepts], concepts,
                                    threshold, level))
    rows_out = [r for i, a in enumerate(models) for b in models[i + 1:]
                for r in pair_rows(a, b, level, margin)]
    if len(models) >= 3:
        rows_out += _all_rows(models, level)
    columns = ["kind", "model_a", "model_b", "edge", "difference", "se", "low", "high",
               "statistic", "df", "p", "draws", "reading"]
    return Comparison(tuple(models), pd.DataFrame(rows_out, columns=columns), setting,
                      threshold, level, draws, seed, margin)

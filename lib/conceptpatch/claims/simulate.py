"""Simulated results tables, drawn the way the engine draws trials, for calibration and demos.

A :class:`World` plants exact rates per (checkpoint, setting, layer, output language) and the
dependence real runs have. Trials follow the engine's crossed design: ``trials`` (C, D) pairings (C
through concatenated permutations of a lexicon of ``concepts``, so distinct while the lexicon
allows; D among the other concepts used least as D so far), each crossed with one target pair per
output language (seen, then unseen; its input the next seen language), so the same (C, D) recurs
once in every output language and ``trial = output_index * trials + pairing_index``. Each concept
has an effect shared by every condition and an effect of its own in each condition (checkpoint,
setting, layer, output language), mixed by ``concept_correlation`` through a Gaussian copula into a
Beta-distributed success probability of spread ``concept_spread`` whose mean is exactly the planted
rate (the nulls stay exact); and a trial keeps its uniform draw across layers and checkpoints with
chance ``persistence``. The unpatched rows say C with chance ``baseline`` and translate D with
chance ``translation(checkpoint, language)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

from conceptpatch.trial_ids import trial_id

__all__ = ["World", "simulate", "synthetic_results"]

RateFn = Callable[[int, str, int, str], float]
SEEN_FAILURES: Mapping[str, float] = {"synonym": 0.15, "target": 0.5, "other_language": 0.1,
                                      "copy": 0.1, "unrelated": 0.15}
UNSEEN_FAILURES: Mapping[str, float] = {"copy": 0.5, "unrelated": 0.5}


@dataclass(frozen=True)
class World:
    """A planted truth for a results table; every field has the organism-like default."""

    checkpoints: Sequence[tuple[str, int, int]] = (("ck0", 100, 1), ("ck1", 200, 1),
                                                   ("ck2", 300, 1), ("ck3", 400, 2))
    n_layers: int = 6
    layers: Sequence[int] | None = None
    seen: Sequence[str] = ("en", "fr", "de")
    unseen: Sequence[str] = ("cy",)
    settings: Sequence[str] = ("seen", "en_en")
    trials: int = 100  # (C, D) pairings: the trials per output language
    concepts: int = 120
    rate: RateFn | float = 0.5
    baseline: float = 0.01
    translation: Callable[[int, str], float] | float = 0.5
    concept_spread: float = 0.0  # how much concepts differ in success (0: not at all .. 1)
    concept_correlation: float = 1.0  # 1: a concept is as easy everywhere; 0: per condition
    persistence: float = 0.0  # chance a trial keeps its uniform draw across layers/checkpoints
    seen_failures: Mapping[str, float] = field(default_factory=lambda: dict(SEEN_FAILURES))
    unseen_failures: Mapping[str, float] = field(default_factory=lambda: dict(UNSEEN_FAILURES))


def _beta_quantile(u: np.ndarray, mean: float, spread: float) -> np.ndarray:
    """Probabilities with the given mean; ``spread`` 0 is a constant, 1 nearly Bernoulli."""
    if spread <= 0 or mean <= 0 or mean >= 1:
        return np.full(u.shape, float(np.clip(mean, 0, 1)))
    kappa = 1 / spread - 1 + 1e-9
    return special.betaincinv(mean * kappa, (1 - mean) * kappa, u)


def _pairings(world: World, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``world.trials`` (C, D) pairings as the engine draws them: C runs through fresh
    permutations of the concepts (distinct while the pool allows), each takes, among the other
    concepts it has not yet been paired with, one of those used least as D so far, at random."""
    k = world.concepts
    used_as_d = np.zeros(k, dtype=np.int64)
    partners = [set() for _ in range(k)]
    c_out: list[int] = []
    d_out: list[int] = []
    while len(c_out) < world.trials:
        before = len(c_out)
        for c in rng.permutation(k):
            options = np.array([d for d in range(k) if d != c and d not in partners[c]],
                               dtype=np.int64)
            if options.size == 0:
                continue
            least = options[used_as_d[options] == used_as_d[options].min()]
            d = int(least[int(rng.integers(least.size))])
            partners[c].add(d)
            used_as_d[d] += 1
            c_out.append(int(c))
            d_out.append(d)
            if len(c_out) == world.trials:
                break
        if len(c_out) == before:
            raise ValueError(f"{k} concepts make fewer than {world.trials} distinct pairings")
    return np.array(c_out, dtype=np.int64), np.array(d_out, dtype=np.int64)


def _input_language(world: World, out: str) -> str:
    """The one input language of ``out``'s target pair: the next seen language after it
    (cyclically, skipping it), the first seen language for an unseen output."""
    seen = list(world.seen)
    start = seen.index(out) + 1 if out in seen else 0
    order = [seen[(start + i) % len(seen)] for i in range(len(seen))]
    return next((g for g in order if g != out), order[0])


def _plan(world: World, rng: np.random.Generator) -> pd.DataFrame:
    """Every pairing crossed with every output language's target pair (seen, then unseen):
    ``trial = output_index * trials + pairing_index``."""
    c, d = _pairings(world, rng)
    n = len(c)
    parts = [pd.DataFrame({"output_lang": out, "input_lang": _input_language(world, out),
                           "c": c, "d": d,
                           "trial": trial_id(o, np.arange(n, dtype=np.int64), n)})
             for o, out in enumerate(list(world.seen) + list(world.unseen))]
    return pd.concat(parts, ignore_index=True)


def simulate(world: World, seed: int = 0) -> pd.DataFrame:
    """A results table with the store's schema, drawn from ``world``."""
    rng = np.random.default_rng(seed)
    plan = _plan(world, rng)
    n = len(plan)
    layers = list(range(world.n_layers)) if world.layers is None else list(world.layers)
    rate_fn: RateFn = world.rate if callable(world.rate) else (lambda *_: float(world.rate))
    trans_fn = (world.translation if callable(world.translation)
                else (lambda *_: float(world.translation)))
    z_concept = rng.standard_normal(world.concepts)
    persistent = rng.random(n)
    out_lang = plan["output_lang"].to_numpy()
    is_seen = np.isin(out_lang, list(world.seen))
    rho = np.sqrt(world.concept_correlation)
    concept_ids = np.array([f"c{i}" for i in range(world.concepts)])
    c_index = plan["c"].to_numpy()
    blocks = [("unpatched", -1)] + [(s, j) for s in world.settings for j in layers]
    tables = []
    for ci, (name, step, phase) in enumerate(world.checkpoints):
        for setting, layer in blocks:
            p = np.empty(n)
            t = np.zeros(n)
            for lang in np.unique(out_lang):
                sel = out_lang == lang
                mean = world.baseline if setting == "unpatched" else rate_fn(ci, setting, layer,
                                                                            lang)
                u_c = sps.norm.cdf(rho * z_concept + np.sqrt(1 - rho ** 2)
                                   * rng.standard_normal(world.concepts))
                p[sel] = _beta_quantile(u_c, mean, world.concept_spread)[c_index[sel]]
                if setting == "unpatched":
                    t[sel] = trans_fn(ci, lang)
            u = np.where(rng.random(n) < world.persistence, persistent, rng.random(n))
            exact = u < p
            cat = np.empty(n, dtype=object)
            cat[exact] = "exact"
            if setting == "unpatched":
                said_d = ~exact & (rng.random(n) < t / np.maximum(1 - p, 1e-9))
                cat[said_d] = "target"
                exact = exact | said_d
            for mask, mix in ((is_seen, world.seen_failures), (~is_seen, world.unseen_failures)):
                sel = mask & ~exact
                names = list(mix)
                probs = np.array([mix[c] for c in names], dtype=float)
                cat[sel] = rng.choice(names, size=int(sel.sum()), p=probs / probs.sum())
            tables.append(pd.DataFrame({
                "checkpoint": name, "step": np.int64(step), "tokens": np.int64(step * 1000),
                "phase": np.int64(phase), "layer": np.int64(layer),
                "n_layers": np.int64(world.n_layers), "position": "last", "setting": setting,
                "input_lang": plan["input_lang"].to_numpy(), "output_lang": out_lang,
                "output_seen": is_seen, "concept": concept_ids[c_index],
                "target_concept": concept_ids[plan["d"].to_numpy()],
                "trial": plan["trial"].to_numpy(), "category": cat.astype(str),
            }))
    df = pd.concat(tables, ignore_index=True)
    df["source_pairs"] = np.where(df["setting"] == "unpatched", "", "sim")
    df["output"] = df["category"]
    df["p_concept"] = np.where(df["category"] == "exact", 0.6, 0.05)
    df["seed"] = np.int64(seed)
    df["suite_hash"] = "synthetic"
    return df


def synthetic_results(*, checkpoints: Sequence[tuple[str, int, int]] = World.checkpoints,
                      n_layers: int = 6, layers: Sequence[int] | None = None,
                      seen: Sequence[str] = ("en", "fr", "de"), unseen: Sequence[str] = ("cy",),
                      settings: Sequence[str] = ("seen", "en_en"), trials: int = 60,
                      rate: RateFn | float = 0.5, baseline: float = 0.02,
                      correlation: float = 0.0, concepts: int = 120,
                      seen_failures: Mapping[str, float] | None = None,
                      unseen_failures: Mapping[str, float] | None = None,
                      seed: int = 0) -> pd.DataFrame:
    """A results table from keyword arguments (``correlation``: trial persistence)."""
    world = World(checkpoints=checkpoints, n_layers=n_layers, layers=layers, seen=seen,
                  unseen=unseen, settings=settings, trials=trials, concepts=concepts, rate=rate,
                  baseline=baseline, persistence=correlation,
                  seen_failures=dict(seen_failures or SEEN_FAILURES),
                  unseen_failures=dict(unseen_failures or UNSEEN_FAILURES))
    return simulate(world, seed)


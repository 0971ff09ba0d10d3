"""Calibration worlds: the nulls real data produce, and the paper's world, for every claim.

Each :class:`Check` names a claim, a simulated :class:`~conceptpatch.claims.simulate.World` and
what counts as a hit: in a null world a ``supported`` verdict for any case of the claim (the
family-wise false-positive rate that Holm controls), for the regression gate a ``refuted`` one
(a false fail); in the paper's world a ``supported`` verdict (power). :func:`hit_rate` runs one
check over seeded tables; ``tests/test_calibration.py`` asserts the rates and
``python -m conceptpatch.claims.calibration`` prints the table of docs/claims-and-statistics.md.

With interim looks (`sequential_run`, ``--looks 25,50,100``) each table is read as a sequential
design reads its store: the claim at each look's nominal level on the first pairings
(`conceptpatch.claims.sequential.decide_looks`), a case kept once decided; a hit is a case
decided ``check.hit`` at any look.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

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
from conceptpatch.claims.sequential import decide_looks, looks_of
from conceptpatch.claims.simulate import World, simulate
from conceptpatch.trial_ids import first_pairings

__all__ = ["CHECKS", "POWER_TABLE", "Check", "SequentialRate", "hit_rate", "paper_world",
           "planned_power", "power_at", "sequential_run"]

#: Power by trials per output language in the paper's world, written by
#: ``python -m conceptpatch.claims.calibration --write-power`` (claim, trials, power, tables).
POWER_TABLE = Path(__file__).with_name("power.csv")

BASE = 0.01
SEEN = ("en", "fr", "de", "et")
#: Real-data dependence: concepts differ (spread), partly per condition (correlation < 1), and
#: trials keep their draw across layers and checkpoints (persistence).
HETERO = dict(concept_spread=0.4, concept_correlation=0.5, persistence=0.5)
LANG_RATE = {"en": 0.70, "fr": 0.55, "de": 0.45, "et": 0.30}
MID8 = (2, 3, 4)  # the mid band of 8 layers: worlds that test only the band carry only it
CKS8 = tuple((f"s{i}", 100 * (i + 1), 1 if i < 6 else 2) for i in range(8))


def _paper_rate(ci: int, setting: str, layer: int, lang: str, n_layers: int = 8) -> float:
    """Emerges by the second checkpoint, mid layers patch, late fail, phase two lifts non-en."""
    frac = layer / n_layers
    if lang not in LANG_RATE or ci == 0 or frac >= 0.65:
        return BASE
    rate = LANG_RATE[lang] * (0.5 if frac < 0.25 else 1.0)
    return rate + (0.15 if ci >= 6 and lang != "en" else 0.0)


def paper_world(trials: int = 100, concepts: int = 120) -> World:
    """The paper's picture at a small scale (8 layers, 8 checkpoints, the last two phase 2)."""
    return World(checkpoints=CKS8, n_layers=8, seen=SEEN, unseen=("cy",), settings=("seen",),
                 trials=trials, concepts=concepts, rate=_paper_rate, baseline=BASE,
                 translation=lambda ci, g: 0.0 if g == "cy" else min(0.3 + 0.08 * ci, 0.9),
                 **HETERO)


def _one(rate: Callable[..., float] | float, **kw: object) -> World:
    """A single-checkpoint world (fast) with the heterogeneity of real data."""
    base = dict(checkpoints=(("final", 1000, 1),), n_layers=8, seen=SEEN, unseen=("cy",),
                settings=("seen",), trials=100, rate=rate, baseline=BASE, **HETERO)
    return World(**{**base, **kw})


@dataclass(frozen=True)
class Check:
    """One claim in one world: the verdict that counts as a hit, and the design's bound."""

    name: str
    claim: str
    world: World
    evaluate: Callable[..., list]  # (table, alpha=0.05) -> verdicts
    hit: str = "supported"
    kind: str = "null"  # null: rate <= alpha; power: rate >= 0.8 where asserted
    must_power: bool = False


ALPHA = 0.05


def _ev(module, **kw) -> Callable[..., list]:
    return lambda df, alpha=ALPHA: module.evaluate(df, alpha, **kw)


TWO = (("p1", 900, 1), ("p2", 1000, 2))
TREND = tuple((f"t{i}", 100 * (i + 1), 1 if i < 3 else 2) for i in range(5))

CHECKS: tuple[Check, ...] = (
    # concept induction
    Check("global null", "concept_induction", _one(BASE), _ev(induction)),
    Check("patch at baseline, concepts vary", "concept_induction",
          _one(0.05, baseline=0.05, concept_spread=0.8), _ev(induction)),
    Check("paper", "concept_induction", paper_world(), _ev(induction), kind="power",
          must_power=True),
    # layer sensitivity
    Check("induction everywhere, no layer structure", "layer_sensitivity", _one(0.4),
          _ev(layers)),
    Check("only an early layer works", "layer_sensitivity",
          _one(lambda c, s, j, g: 0.5 if j == 1 else BASE), _ev(layers)),
    Check("late layers as good as mid", "layer_sensitivity",
          _one(lambda c, s, j, g: 0.4 if j >= 2 else BASE), _ev(layers)),
    Check("paper", "layer_sensitivity", paper_world(), _ev(layers), kind="power",
          must_power=True),
    # early emergence
    Check("trend: effect only at the SESOI early", "early_emergence",
          World(checkpoints=CKS8, n_layers=8, layers=MID8, seen=SEEN, unseen=(),
                settings=("seen",),
                rate=lambda c, s, j, g: BASE + (0.05 if c < 2 else 0.05 + 0.08 * c),
                baseline=BASE, **HETERO), _ev(emergence)),
    Check("late emergence", "early_emergence",
          World(checkpoints=CKS8, n_layers=8, layers=MID8, seen=SEEN, unseen=(),
                settings=("seen",), rate=lambda c, s, j, g: BASE if c < 4 else 0.5,
                baseline=BASE, **HETERO),
          _ev(emergence)),
    Check("paper", "early_emergence", paper_world(), _ev(emergence), kind="power",
          must_power=True),
    # stability
    Check("change exactly at the margin", "stability",
          # one case: "c" (after the early window) moved by exactly the margin from the
          # reference "d" (the last of the phase); "a" is early
          World(checkpoints=(("a", 100, 1), ("c", 700, 1), ("d", 1000, 1)),
                n_layers=8, layers=MID8, seen=SEEN, unseen=(), settings=("seen",),
                rate=lambda c, s, j, g: 0.5 if c == 1 else 0.4, baseline=BASE, **HETERO),
          _ev(stability)),
    Check("paper", "stability", paper_world(), _ev(stability), kind="power"),
    # phase two
    Check("training trend, no phase effect", "phase_two",
          World(checkpoints=TREND, n_layers=8, layers=MID8, seen=SEEN, unseen=(),
                settings=("seen",),
                rate=lambda c, s, j, g: 0.2 + 0.06 * c, baseline=BASE, **HETERO),
          _ev(phase_two)),
    Check("every language gains alike", "phase_two",
          World(checkpoints=TWO, n_layers=8, layers=MID8, seen=SEEN, unseen=(), settings=("seen",),
                rate=lambda c, s, j, g: 0.5 if c else 0.3, baseline=BASE, **HETERO),
          _ev(phase_two)),
    Check("paper", "phase_two", paper_world(), _ev(phase_two), kind="power"),
    # unseen language
    Check("nothing patches anywhere (no-parallel)", "unseen_language", _one(BASE),
          _ev(unseen)),
    Check("unseen fails like the seen ones", "unseen_language", _one(0.3,
          unseen_failures={"synonym": 0.15, "target": 0.5, "other_language": 0.1, "copy": 0.1,
                           "unrelated": 0.15}), _ev(unseen)),
    Check("paper", "unseen_language", paper_world(), _ev(unseen), kind="power"),
    # language dependence
    Check("concept x language effects averaging out", "language_dependence",
          _one(0.4, concept_spread=0.6, concept_correlation=0.2), _ev(language)),
    Check("paper", "language_dependence", paper_world(), _ev(language), kind="power"),
    # the regression gate: a hit is a false fail
    *(Check(f"no change at rate {r}, persistent trials", "regression",
            World(checkpoints=(("o1", 100, 1), ("o2", 200, 1), ("new", 300, 1)), n_layers=4,
                  seen=SEEN, unseen=(), settings=("seen",), rate=r, baseline=BASE,
                  concept_spread=0.4, concept_correlation=0.8, persistence=0.8),
            lambda df, alpha=ALPHA: regression.evaluate(df, "new", alpha), hit="refuted")
      for r in (0.05, 0.3, 0.6, 0.9)),
)


def hit_rate(check: Check, tables: int, offset: int = 0) -> float:
    """The share of ``tables`` seeded tables in which any case's verdict is ``check.hit``."""
    hits = 0
    for seed in range(offset, offset + tables):
        found = check.evaluate(simulate(check.world, seed))
        hits += any(v.verdict == check.hit for v in found)
    return hits / tables


@dataclass(frozen=True)
class SequentialRate:
    """A check run with interim looks: the share of tables with a hit, and where they stopped."""

    rate: float
    mean_pairings: float  # pairings computed when the run stopped, averaged over tables
    stopped: tuple[int, ...]  # tables stopping after each look
    tables: int


def sequential_run(check: Check, stages: Sequence[int], tables: int,
                   offset: int = 0) -> SequentialRate:
    """``check`` over ``tables`` seeded tables of its world at ``stages[-1]`` pairings, each
    read look by look as a sequential design does (``check.hit`` at any look counts)."""
    looks = looks_of(tuple(stages))
    world = dataclasses.replace(check.world, trials=stages[-1])
    hits, pairings, stopped = 0, 0, [0] * len(looks)
    for seed in range(offset, offset + tables):
        df = simulate(world, seed)

        def at(look, df=df):
            rows = first_pairings(df, look.pairings, world.trials)
            return check.evaluate(rows, look.level(ALPHA))

        decisions, run = decide_looks(looks, at, lambda _claim: ALPHA)
        hits += any(d.verdict.verdict == check.hit for d in decisions.values())
        pairings += looks[run - 1].pairings
        stopped[run - 1] += 1
    return SequentialRate(hits / tables, pairings / tables, tuple(stopped), tables)


def power_at(claim: str, trials: int, tables: int = 100, concepts: int = 120) -> float:
    """Power of ``claim`` in the paper's world at ``trials`` per output language."""
    check = next(c for c in CHECKS if c.claim == claim and c.kind == "power")
    world = paper_world(trials, concepts)
    return hit_rate(Check(check.name, claim, world, check.evaluate, kind="power"), tables)


def bound(alpha: float, tables: int, z: float = 2.326) -> float:
    """The largest false-positive rate a check accepts: alpha plus z Monte-Carlo errors."""
    return alpha + z * math.sqrt(alpha * (1 - alpha) / tables)


def planned_power(trials: int) -> dict[str, float | None]:
    """Each claim's simulated power at ``trials`` per output language, interpolated in the
    measured table (None below its smallest trial count; its last value above the largest)."""
    table = pd.read_csv(POWER_TABLE)
    out: dict[str, float | None] = {}
    for claim, sub in table.groupby("claim", sort=False):
        sub = sub.sort_values("trials")
        inside = trials >= sub["trials"].iloc[0]
        out[str(claim)] = (float(np.interp(trials, sub["trials"], sub["power"])) if inside
                           else None)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Print the calibration table (world x claim) and the power by trials per language."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=400)
    parser.add_argument("--power-tables", type=int, default=100)
    parser.add_argument("--trials", type=int, nargs="*", default=[25, 50, 100, 200])
    parser.add_argument("--write-power", action="store_true",
                        help=f"also write the power table to {POWER_TABLE.name}")
    parser.add_argument("--looks", type=lambda text: [int(x) for x in text.split(",")],
                        help="pairings at each look (25,50,100): the fixed design beside the"
                             " sequential one, instead of the tables above")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    if args.looks:
        _sequential_table(args.looks, args.tables, args.power_tables, args.processes)
        return
    print("| claim | world | kind | rate | tables |\n|---|---|---|--:|--:|")
    for check in CHECKS:
        n = args.tables if check.kind == "null" else args.power_tables
        print(f"| {check.claim} | {check.name} | {check.kind} | {hit_rate(check, n):.3f} | {n} |",
              flush=True)
    claims = sorted({c.claim for c in CHECKS if c.kind == "power"})
    print("\n| claim | " + " | ".join(f"{t} trials" for t in args.trials) + " |")
    print("|---|" + "--:|" * len(args.trials))
    found = []
    for claim in claims:
        cells = [power_at(claim, t, args.power_tables) for t in args.trials]
        found += [(claim, t, p, args.power_tables) for t, p in zip(args.trials, cells, strict=True)]
        print(f"| {claim} | " + " | ".join(f"{p:.2f}" for p in cells) + " |", flush=True)
    if args.write_power:
        pd.DataFrame(found, columns=["claim", "trials", "power", "tables"]).to_csv(
            POWER_TABLE, index=False)


def _both(index: int, stages: tuple[int, ...], tables: int) -> tuple[float, SequentialRate]:
    """Check ``index`` of `CHECKS` on the same seeded tables: fixed design, then sequential."""
    check = CHECKS[index]
    world = dataclasses.replace(check.world, trials=stages[-1])
    fixed = hit_rate(dataclasses.replace(check, world=world), tables)
    return fixed, sequential_run(check, stages, tables)


def _sequential_table(stages: Sequence[int], tables: int, power_tables: int,
                      processes: int) -> None:
    """Print every check with the fixed design and with looks at ``stages`` (markdown)."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(i, tuple(stages), tables if c.kind == "null" else power_tables)
            for i, c in enumerate(CHECKS) if c.claim != "regression"]
    looks = ", ".join(map(str, stages))
    print(f"| claim | world | kind | fixed ({stages[-1]}) | sequential ({looks}) | mean pairings"
          " | stopped at each look | tables |\n|---|---|---|--:|--:|--:|---|--:|")
    with ProcessPoolExecutor(processes) as pool:
        futures = [pool.submit(_both, *job) for job in jobs]
        for (i, _, n), future in zip(jobs, futures, strict=True):
            fixed, seq = future.result()
            check = CHECKS[i]
            print(f"| {check.claim} | {check.name} | {check.kind} | {fixed:.3f} | {seq.rate:.3f} |"
                  f" {seq.mean_pairings:.1f} | {' / '.join(map(str, seq.stopped))} | {n} |",
                  flush=True)


if __name__ == "__main__":
    main()

"""Sequential against fixed: pairings and CPU time to the verdicts, one suite both ways.

The suite is run twice from fresh stores under ``--out``: as written (the fixed design: every
pairing computed, then the claims) and with ``sample.stages`` (the sequential design: computed
stage by stage, the claims tested after each, stopping once every case is decided;
`conceptpatch.staged`). Each run's CPU time (this process and its children), wall time and
pairings computed are measured, and the two designs' verdicts are put side by side.

Writes ``sequential.json`` and ``sequential.md`` in ``--out`` and prints the markdown. The suite's
models must be available (the organism is trained first if it is not cached; its training is
not counted: it happens before either run).

Usage: ``python benchmarks/sequential.py SUITE --out DIR [--stages 25,50,100]
[--sequential-only]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time
from pathlib import Path
from typing import Any

from conceptpatch.claims import MODULES, Design, axes_from_suite
from conceptpatch.compute import run_suite
from conceptpatch.config.suite import load_suite, stage_pairings
from conceptpatch.resolve import resolve
from conceptpatch.staged import run_staged
from conceptpatch.tables import claim_table


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _fixed(suite: Any, store: Path) -> tuple[dict[tuple[str, str], Any], dict[str, float]]:
    cpu, wall = _cpu(), time.perf_counter()
    table = claim_table(run_suite(suite, store, progress=False), suite, store)
    axes = axes_from_suite(resolve(suite))
    design = Design.from_suite(suite)
    verdicts = {(v.claim_id, v.case): v for cid, m in MODULES.items()
                if cid != "regression" and m.cases(axes)
                for v in m.evaluate(table, m.CLAIM.alpha, design=design)}
    return verdicts, {"cpu_s": _cpu() - cpu, "wall_s": time.perf_counter() - wall,
                      "pairings": suite.trials}


def _sequential(suite: Any, store: Path) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    cpu, wall = _cpu(), time.perf_counter()
    axes: list[Any] = []

    def cases(claim_id: str) -> list[str]:
        if not axes:
            axes.append(axes_from_suite(resolve(suite)))
        return MODULES[claim_id].cases(axes[0])

    staged = run_staged(suite, store, cases=cases, alpha=None, design=Design.from_suite(suite),
                        compute=True, table_of=lambda rows: claim_table(rows, suite, store),
                        progress=False)
    return dict(staged.decisions), {
        "cpu_s": _cpu() - cpu, "wall_s": time.perf_counter() - wall,
        "pairings": staged.pairings_run, "looks_run": staged.looks_run,
        "summary": staged.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--sequential-only", action="store_true",
                        help="run the sequential design alone (compare with a fixed run of"
                             " the same suite measured before: its figures are not ratios of"
                             " one run)")
    parser.add_argument("--stages", default="3",
                        help="sample.stages of the sequential run: a count of looks or pairings"
                             " (25,50,100); default 3")
    args = parser.parse_args()
    fixed = load_suite(args.suite)
    if fixed.stages is not None:
        raise SystemExit(f"{args.suite} is sequential already: give the fixed design's suite")
    given = [int(x) for x in args.stages.split(",")]
    stages = stage_pairings(given[0] if len(given) == 1 else given, fixed.trials)
    staged = dataclasses.replace(fixed, stages=stages)
    args.out.mkdir(parents=True, exist_ok=True)
    resolve(fixed)  # trains a missing organism now, outside both measurements
    if args.sequential_only:
        f_verdicts, f_cost = {}, {"cpu_s": float("nan"), "wall_s": float("nan"),
                                  "pairings": fixed.trials}
    else:
        f_verdicts, f_cost = _fixed(fixed, args.out / "store-fixed")
    s_decisions, s_cost = _sequential(staged, args.out / "store-sequential")
    rows = []
    for key in sorted(set(f_verdicts) | set(s_decisions)):
        f, s = f_verdicts.get(key), s_decisions.get(key)
        rows.append({"claim": key[0], "case": key[1],
                     "fixed": f.verdict if f else None,
                     "sequential": s.verdict.verdict if s else None,
                     "look": s.look.stage if s else None,
                     "look_pairings": s.look.pairings if s else None})
    same = sum(r["fixed"] == r["sequential"] for r in rows)
    result = {"suite": fixed.name, "stages": list(staged.stages), "fixed": f_cost,
              "sequential": s_cost, "cases": rows, "same_verdicts": same,
              "pairings_ratio": s_cost["pairings"] / f_cost["pairings"],
              "cpu_ratio": s_cost["cpu_s"] / f_cost["cpu_s"],
              "wall_ratio": s_cost["wall_s"] / f_cost["wall_s"]}
    lines = [f"**{fixed.name}**: stages {', '.join(map(str, staged.stages))};"
             f" {same} of {len(rows)} verdicts the same; pairings"
             f" {s_cost['pairings']} / {f_cost['pairings']} = {result['pairings_ratio']:.2f};"
             f" CPU {s_cost['cpu_s']:.0f} s / {f_cost['cpu_s']:.0f} s ="
             f" {result['cpu_ratio']:.2f}; wall {s_cost['wall_s']:.0f} s /"
             f" {f_cost['wall_s']:.0f} s = {result['wall_ratio']:.2f}. {s_cost['summary']}.",
             "", "| claim | case | fixed | sequential | decided at look (pairings) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['claim']} | {r['case']} | {r['fixed']} | {r['sequential']} |"
              f" {r['look']} ({r['look_pairings']}) |" for r in rows]
    text = "\n".join(lines) + "\n"
    (args.out / "sequential.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "sequential.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""The documented verdicts, regenerated from a run's verdicts.json and checked against it.

    python docs/verdicts_table.py reports/organism/verdicts.json --write README.md docs/organism.md
    python docs/verdicts_table.py reports/organism/verdicts.json --check README.md docs/organism.md

A documented verdict is a block between ``<!-- verdicts:NAME -->`` and ``<!-- /verdicts:NAME -->``
(NAME: ``table``, the case table, or ``counts``, one sentence of counts). ``--write`` replaces
each block with what the run gave; ``--check`` exits 1 naming every block that differs (CI runs
it after the README's main job, so a verdict that moves fails CI instead of the docs going
stale). Only claim, case, verdict and the declared expectation are compared: the numbers beside
them are the run's, rounded for reading.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

BLOCK = re.compile(r"(<!-- verdicts:(\w+) -->\n)(.*?)(<!-- /verdicts:\2 -->)", re.DOTALL)


def _number(value: object, digits: int = 2) -> str:
    return "-" if value is None else f"{float(value):+.{digits}f}"


def table(records: list[dict]) -> str:
    """The case table: claim, case, verdict, effect, bounds, Holm p, expectation."""
    lines = ["| claim | case | verdict | effect | bounds | Holm p | declared |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (r["claim_id"], r["case"])):
        bounds = ("-" if r.get("ci_low") is None
                  else f"[{_number(r['ci_low'])}, {_number(r['ci_high'])}]")
        p = "-" if r.get("pvalue") is None else f"{r['pvalue']:.2g}"
        lines.append(f"| {r['claim_id']} | {r['case']} | {r['verdict']} | "
                     f"{_number(r.get('effect'))} | {bounds} | {p} | {r.get('expected') or ''} |")
    return "\n".join(lines) + "\n"


def counts(records: list[dict]) -> str:
    """One sentence: how many cases, and each verdict's count (declared refutations apart)."""
    n = {v: sum(r["verdict"] == v for r in records) for v in ("supported", "refuted",
                                                                 "inconclusive")}
    declared = sum(r["verdict"] == "refuted" and r.get("expected") == "refuted" for r in records)
    return (f"{len(records)} cases: {n['supported']} supported, {n['refuted']} refuted"
            f" ({declared} as the suite declares, reported as xfail), {n['inconclusive']}"
            " inconclusive\n")


def _key(text: str, name: str) -> list[tuple[str, ...]]:
    """What ``--check`` compares in a block: (claim, case, verdict, declared) rows, or counts."""
    if name == "counts":
        return [tuple(re.findall(r"\d+ \w+", text))]
    return [tuple(cell.strip() for cell in (line.split("|")[i] for i in (1, 2, 3, 7)))
            for line in text.splitlines()[2:] if line.startswith("|")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("verdicts", type=Path, help="a run's verdicts.json")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", nargs="+", type=Path, metavar="DOC")
    mode.add_argument("--check", nargs="+", type=Path, metavar="DOC")
    args = parser.parse_args(argv)
    records = json.loads(args.verdicts.read_text(encoding="utf-8"))
    made = {"table": table(records), "counts": counts(records)}
    stale = []
    for doc in args.write or args.check:
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            name, body = match.group(2), match.group(3)
            if args.check and _key(body, name) != _key(made[name], name):
                stale.append(f"{doc}: verdicts:{name}")
        if args.write:
            doc.write_text(BLOCK.sub(lambda m: m.group(1) + made[m.group(2)] + m.group(4), text),
                           encoding="utf-8")
    for where in stale:
        print(f"documented verdicts differ from {args.verdicts}: {where} (regenerate with"
              f" --write)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())

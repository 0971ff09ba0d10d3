"""The ``conceptpatch`` command: run, check, report, annotate, organism.

Errors on bad input print one line naming the problem and the fix and exit with status 2; an
interrupted run exits with 130 after saying how to resume (finished units are kept).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from conceptpatch.errors import ConceptPatchError

__all__ = ["default_store", "main"]


def default_store(suite_name: str, suite_hash: str) -> Path:
    """Where a suite's results go when no ``--store`` is given: the cache, keyed by suite."""
    from conceptpatch.paths import cache_root

    return cache_root() / "stores" / f"{suite_name}-{suite_hash}"


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not i/n (e.g. 0/4)") from None
    return index, count


def _cmd_run(args: argparse.Namespace) -> int:
    from conceptpatch.run import run_suite
    from conceptpatch.suite import load_suite

    suite = load_suite(args.suite)
    store = args.store or default_store(suite.name, suite.settings_hash())
    table = run_suite(suite, store, args.checkpoint, progress=not args.quiet, shard=args.shard)
    print(f"{len(table)} rows in store {store}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from conceptpatch.run import plan_units
    from conceptpatch.suite import OrganismNotTrained, load_suite, resolve
    from conceptpatch.trials import plan_trials

    suite = load_suite(args.suite)
    try:
        resolved = resolve(suite, build=False)
    except OrganismNotTrained as err:
        print(f"suite {suite.name}: valid; {err} (or let `conceptpatch run` train it)")
        return 0
    trials = plan_trials(resolved)
    units = plan_units(resolved)
    print(f"suite {suite.name}: {len(resolved.checkpoints)} checkpoint(s), {len(units)} unit(s)")
    print(f"  languages: seen {', '.join(resolved.seen)}; unseen {', '.join(resolved.unseen)}")
    print(f"  lexicon: {resolved.lexicon.name}, {len(resolved.lexicon.concepts)} complete concepts")
    layers = "all" if suite.layers is None else ", ".join(map(str, suite.layers))
    print(f"  settings: {', '.join(suite.settings)}; layers: {layers}; position: {suite.position}")
    print(f"  trials per unit: {len(trials)} (k={suite.k}, shots {suite.shots})")
    for c in resolved.checkpoints:
        where = c.path or f"{c.hub}@{c.revision or 'main'}"
        print(f"  - {c.name}: step {c.step}, tokens {c.tokens}, phase {c.phase} ({where})")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from conceptpatch.report import write_report
    from conceptpatch.results import load_store

    out = write_report(load_store(args.store), [], {"name": Path(args.store).name}, args.out)
    print(f"report written to {out}")
    return 0


def _cmd_annotate(args: argparse.Namespace) -> int:
    from conceptpatch import annotate

    if args.action == "export":
        out = annotate.export_sheet(Path(args.store), Path(args.out), per_cell=args.per_cell)
        print(f"annotation sheet written to {out}")
    else:
        count = annotate.import_sheet(Path(args.sheet), Path(args.store))
        print(f"{count} labels stored in {args.store}")
    return 0


def _cmd_organism(args: argparse.Namespace) -> int:
    from conceptpatch.organism import cli_train

    out = cli_train(args.variant, args.seed, Path(args.out) if args.out else None)
    print(f"organism {args.variant} (seed {args.seed}) is in {out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conceptpatch", description="Cross-lingual concept patching over LM checkpoints."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="compute a suite's missing results into a store")
    run.add_argument("suite", help="suite TOML file")
    run.add_argument("--store", type=Path, help="results store directory (default: cache)")
    run.add_argument("--checkpoint", action="append", help="only this checkpoint (repeatable)")
    run.add_argument("--shard", type=_shard, help="i/n: run the i-th of n shares of the units")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check", help="validate a suite without loading a model")
    check.add_argument("suite", help="suite TOML file")
    check.set_defaults(func=_cmd_check)

    report = sub.add_parser("report", help="write the HTML report of a store")
    report.add_argument("store", help="results store directory")
    report.add_argument("--out", type=Path, default=Path("reports/store"), help="output folder")
    report.set_defaults(func=_cmd_report)

    annotate = sub.add_parser("annotate", help="export or import a manual annotation sheet")
    actions = annotate.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="sample trials into a CSV sheet to label")
    export.add_argument("store")
    export.add_argument("--out", required=True)
    export.add_argument("--per-cell", type=int, default=5)
    imp = actions.add_parser("import", help="store the labels of a filled-in sheet")
    imp.add_argument("sheet")
    imp.add_argument("store")
    annotate.set_defaults(func=_cmd_annotate)

    organism = sub.add_parser("organism", help="the built-in model organism")
    org_actions = organism.add_subparsers(dest="action", required=True)
    train = org_actions.add_parser("train", help="train (or find cached) an organism variant")
    train.add_argument("--variant", default="default")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="directory (default: the user cache)")
    organism.set_defaults(func=_cmd_organism)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``conceptpatch`` console script."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConceptPatchError as err:
        print(f"conceptpatch: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "conceptpatch: interrupted; finished units are stored. Run the same command again"
            " to resume: only the missing units are computed.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``conceptpatch`` command: run, check, claims, watch, report, compare, track, annotate,
organism.

Errors on bad input print one line naming the problem and the fix and exit with status 2; an
interrupted run exits with 130 after saying how to resume (finished units are kept); any other
failure prints one line and exits 1 (set ``CONCEPTPATCH_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn

from conceptpatch import tracking
from conceptpatch.claims_command import INCONCLUSIVE, run_claims
from conceptpatch.config.suite import Suite, load_suite
from conceptpatch.context import context_problem
from conceptpatch.errors import CheckpointError, ConceptPatchError, MissingData, OrganismNotTrained
from conceptpatch.files import check_out_dir, write_problem
from conceptpatch.fingerprint import weight_problems
from conceptpatch.lexicons.core import dropped_words
from conceptpatch.paths import default_store
from conceptpatch.preflight import (
    checkpoint_problems,
    dry_run,
    layers_arg,
    list_arg,
    preflight,
    with_overrides,
)
from conceptpatch.provenance import conceptpatch_version
from conceptpatch.resolve import missing_data, resolve, suite_checkpoints
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.kinds import kind_of

__all__ = ["default_store", "main"]


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not i/n (e.g. 0/4)") from None
    return index, count


def _store_arg(text: str) -> Path:
    """A store path: a local (or NFS-mounted) directory, or a ``file://`` URL of one."""
    from urllib.parse import unquote, urlparse

    if "://" not in text:
        return Path(text)
    url = urlparse(text)
    if url.scheme != "file" or url.netloc not in ("", "localhost"):
        raise argparse.ArgumentTypeError(
            f"store {text!r} is not a local path or file:// URL: mount the storage (NFS, a"
            " fuse mount of the bucket) and give its path; the store needs file locks and"
            " atomic renames"
        )
    return Path(unquote(url.path))


def _cmd_run(args: argparse.Namespace) -> int:
    from conceptpatch.train_and_compute import run_pipelined

    suite = with_overrides(args.suite, device=args.device, dtype=args.dtype, trials=args.trials,
                           layers=args.layers, settings=args.settings)
    store = args.store or default_store(suite.name, suite.settings_hash())
    if args.dry_run:
        return dry_run(suite, store, args.checkpoint, args.shard)
    preflight(suite, store, args.checkpoint, args.shard)  # before the store is touched
    if args.quiet:
        _quiet()
    try:
        table = run_pipelined(
            suite, store, args.checkpoint, progress=not args.quiet, shard=args.shard,
            replace=args.replace,
        )
    except KeyboardInterrupt:
        raise _Interrupted(_resume_command(args, store)) from None
    print(f"{len(table)} rows in store {store}")
    return 0


def _quiet() -> None:
    """No progress bars from transformers and the hub (``--quiet``: stderr keeps only errors)."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


class _Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C; carries the command that resumes it."""


def _resume_command(args: argparse.Namespace, store: Path | str) -> str:
    parts = ["conceptpatch", "run", str(args.suite), "--store", str(store)]
    for name in args.checkpoint or []:
        parts += ["--checkpoint", name]
    if args.shard:
        parts += ["--shard", f"{args.shard[0]}/{args.shard[1]}"]
    return " ".join(parts)


def _suite_axes(suite: Suite, checkpoints: Sequence[Any]) -> Any:
    """The claims' axes of a suite before any compute, with the layer count where it is known
    (the one definition of what is testable reads them: `conceptpatch.claims.testable`)."""
    from conceptpatch.claims import axes_from_suite

    if not checkpoints and suite.model.random is not None:  # built on first run: one checkpoint
        checkpoints = (SimpleNamespace(name="random", step=0, tokens=0, phase=1),)
    view = SimpleNamespace(checkpoints=checkpoints, suite=suite, seen=suite.seen,
                           unseen=suite.unseen, settings=suite.settings)
    return axes_from_suite(view, n_layers=_layer_count(suite, checkpoints))


def _layer_count(suite: Suite, checkpoints: Sequence[Any]) -> int | None:
    """The model's decoder layers where known without loading weights: a random model's, a
    local config.json's, a GGUF header's, a hub config.json already cached; else None."""
    if suite.model.random is not None:
        return suite.model.random_layers
    for c in checkpoints:
        found = _checkpoint_layers(suite, c)
        if found is not None:
            return found
    return None


def _checkpoint_layers(suite: Suite, c: Checkpoint) -> int | None:
    """One checkpoint's decoder layers from what is on disk (None: not known offline)."""
    return kind_of(c).layer_count(c)


def _print_testable(axes: Any, out_of_reach: dict[str, str]) -> None:
    """The claims the suite cannot test: no case (stdout), a band without a computed layer (a
    warning on stderr, before any compute), or bands unchecked for want of a layer count."""
    from conceptpatch.claims.testable import band_gaps

    gaps = band_gaps(axes)
    for claim, why in out_of_reach.items():
        if claim not in gaps:
            print(f"  not testable here: {claim} ({why})")
    if "regression" not in out_of_reach and len(axes.checkpoints) < 2:  # a gate, not a case
        print("  not testable here: regression (the gate, `claims --new-checkpoint`, compares a"
              " checkpoint with those before it: the suite has one)")
    for claim, why in gaps.items():
        print(f"  warning: {claim} is untestable: {why}", file=sys.stderr)
    if axes.n_layers is None:
        print("  layer bands: not checked (the model's layer count is not known before it is "
              "downloaded; `conceptpatch check` again once it is)")


def _local_problems(suite: Suite, checkpoints: Sequence[Any]) -> list[str]:
    """Offline problems of the local checkpoints, as `conceptpatch.preflight.checkpoint_problems`
    finds them: missing folder or config.json, pickle-only, unknown arch, custom code, layers."""
    return checkpoint_problems(suite, checkpoints)


def _online_problems(resolved: Any) -> list[str]:
    """Hub problems without downloading weights: missing repos/revisions, no safetensors."""
    import huggingface_hub
    from huggingface_hub.errors import (
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = huggingface_hub.HfApi()
    refs: dict[str, set[str] | None] = {}
    missing: list[str] = []
    problems: list[str] = []
    for c in resolved.checkpoints:
        if c.hub is None:
            continue
        where = f"{c.hub}@{c.revision or 'main'}"
        try:
            if c.hub not in refs:
                got = api.list_repo_refs(c.hub)
                refs[c.hub] = {r.name for r in [*got.branches, *got.tags]}
            known = refs[c.hub]
            revision = c.revision or "main"
            if known is not None and revision not in known and not re.fullmatch(
                r"[0-9a-f]{7,40}", revision
            ):
                missing.append(where)
                continue
            info = api.model_info(c.hub, revision=c.revision)
        except RevisionNotFoundError:
            missing.append(where)
            continue
        except RepositoryNotFoundError:
            problems.append(
                f"hub repository {c.hub!r} (checkpoint {c.name!r}) does not exist or is private:"
                " fix the id or log in with `huggingface-cli login`"
            )
            refs[c.hub] = None
            continue
        except (HfHubHTTPError, OSError) as err:
            raise CheckpointError(
                f"cannot reach the hub to check {where} ({type(err).__name__}): check the network"
                " or run `conceptpatch check` without --online"
            ) from None
        files = [s.rfilename for s in (getattr(info, "siblings", None) or [])]
        if files and not any(f.endswith(".safetensors") for f in files):
            problems.append(
                f"checkpoint {c.name!r} ({where}) has no safetensors weights (only"
                f" {', '.join(f for f in files if f.endswith(('.bin', '.pt', '.pth'))) or 'none'}):"
                " conceptpatch loads safetensors only; pick a revision that has them"
            )
    if missing:
        problems.insert(
            0,
            f"hub revision(s) not found: {', '.join(missing)}: fix the revision names in the"
            " suite (a branch, tag or commit of the repository)",
        )
    return problems


def _raise_problems(problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise CheckpointError(problems[0] + more)


def _cmd_check(args: argparse.Namespace) -> int:
    """Validate a suite offline; missing local data (lexicon file, globbed dirs) are warnings."""
    from conceptpatch.config.suite import load_suite  # looked up here: tests patch it
    from conceptpatch.trials import count_trials

    suite = load_suite(args.suite)
    try:
        resolved = resolve(suite, build=False, missing_ok=True)
    except OrganismNotTrained as err:
        print(f"suite {suite.name}: valid; {err} (or let `conceptpatch run` train it)")
        return 0
    except MissingData:  # the lexicon file is not there yet: summarise without it
        resolved = None
    warnings = missing_data(suite)
    if resolved is not None:
        checkpoints, trials = resolved.checkpoints, count_trials(resolved)
    else:
        random = suite.model.random is not None
        checkpoints, trials = (() if random else suite_checkpoints(suite, True)), None
    from conceptpatch.results import clash_problems

    problems = clash_problems(c.name for c in checkpoints) + _local_problems(suite, checkpoints)
    if resolved is not None and not problems:
        problems += [p for p in (context_problem(resolved),) if p]
    if args.online:
        problems += _online_problems(SimpleNamespace(suite=suite, checkpoints=checkpoints))
    _raise_problems(problems)
    for warning in warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    if suite.model.trust_remote_code:
        print(
            "  warning: trust_remote_code = true: loading runs code from the model repositories",
            file=sys.stderr,
        )
    units = len(checkpoints) * len(suite.settings)
    state = f"; {len(warnings)} warning(s): `conceptpatch run` needs them fixed" if warnings else ""
    print(f"suite {suite.name}: {len(checkpoints)} checkpoint(s), {units} unit(s){state}")
    print(f"  languages: seen {', '.join(suite.seen)}; unseen {', '.join(suite.unseen)}")
    if suite.constructed is not None:
        print(f"  departure: {suite.constructed.describe()}")
    if resolved is not None:
        lexicon = resolved.lexicon
        given = suite.lexicon.to_dict()  # as written: a name or a list of them
        pos = f" (pos {given['pos']})" if "pos" in given else ""

        dropped = f"; {dropped_words(lexicon)}" if dropped_words(lexicon) else ""
        print(f"  lexicon: {lexicon.name}, {len(lexicon.concepts)} complete concepts{pos}{dropped}")
    else:
        print(f"  lexicon: {suite.lexicon.path} (missing, see the warning)")
    layers = "all" if suite.layers is None else ", ".join(map(str, suite.layers))
    print(f"  settings: {', '.join(suite.settings)}; layers: {layers}; position: {suite.position}")
    if trials is not None:
        from conceptpatch.trials import target_pair_list

        pairs = target_pair_list(resolved)
        print(f"  trials per unit: {trials} = {suite.trials} pairings x {len(pairs)} target pairs"
              f" ({', '.join(map(str, pairs))}); k={suite.k}, shots {suite.shots}")
        sources = "every eligible pair" if suite.source_pairs is None else (
            f"a sample of {suite.source_pairs} pairs")
        print(f"  design: pairing {suite.pairing}; seen sources {suite.seen_sources} rule,"
              f" {sources}; {suite.max_new_tokens} new tokens")
    if suite.stages is not None:
        from conceptpatch.claims.sequential import looks_of

        levels = ", ".join(f"{look.level(0.05):.2g}" for look in looks_of(suite.stages))
        print(f"  sequential: looks at {', '.join(map(str, suite.stages))} pairings (nominal"
              f" levels {levels} at alpha 0.05, O'Brien-Fleming spending); computing stops"
              " once every case is decided")
    from conceptpatch.claims.calibration import planned_power
    from conceptpatch.claims.testable import untestable

    axes = _suite_axes(suite, checkpoints)
    out_of_reach = untestable(axes)
    per_language = suite.trials  # one target pair per output language, unless listed otherwise
    if resolved is not None and suite.target_pairs is not None:
        from collections import Counter

        from conceptpatch.trials import target_pair_list

        per_language *= min(Counter(p.output for p in target_pair_list(resolved)).values())
    power = ", ".join(f"{c} {'not simulated' if p is None else f'{p:.2f}'}"
                      for c, p in planned_power(per_language).items() if c not in out_of_reach)
    print(f"  power at {per_language} trials per output language (the paper's effects, "
          f"simulated; docs/claims-and-statistics.md): {power or 'no claim testable'}")
    _print_testable(axes, out_of_reach)
    model = suite.model
    print(
        f"  model: dtype {model.dtype}, device {model.device}, device_map"
        f" {model.device_map or '-'}, batch_size {model.batch_size}"
    )
    for c in checkpoints:
        print(f"  - {c.name}: step {c.step}, tokens {c.tokens}, phase {c.phase}"
              f" ({kind_of(c).describe(c)})")
    if args.online:
        print("  hub: every revision exists and has safetensors weights")
    elif any(c.hub is not None for c in checkpoints):
        print("  hub revisions not verified offline: `conceptpatch check --online` checks them")
    if args.store is not None:
        dry_run(suite, args.store, heading="store units of", resolved=resolved)
        from conceptpatch.results import Store

        names = [c.name for c in checkpoints]
        for problem in weight_problems(
                Store(args.store).fingerprints(suite.settings_hash(), names), checkpoints):
            print(f"  weights: {problem}", file=sys.stderr)
    return 0


def _cmd_claims(args: argparse.Namespace) -> int:
    return run_claims(
        args.suite, args.store, new_checkpoint=args.new_checkpoint, report=args.report,
        no_compute=args.no_compute, inconclusive=args.inconclusive, extra=args.pytest_args,
        trials=args.trials, layers=args.layers, settings=args.settings,
    )


def _cmd_watch(args: argparse.Namespace) -> int:
    from conceptpatch.watch import stop_on_signals, watch

    _quiet()  # a watcher's output is a log of events: no loading bars
    with stop_on_signals() as stop:
        return watch(args.suite, args.store, report_root=args.report, poll=args.poll,
                     settle=args.settle, once=args.once, stop=stop,
                     inconclusive=args.inconclusive)


def _add_watch(sub: Any) -> None:
    """The ``watch`` subcommand: compute and gate each new checkpoint of a glob suite."""
    from conceptpatch.watch import POLL, SETTLE, seconds_arg

    watch = sub.add_parser(
        "watch", help="compute and gate each new checkpoint of a training run (a glob suite)",
        description="Poll the suite's model.glob; compute each checkpoint folder once it is\n"
        "complete, then run the regression gate on it (as `claims --new-checkpoint NAME\n"
        "--no-compute`). Safe to run as several processes on one store; SIGINT/SIGTERM stop it.",
        epilog="exit status: 0 every gate this watcher ran passed (or was skipped: the first\n"
        "checkpoint has nothing to compare with); 1 a gate failed or erred. Each checkpoint's\n"
        "outcome is in REPORT/<checkpoint>/watch.json (delete it to gate again).\n"
        "See docs/gpus-clusters-ci.md, 'Watching a training run'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    watch.add_argument("suite", type=Path, help="suite TOML file with [model] glob")
    watch.add_argument("--store", type=_store_arg, required=True, metavar="DIR",
                       help="results store: a directory (shared by several watchers) or file://")
    watch.add_argument("--report", type=Path, required=True, metavar="DIR",
                       help="gate reports and outcomes, one folder per checkpoint")
    watch.add_argument("--poll", type=seconds_arg, default=POLL, metavar="SECONDS",
                       help=f"seconds between looks at the glob (default {POLL:g})")
    watch.add_argument("--settle", type=seconds_arg, default=SETTLE, metavar="SECONDS",
                       help="a checkpoint is read only once its files are this many seconds"
                       f" old (default {SETTLE:g}; 0 when folders are renamed into place)")
    watch.add_argument("--once", action="store_true",
                       help="process what is complete now, then exit (cron, CI)")
    watch.add_argument("--inconclusive", choices=INCONCLUSIVE, default="pass",
                       help="an inconclusive gate passes (default) or fails")
    watch.set_defaults(func=_cmd_watch)


_CLAIMS_EPILOG = """exit status:
  0    every claim case's verdict is as expected: supported, the verdict its [[expect]]
       entry declares, or inconclusive under --inconclusive pass (the default)
  1    a case failed: refuted, not the declared verdict, inconclusive under
       --inconclusive fail, or an error while computing or testing
  2    bad input (suite, store, --new-checkpoint, units missing under --no-compute)
  3    internal error of pytest;  5  no claim case collected;  130  interrupted
verdicts.json and the HTML report go to --report (docs/verdicts.md, docs/claims-command.md)."""


def _add_design_overrides(parser: argparse.ArgumentParser) -> None:
    """``--trials/--layers/--settings``: the same overrides for `run` and `claims`, so that the
    claims read the units a run with overrides computed (the store is bound to that design)."""
    parser.add_argument("--trials", type=int,
                        help="override [sample] trials (pairings, each crossed with each target"
                             " pair)")
    parser.add_argument("--layers", type=layers_arg,
                        help="override [patch] layers: all, or comma-separated first layers"
                             " (0,6,12)")
    parser.add_argument("--settings", type=list_arg,
                        help="override [patch] settings, comma-separated (seen,en_en,unpatched)")


def _add_claims(sub: Any) -> None:
    """The ``claims`` subcommand: the packaged claim tests on a suite, from any directory."""
    claims = sub.add_parser(
        "claims", help="test the paper's claims on a suite's results (a CI gate)",
        description="Run the packaged claim tests on a suite's results through pytest, from\n"
        "any directory; paths are relative to the working directory. Missing units are\n"
        "computed first (as `conceptpatch run` does) unless --no-compute is given.",
        epilog=_CLAIMS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    claims.add_argument("suite", type=Path, help="suite TOML file")
    claims.add_argument(
        "--store", type=_store_arg, metavar="DIR",
        help="results store: a directory or file:// URL (default: the cache store that"
        " `conceptpatch run SUITE` fills)",
    )
    claims.add_argument(
        "--new-checkpoint", metavar="NAME",
        help="regression gate only: is checkpoint NAME significantly worse than the ones"
        " before it ([claims] gate_window, gate_margin)",
    )
    claims.add_argument(
        "--report", type=Path, metavar="DIR",
        help="where verdicts.json and the HTML report go (default: reports/<suite name>/)",
    )
    claims.add_argument(
        "--no-compute", action="store_true",
        help="never load a model: use the stored units only; a missing one is an error naming"
        " the `conceptpatch run` command that computes it",
    )
    _add_design_overrides(claims)
    claims.add_argument(
        "--inconclusive", choices=INCONCLUSIVE, default="pass",
        help="an inconclusive case without a declared expectation: pass (skipped, the"
        " default) or fail (the run exits 1: an underpowered gate is not green)",
    )
    claims.epilog = (claims.epilog or "") + (
        "\nArguments after -- go to pytest: conceptpatch claims SUITE -- -k induction -x"
        " --junitxml=claims.xml")
    claims.set_defaults(func=_cmd_claims)


def _cmd_report(args: argparse.Namespace) -> int:
    from conceptpatch.report import write_report
    from conceptpatch.results import load_store

    check_out_dir(args.out, "--out")
    from conceptpatch.tables import load_verdicts

    verdicts = [] if args.verdicts is None else load_verdicts(args.verdicts)
    table = load_store(args.store)
    _check_verdicts_design(verdicts, table, args.verdicts)
    out = write_report(table, verdicts, {"name": Path(args.store).name},
                       args.out, store=args.store)
    held = f"{len(verdicts)} verdict(s)" if verdicts else "results only, no claims tested"
    print(f"report written to {out} ({held})")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    """Several stores' concept bands on one relative-depth axis (conceptpatch.depth)."""
    from conceptpatch import compare, depth

    check_out_dir(args.out, "--out")
    given = compare.sources(args.stores, args.label, args.checkpoint)
    result = depth.compare(compare.inputs(given), setting=args.setting, draws=args.draws,
                           seed=args.seed, margin=args.margin)
    page = compare.write_comparison(result, args.out)
    for m in result.models:
        band = (f"band {m.start.value:.2f}-{m.end.value:.2f} (centre {m.centre.value:.2f})"
                if m.band_layers else "no band")
        print(f"{m.label} ({m.checkpoint}, {m.n_layers} layers): {band}; peak exact"
              f" {m.peak.value:.2f} at layer {m.peak_layer}; translation"
              f" {m.translation.value:.2f}")
    print(f"comparison written to {page}")
    return 0


def _add_compare(sub: Any) -> None:
    compare = sub.add_parser(
        "compare", help="several stores' concept bands on one relative-depth axis, one report")
    compare.add_argument("stores", nargs="+", metavar="STORE", type=_store_arg,
                         help="results store folders (or suite .toml files: their default store)")
    compare.add_argument("--out", type=Path, required=True, help="output folder")
    compare.add_argument("--label", action="append",
                         help="a store's name on the page (once per store, in order; default:"
                              " the suite name the store records, else its folder name)")
    compare.add_argument("--checkpoint", action="append",
                         help="the checkpoint to measure (once per store, in order; 'last':"
                              " the last by step, the default)")
    compare.add_argument("--setting", default="seen",
                         help="the patched source setting (default: seen)")
    compare.add_argument("--draws", type=int, default=1000,
                         help="concept-bootstrap draws (default 1000)")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    compare.add_argument("--margin", type=float, default=0.1,
                         help="band positions within this fraction of depth count as the same"
                              " (default 0.1)")
    compare.set_defaults(func=_cmd_compare)


def _check_verdicts_design(verdicts: Any, table: Any, path: Path | None) -> None:
    """Refuse verdicts decided on another design than the store's units (another suite's
    verdicts.json beside this store's figures would be a report of nothing)."""
    if not verdicts:
        return
    if not isinstance(verdicts, list) or not all(isinstance(v, dict) for v in verdicts):
        raise ConceptPatchError(f"--verdicts {str(path)!r} is not a list of verdict records:"
                                " pass the verdicts.json that `conceptpatch claims` wrote")
    stored = set(table["suite_hash"].astype(str)) if len(table) else set()
    decided = {str(v.get("suite_hash")) for v in verdicts}
    if not stored or decided != stored:
        raise ConceptPatchError(
            f"--verdicts {str(path)!r} was decided on design {', '.join(sorted(decided))}, the"
            f" store holds {', '.join(sorted(stored)) or 'no units'}: pass the verdicts.json"
            " that `conceptpatch claims` wrote for this store")


def _cmd_track(args: argparse.Namespace) -> int:
    """Log a store's exact rates by band and its verdicts to W&B by step (conceptpatch.tracking)."""
    from conceptpatch.results import Store, load_store
    from conceptpatch.tables import load_verdicts

    out = args.dir or (args.verdicts.parent if args.verdicts is not None else Path.cwd())
    check_out_dir(out, "--dir")
    table = load_store(args.store)
    if table.empty:
        raise ConceptPatchError(f"store {str(args.store)!r} holds no units, nothing to log: run"
                                " `conceptpatch run SUITE --store DIR` first")
    verdicts = [] if args.verdicts is None else load_verdicts(args.verdicts)
    _check_verdicts_design(verdicts, table, args.verdicts)
    values = tracking.values_by_step(table, verdicts)
    design = Store(Path(args.store)).design()
    name = args.name or (design.suite if design is not None else Path(args.store).name)
    config = {"store": str(Path(args.store).resolve()), "suite": name,
              "suite_hash": ",".join(sorted(set(table["suite_hash"].astype(str)))),
              "verdicts": None if args.verdicts is None else str(args.verdicts.resolve()),
              "conceptpatch": conceptpatch_version()}
    folder = tracking.log_to_wandb(
        values, project=args.project, run_name=name, dir=out,
        mode="offline" if args.offline else None,
        verdicts=tracking.verdict_rows(table, verdicts), config=config, close=True)
    upload = f"; upload it with `wandb sync {folder}`" if folder.name.startswith("offline") else ""
    print(f"logged {len(values)} step(s) and {len(verdicts)} verdict(s) to W&B project"
          f" {args.project!r}: {folder}{upload}")
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


def _cmd_readdepth(args: argparse.Namespace) -> int:
    from conceptpatch.readdepth import suite_read_depth

    if args.quiet:
        _quiet()
    depths = suite_read_depth(load_suite(args.suite), args.checkpoint, trials=args.trials)
    for d in depths:
        if args.json:
            print(json.dumps(d.to_dict()))
            continue
        changed = " ".join(f"{d.changed[j]:.2f}" for j in sorted(d.changed))
        print(f"{d.checkpoint}: read depth {d.depth:.2f} (layer {d.layer} of {d.n_layers});"
              f" answers changed by a word/self patch from layers 0-{d.n_layers - 1}: {changed}")
    return 0


def _cmd_organism(args: argparse.Namespace) -> int:
    from conceptpatch.organism import cli_train

    out = cli_train(args.variant, args.seed, Path(args.out) if args.out else None)
    print(f"organism {args.variant} (seed {args.seed}) is in {out}")
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"conceptpatch: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="conceptpatch", description="Cross-lingual concept patching over LM checkpoints."
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {conceptpatch_version()}",
        help="print the conceptpatch version and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="compute a suite's missing results into a store")
    run.add_argument("suite", help="suite TOML file")
    run.add_argument(
        "--store",
        type=_store_arg,
        help="results store: a directory (shared ones work for shards) or file:// URL"
        " (default: cache)",
    )
    run.add_argument("--checkpoint", action="append", help="only this checkpoint (repeatable)")
    run.add_argument("--shard", type=_shard, help="i/n: run the i-th of n shares of the units")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--device", help="override [model] device (cpu, cuda, cuda:1, mps)")
    run.add_argument("--dtype", help="override [model] dtype (float32, bfloat16, float16)")
    _add_design_overrides(run)
    run.add_argument("--dry-run", action="store_true",
                     help="print the units (done or to compute) and their forwards; load nothing")
    run.add_argument("--replace", action="store_true",
                     help="the store holds another design's units (another suite, or other"
                          " --trials/--layers): delete them first instead of refusing")
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check", help="validate a suite without loading a model")
    check.add_argument("suite", help="suite TOML file")
    check.add_argument(
        "--online",
        action="store_true",
        help="also check that hub repositories and revisions exist (no weights are downloaded)",
    )
    check.add_argument("--store", type=_store_arg,
                       help="also list each unit as done or to compute in this results store")
    check.set_defaults(func=_cmd_check)
    _add_claims(sub)
    _add_watch(sub)

    report = sub.add_parser("report", help="write the HTML report of a store")
    report.add_argument("store", type=_store_arg, help="results store directory or file:// URL")
    report.add_argument("--out", type=Path, default=Path("reports/store"), help="output folder")
    report.add_argument("--verdicts", type=Path,
                        help="verdicts.json of `conceptpatch claims` to show (default: none;"
                        " the page then says no claim was tested)")
    report.set_defaults(func=_cmd_report)
    _add_compare(sub)

    track = sub.add_parser(
        "track", help="log a store's exact rates and verdicts to W&B by step (wandb extra)")
    track.add_argument("store", type=_store_arg, help="results store directory or file:// URL")
    track.add_argument("--verdicts", type=Path,
                       help="verdicts.json of `conceptpatch claims` (or of the gate) to log too")
    track.add_argument("--project", default="conceptpatch",
                       help="W&B project (default: conceptpatch)")
    track.add_argument("--name", help="W&B run name (default: the store's suite name)")
    track.add_argument("--offline", action="store_true",
                       help="write the run locally only (as WANDB_MODE=offline); upload it later"
                            " with `wandb sync`")
    track.add_argument("--dir", type=Path,
                       help="where W&B writes (DIR/wandb/; default: the folder of --verdicts,"
                            " else the working directory)")
    track.set_defaults(func=_cmd_track)

    annotate = sub.add_parser("annotate", help="export or import a manual annotation sheet")
    actions = annotate.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="sample trials into a CSV sheet to label")
    export.add_argument("store", help="results store directory or file:// URL")
    export.add_argument("--out", required=True, help="the CSV sheet to write")
    export.add_argument("--per-cell", type=int, default=5,
                        help="trials sampled per checkpoint x setting x layer cell (default 5)")
    imp = actions.add_parser("import", help="store the labels of a filled-in sheet")
    imp.add_argument("sheet", help="the filled-in CSV sheet")
    imp.add_argument("store", help="results store whose trials it labels")
    annotate.set_defaults(func=_cmd_annotate)

    depth = sub.add_parser(
        "readdepth", help="how deep a suite's model reads the query word (word/self patch)"
    )
    depth.add_argument("suite", help="suite TOML file")
    depth.add_argument(
        "--checkpoint", action="append", help="this checkpoint (repeatable; default: the last)"
    )
    depth.add_argument("--trials", type=int, default=40, help="trials per output language")
    depth.add_argument("--json", action="store_true", help="one JSON object per checkpoint")
    depth.add_argument("--quiet", action="store_true", help="no progress bars")
    depth.set_defaults(func=_cmd_readdepth)

    organism = sub.add_parser("organism", help="the built-in model organism")
    org_actions = organism.add_subparsers(dest="action", required=True)
    train = org_actions.add_parser("train", help="train (or find cached) an organism variant")
    train.add_argument("--variant", default="default",
                       help="recipe variant: default, tiny, no-parallel, no-phase-two, ...")
    train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train.add_argument("--out", help="directory (default: the user cache)")
    organism.set_defaults(func=_cmd_organism)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``conceptpatch`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # what follows goes to pytest (`claims` only)
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = _parser()
    args = parser.parse_args(argv)
    if extra and getattr(args, "func", None) is not _cmd_claims:
        parser.error(f"arguments after -- ({' '.join(extra)}) are for `conceptpatch claims` only")
    args.pytest_args = extra
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except ConceptPatchError as err:
        print(f"conceptpatch: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        again = f": {err.args[0]}" if isinstance(err, _Interrupted) else ""
        print(
            "\nconceptpatch: interrupted; finished units are stored, the unit in progress was"
            f" discarded. To resume, run the same command again{again}",
            file=sys.stderr,
        )
        return 130
    except Exception as err:
        if os.environ.get("CONCEPTPATCH_DEBUG"):
            raise
        problem = write_problem(err) if isinstance(err, OSError) else None
        if problem is not None:  # a full disk, a read-only folder: the surroundings, not a bug
            print(f"conceptpatch: error: {problem}", file=sys.stderr)
            return 2
        print(
            f"conceptpatch: internal error: {type(err).__name__}: {_one_line(err)} (rerun with"
            " CONCEPTPATCH_DEBUG=1 for the traceback and report it)",
            file=sys.stderr,
        )
        return 1


def _stdout_closed() -> int:
    """Stdout's reader went away (``| head``): silence stdout and exit 1, as the Python docs'
    note on SIGPIPE does (https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the flush at exit then writes nowhere
    except (OSError, ValueError):  # stdout without a file descriptor (captured)
        pass
    return 1


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())

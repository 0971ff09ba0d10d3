"""``conceptpatch claims``: the packaged claim tests run by pytest, from any directory.

The command checks the suite (and, with ``--no-compute``, the store) itself, so bad input is one
line, then runs :mod:`conceptpatch.claim_tests` through pytest with the plugin's ``--cp-*``
options, rooted in the package (no ``pytest.ini``/``pyproject.toml``/conftest of the working
directory applies). Exit statuses (docs/claims-command.md):

- 0: every collected claim case ran and its verdict is as expected: supported, or the verdict
  its ``[[expect]]`` entry declares, or inconclusive without an entry under ``--inconclusive
  pass`` (the default);
- 1: a case failed: refuted, a verdict other than the declared one, inconclusive under
  ``--inconclusive fail``, or an error while computing or testing;
- 2: bad input (suite, store, ``--new-checkpoint``, units missing under ``--no-compute``, pytest
  usage) or a collection error;
- 3: an internal error of pytest; 5: no claim case was collected; 130: interrupted.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import conceptpatch.claim_tests
from conceptpatch.errors import ConceptPatchError
from conceptpatch.files import check_out_dir
from conceptpatch.paths import default_store
from conceptpatch.sources.checkpoint import Checkpoint

if TYPE_CHECKING:
    import pandas as pd

    from conceptpatch.config.suite import Suite
    from conceptpatch.resolve import Resolved

__all__ = [
    "INCONCLUSIVE",
    "MissingUnits",
    "claim_tests_dir",
    "exit_status",
    "missing_units",
    "run_claims",
    "stored_results",
]

#: ``--inconclusive``: ``pass`` (an inconclusive case is a skip) or ``fail`` (it fails the run).
INCONCLUSIVE = ("pass", "fail")
#: pytest's exit codes mapped onto the command's (see the module docstring).
_EXIT = {0: 0, 1: 1, 2: 2, 3: 3, 4: 2, 5: 5}
_SHOWN = 6  # missing units named in the error before "and N more"


class MissingUnits(ConceptPatchError):
    """``--no-compute`` found units the store lacks; the message names them and the fix."""


def claim_tests_dir() -> Path:
    """The folder of the packaged claim test modules (in the clone or the installed package)."""
    return Path(conceptpatch.claim_tests.__file__).resolve().parent


def gate_checkpoints(resolved: Any, new_checkpoint: str | None) -> list[str] | None:
    """The checkpoints a run needs: all (None), or for the gate ``new_checkpoint`` and the
    ``gate_window`` checkpoints before it (the only ones the gate reads)."""
    if new_checkpoint is None:
        return None
    from conceptpatch.claims import axes_from_suite
    from conceptpatch.claims.regression import gate

    window, _ = gate(resolved.suite)
    upto = list(axes_from_suite(resolved, upto=new_checkpoint).checkpoints)
    return upto[-(window + 1):]


def missing_units(resolved: Any, store: Path, checkpoints: Sequence[str] | None,
                  pairings: int | None = None) -> list[str]:
    """``checkpoint/setting`` of each unit of the suite (or ``checkpoints``) the store lacks
    (a sequential design's: holds with fewer than ``pairings`` pairings, default its whole plan);
    a store bound to another design is a `StoreError` (its units are none of the suite's)."""
    from conceptpatch.compute import plan_units
    from conceptpatch.results import Store, StoreDesign

    target, digest = Store(Path(store)), resolved.suite.settings_hash()
    if target.root.is_dir():
        target.check_design(StoreDesign.of(resolved.suite))
    return [f"{u.checkpoint.name}/{u.setting}" for u in plan_units(resolved, checkpoints)
            if not target.has(u.checkpoint.name, u.setting, digest, pairings)]


def _missing_error(resolved: Any, store: Path, missing: list[str]) -> MissingUnits:
    suite = resolved.suite
    shown = ", ".join(missing[:_SHOWN])
    more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
    names = list(dict.fromkeys(unit.rsplit("/", 1)[0] for unit in missing))
    suite_file = str(suite.path or f"{suite.name}.toml")
    command = ["conceptpatch", "run", suite_file, "--store", str(store)]
    if len(names) < len(resolved.checkpoints):
        for name in names:
            command += ["--checkpoint", name]
    return MissingUnits(
        f"--no-compute: store {str(store)!r} lacks {len(missing)} unit(s) of suite"
        f" {suite.name!r} ({shown}{more}): compute them with `{shlex.join(command)}` (it loads"
        " the models), then rerun"
    )


def resolve_stored(suite: Suite, store: Path) -> Resolved:
    """``suite`` resolved without building anything; a glob suite whose checkpoint folders are
    not on this machine (a CPU gate job) takes its checkpoints from the units in the store."""
    from conceptpatch.resolve import resolve

    resolved = resolve(suite, build=False, missing_ok=True)
    if suite.model.glob is None:
        return resolved
    from conceptpatch.results import Store

    known = {c.name for c in resolved.checkpoints}
    stored = [Checkpoint(c["name"], path=c["source"], step=c["step"], tokens=c["tokens"],
                         phase=c["phase"])
              for c in Store(Path(store)).checkpoints(suite.settings_hash())
              if c["name"] not in known]
    if not stored:
        return resolved
    merged = sorted([*resolved.checkpoints, *stored], key=lambda c: (c.step, c.name))
    return dataclasses.replace(resolved, checkpoints=tuple(merged))


def stored_results(suite: Suite, store: Path, checkpoints: Sequence[str] | None,
                   pairings: int | None = None) -> pd.DataFrame:
    """The suite's results table read from the store alone: nothing is built, trained, loaded,
    computed or written (a read-only store works); a missing unit raises `MissingUnits`.
    ``pairings``: a sequential design's look, whose first pairings are read."""
    from conceptpatch.compute import plan_units
    from conceptpatch.results import Store, conform
    from conceptpatch.trial_ids import first_pairings

    resolved = resolve_stored(suite, store)
    missing = missing_units(resolved, store, checkpoints, pairings)
    if missing:
        raise _missing_error(resolved, Path(store), missing)
    table = conform(Store(Path(store)).load(
        (u.checkpoint.name, u.setting) for u in plan_units(resolved, checkpoints)))
    return table if pairings is None else first_pairings(table, pairings, suite.trials)


def _precheck(suite: Suite, store: Path, new_checkpoint: str | None, no_compute: bool) -> None:
    """Fail before pytest starts: an unknown gate checkpoint; under ``--no-compute`` a missing
    unit or an untrained organism. Without it, a suite that cannot resolve yet (an organism to
    train, a tiny model to build) is left to the run."""
    from conceptpatch.resolve import resolve
    from conceptpatch.results import Store, StoreDesign

    if store.is_dir():  # another design's store: refused before anything trains or computes
        Store(store).check_design(StoreDesign.of(suite))
    try:
        resolved = resolve_stored(suite, store) if no_compute else resolve(suite, build=False)
    except ConceptPatchError:
        if no_compute:
            raise
        return
    checkpoints = gate_checkpoints(resolved, new_checkpoint)
    if no_compute:  # a sequential design needs its first stage; later ones are read if held
        first = suite.stages[0] if suite.stages is not None and new_checkpoint is None else None
        missing = missing_units(resolved, store, checkpoints, first)
        if missing:
            raise _missing_error(resolved, store, missing)


class _Interrupts:
    """A pytest plugin that notes a Ctrl-C (pytest reports it as exit 2, like a usage error)."""

    def __init__(self) -> None:
        self.seen = False

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.seen = excinfo.errisinstance(KeyboardInterrupt)  # not a `pytest.exit` refusal


def exit_status(pytest_code: int, interrupted: bool = False) -> int:
    """The command's exit status for pytest's exit code (130 when interrupted)."""
    return 130 if interrupted else _EXIT.get(int(pytest_code), 1)


def override_options(*, trials: int | None = None, layers: str | Sequence[int] | None = None,
                     settings: Sequence[str] | None = None) -> list[str]:
    """The plugin options (``--cp-trials`` ...) that give the claims the suite with the
    overrides `conceptpatch run` had, so that they read the units that run computed."""
    out = []
    if trials is not None:
        out.append(f"--cp-trials={trials}")
    if layers is not None:
        text = layers if isinstance(layers, str) else ",".join(map(str, layers))
        out.append(f"--cp-layers={text}")
    if settings is not None:
        out.append(f"--cp-settings={','.join(settings)}")
    return out


def pytest_arguments(suite: Path, store: Path, *, new_checkpoint: str | None = None,
                     report: Path | None = None, no_compute: bool = False,
                     inconclusive: str = "pass", extra: Sequence[str] = ()) -> list[str]:
    """The pytest command line of a claims run: the packaged tests, rooted in the package."""
    tests = claim_tests_dir()
    args = [str(tests), "-p", "conceptpatch.pytest_plugin", "-p", "no:cacheprovider",
            "-c", os.devnull, "--rootdir", str(tests), "--confcutdir", str(tests),
            "--assert=plain", "-ra",
            "--cp-suite", str(suite), "--cp-store", str(store),
            "--cp-inconclusive", inconclusive]
    if new_checkpoint is not None:
        args += ["--cp-new-checkpoint", new_checkpoint]
    if report is not None:
        args += ["--cp-report", str(report)]
    if no_compute:
        args.append("--cp-no-compute")
    return [*args, *extra]


def _check_outputs(suite: Suite, store: Path, report: str | Path | None) -> None:
    """Fail before pytest starts on what would lose the verdicts after every test ran: a report
    folder that cannot be one (an existing file, a read-only working directory) or a damaged
    annotations file in the store."""
    from conceptpatch.annotate import load_annotations

    out = Path(report) if report is not None else Path.cwd() / "reports" / str(suite.name)
    check_out_dir(out, "--report")
    load_annotations(store)


def _check_alpha(extra: Sequence[str]) -> None:
    """Refuse a bad ``--cp-alpha`` among the pytest arguments in one line, before pytest prints
    its usage (the plugin's own check, `conceptpatch.pytest_plugin.alpha_arg`)."""
    import argparse
    import itertools

    from conceptpatch.pytest_plugin import alpha_arg

    values = [a.split("=", 1)[1] for a in extra if a.startswith("--cp-alpha=")]
    values += [b for a, b in itertools.pairwise(extra) if a == "--cp-alpha"]
    for value in values:
        try:
            alpha_arg(value)
        except argparse.ArgumentTypeError as err:
            raise ConceptPatchError(f"{err}: fix the --cp-alpha after --") from None


def run_claims(suite_path: str | Path, store: str | Path | None = None, *,
               new_checkpoint: str | None = None, report: str | Path | None = None,
               no_compute: bool = False, inconclusive: str = "pass",
               extra: Sequence[str] = (), trials: int | None = None,
               layers: str | list[int] | None = None, settings: list[str] | None = None) -> int:
    """Run the claims of ``suite_path`` on ``store`` (default: the suite's cache store); paths
    relative to the working directory. Returns the command's exit status."""
    import pytest

    from conceptpatch.preflight import with_overrides

    _check_alpha(extra)
    suite_file = Path(suite_path).resolve()
    suite = with_overrides(suite_file, trials=trials, layers=layers, settings=settings)
    where = Path(store) if store is not None else default_store(suite.name, suite.settings_hash())
    where = where.resolve()
    _precheck(suite, where, new_checkpoint, no_compute)
    _check_outputs(suite, where, report)
    args = pytest_arguments(
        suite_file, where, new_checkpoint=new_checkpoint,
        report=None if report is None else Path(report).resolve(), no_compute=no_compute,
        inconclusive=inconclusive,
        extra=[*override_options(trials=trials, layers=layers, settings=settings), *extra])
    interrupts = _Interrupts()
    code = pytest.main(args, plugins=[interrupts])
    return exit_status(int(code), interrupts.seen)

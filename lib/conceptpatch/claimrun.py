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

import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conceptpatch.errors import ConceptPatchError

if TYPE_CHECKING:
    import pandas as pd

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
    import conceptpatch.claim_tests

    return Path(conceptpatch.claim_tests.__file__).resolve().parent


def gate_checkpoints(resolved: Any, new_checkpoint: str | None) -> list[str] | None:
    """The checkpoints a run needs: all (None), or for the gate those up to ``new_checkpoint``."""
    if new_checkpoint is None:
        return None
    from conceptpatch.claims import axes_from_suite

    return list(axes_from_suite(resolved, upto=new_checkpoint).checkpoints)


def missing_units(resolved: Any, store: Path, checkpoints: Sequence[str] | None) -> list[str]:
    """``checkpoint/setting`` of each unit of the suite (or ``checkpoints``) the store lacks."""
    from conceptpatch.results import Store
    from conceptpatch.run import plan_units

    target, digest = Store(Path(store)), resolved.suite.settings_hash()
    return [f"{u.checkpoint.name}/{u.setting}" for u in plan_units(resolved, checkpoints)
            if not target.has(u.checkpoint.name, u.setting, digest)]


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


def stored_results(suite: Any, store: Path, checkpoints: Sequence[str] | None) -> pd.DataFrame:
    """The suite's results table read from the store alone: nothing is built, trained, loaded,
    computed or written (a read-only store works); a missing unit raises `MissingUnits`."""
    from conceptpatch.results import Store, conform
    from conceptpatch.run import plan_units
    from conceptpatch.suite import resolve

    resolved = resolve(suite, build=False)
    missing = missing_units(resolved, store, checkpoints)
    if missing:
        raise _missing_error(resolved, Path(store), missing)
    target = Store(Path(store))
    target.check_version()
    table = target.load()  # then the rows `run_suite` returns, without its `Store.open()`
    names = {u.checkpoint.name for u in plan_units(resolved, checkpoints)}
    keep = table["checkpoint"].isin(names) & table["setting"].isin(suite.settings)
    return conform(table[keep & (table["suite_hash"] == suite.settings_hash())])


def _precheck(suite: Any, store: Path, new_checkpoint: str | None, no_compute: bool) -> None:
    """Fail before pytest starts: an unknown gate checkpoint; under ``--no-compute`` a missing
    unit or an untrained organism. Without it, a suite that cannot resolve yet (an organism to
    train, a tiny model to build) is left to the run."""
    from conceptpatch.suite import resolve

    try:
        resolved = resolve(suite, build=False)
    except ConceptPatchError:
        if no_compute:
            raise
        return
    checkpoints = gate_checkpoints(resolved, new_checkpoint)
    if no_compute:
        missing = missing_units(resolved, store, checkpoints)
        if missing:
            raise _missing_error(resolved, store, missing)


class _Interrupts:
    """A pytest plugin that notes a Ctrl-C (pytest reports it as exit 2, like a usage error)."""

    def __init__(self) -> None:
        self.seen = False

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self.seen = True


def exit_status(pytest_code: int, interrupted: bool = False) -> int:
    """The command's exit status for pytest's exit code (130 when interrupted)."""
    return 130 if interrupted else _EXIT.get(int(pytest_code), 1)


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


def run_claims(suite_path: str | Path, store: str | Path | None = None, *,
               new_checkpoint: str | None = None, report: str | Path | None = None,
               no_compute: bool = False, inconclusive: str = "pass",
               extra: Sequence[str] = ()) -> int:
    """Run the claims of ``suite_path`` on ``store`` (default: the suite's cache store); paths
    relative to the working directory. Returns the command's exit status."""
    import pytest

    from conceptpatch.paths import default_store
    from conceptpatch.suite import load_suite

    suite_file = Path(suite_path).resolve()
    suite = load_suite(suite_file)
    where = Path(store) if store is not None else default_store(suite.name, suite.settings_hash())
    where = where.resolve()
    _precheck(suite, where, new_checkpoint, no_compute)
    args = pytest_arguments(
        suite_file, where, new_checkpoint=new_checkpoint,
        report=None if report is None else Path(report).resolve(), no_compute=no_compute,
        inconclusive=inconclusive, extra=extra)
    interrupts = _Interrupts()
    code = pytest.main(args, plugins=[interrupts])
    return exit_status(int(code), interrupts.seen)

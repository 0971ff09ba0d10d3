"""``conceptpatch watch``: compute and gate each new checkpoint of a training run as it lands.

A suite whose ``model.glob`` matches the run's checkpoint folders is polled; each folder that is
complete (`incomplete` finds nothing missing) and not gated yet has its units computed
(`conceptpatch.compute.run_suite`, under the store's per-unit locks) and then the regression gate
run on it (`conceptpatch.claims_command.run_claims` with ``--no-compute``). The outcome is recorded
in ``REPORT/<checkpoint folder>/watch.json`` (written atomically), so a restarted watcher, or a
second one on the same store, skips it; a per-checkpoint file lock (``watch.lock`` beside it)
makes the computing and gating of one checkpoint happen in one process at a time.

Completeness: a trainer should write each checkpoint into a folder the glob does not match (a
``tmp/`` folder beside the run, or a name without the glob's prefix) and rename it into place
when it is whole: a rename is atomic, so a watcher sees all of it or nothing. A writer that
writes in place is covered by `incomplete`'s checks (weights whose size differs from what their
header declares, shards missing from the index, temp files) and by ``settle``: nothing is read
until every file is ``settle`` seconds old.

Exit status (of `watch` and the command): 0 when every gate this watcher ran passed or was
skipped (the first checkpoint has nothing before it to compare with); 1 when one failed (a
regression, exit 1 of the gate) or ended in an error (computing failed, or the gate exited with
2, 3 or 5). A failed gate does not stop the watch: it is recorded, printed and counted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from conceptpatch.claims_command import gate_checkpoints, missing_units, resolve_stored, run_claims
from conceptpatch.config.suite import Suite, load_suite
from conceptpatch.errors import ConceptPatchError, StoreError, SuiteError, first_line
from conceptpatch.files import atomic_write, check_out_dir
from conceptpatch.resolve import Resolved, resolve, suite_checkpoints

__all__ = ["POLL", "SETTLE", "GateRecord", "incomplete", "seconds_arg", "stop_on_signals",
           "watch"]

#: Seconds between two looks at the glob.
POLL = 30.0
#: Seconds every file of a checkpoint must have been left alone before it is read.
SETTLE = 30.0
#: Name endings of files still being written (ours, HF downloads, rsync/curl style).
PARTIAL_SUFFIXES = (".tmp", ".partial", ".incomplete")
#: Hidden files that belong to a finished checkpoint (a hub clone's).
BENIGN_HIDDEN = frozenset({".gitattributes", ".gitignore", ".gitkeep"})
#: Hidden folders a finished checkpoint may hold: ``.cache`` is searched for partial downloads
#: only (``hf download --local-dir`` keeps ``*.incomplete`` there while downloading); ``.git``
#: is not read.
HIDDEN_DIRS = frozenset({".cache", ".git"})
#: Weight files; a trainer's ``training_args.bin`` is not one.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")
NOT_WEIGHTS = frozenset({"training_args.bin"})
#: Shard indexes whose ``weight_map`` names every shard of a sharded checkpoint.
INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
#: The largest safetensors header the format allows (larger: a file being written, or garbage).
HEADER_LIMIT = 100 * 2**20
#: The file recording a checkpoint's outcome, and its lock, in ``REPORT/<checkpoint folder>/``.
STATUS_FILE, LOCK_FILE = "watch.json", "watch.lock"


@dataclass(frozen=True)
class GateRecord:
    """What happened to one checkpoint (``watch.json``): status is passed, failed, skipped or
    error; ``exit`` the gate's exit status (None when it did not run)."""

    checkpoint: str
    step: int | None
    status: str
    exit: int | None
    reason: str
    report: str | None
    suite_hash: str
    host: str
    pid: int
    finished: str


def seconds_arg(text: str) -> float:
    """``--poll``/``--settle``: a number of seconds, zero or more (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def _safetensors_problem(path: Path) -> str | None:
    """Why safetensors file ``path`` is not whole: shorter or longer than its header declares
    (8-byte little-endian header length, JSON header, data up to the last ``data_offsets``)."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            return f"{path.name} has {size} bytes, not even a safetensors header (being written?)"
        length = int.from_bytes(head, "little")
        if length > min(size - 8, HEADER_LIMIT):
            return (f"{path.name} has {size} bytes, shorter than its {length}-byte header"
                    " (being written?)")
        try:
            header = json.loads(f.read(length))
            ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return f"{path.name} has no complete safetensors header yet (being written?)"
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        return (f"{path.name} has {size} bytes, its header declares {expected}"
                f" ({'being written?' if size < expected else 'trailing bytes'})")
    return None


def _index_problem(folder: Path, index: str) -> str | None:
    """Why the shard index ``index`` of ``folder`` is not satisfied: unreadable, or naming
    shards that are not there yet."""
    try:
        text = (folder / index).read_text(encoding="utf-8")
        shards = set(json.loads(text)["weight_map"].values())
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return f"{index} is not complete JSON with a weight_map yet (being written?)"
    absent = sorted(s for s in shards if not (folder / str(s)).is_file())
    if absent:
        return f"{len(absent)} of {len(shards)} shards named in {index} are missing ({absent[0]})"
    return None


def _files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The files under ``folder`` (the hidden folders of `HIDDEN_DIRS` aside) and the partial
    ones: temp names (`PARTIAL_SUFFIXES`, a leading dot) anywhere, ``.cache``'s included."""
    files, partial = [], []
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        hidden = here != folder and here.relative_to(folder).parts[0] in HIDDEN_DIRS
        if here == folder:
            dirs[:] = [d for d in dirs if d != ".git"]
            partial += [here / d for d in dirs if d.startswith(".") and d not in HIDDEN_DIRS]
            dirs[:] = [d for d in dirs if not d.startswith(".") or d in HIDDEN_DIRS]
        for name in names:
            path = here / name
            if name.endswith(PARTIAL_SUFFIXES) or (
                    not hidden and name.startswith(".") and name not in BENIGN_HIDDEN):
                partial.append(path)
            elif not hidden:
                files.append(path)
    return files, partial


def incomplete(path: str | os.PathLike[str], settle: float = SETTLE,
               now: float | None = None) -> str | None:
    """Why checkpoint folder ``path`` is not complete yet, or None when it may be read.

    Not complete: a temp name (the folder's or a file's: ``.tmp``, ``.partial``,
    ``.incomplete``, a leading dot); no config.json; no weight file (*.safetensors, *.bin,
    *.gguf); a shard index naming absent shards; a safetensors file whose length differs from
    what its header declares; or a file (or the folder) modified less than ``settle`` s ago.
    """
    folder = Path(path)
    if not folder.is_dir():
        return "not a folder (yet)"
    if folder.name.startswith(".") or folder.name.endswith(PARTIAL_SUFFIXES):
        return f"its name {folder.name!r} marks it as temporary"
    try:
        files, partial = _files(folder)
        if partial:
            return (f"temp file {partial[0].relative_to(folder)} present (being written)"
                    + (f" and {len(partial) - 1} more" if len(partial) > 1 else ""))
        top = {p.name for p in files if p.parent == folder}
        if "config.json" not in top:
            return "no config.json yet"
        if not any(n.endswith(WEIGHT_SUFFIXES) and n not in NOT_WEIGHTS for n in top):
            return "no weight file (*.safetensors, *.bin, *.gguf) yet"
        for index in INDEXES:
            problem = _index_problem(folder, index) if index in top else None
            if problem:
                return problem
        for weights in sorted(p for p in files if p.suffix == ".safetensors"):
            problem = _safetensors_problem(weights)
            if problem:
                return problem
        newest = max(p.stat().st_mtime for p in [folder, *files])
    except FileNotFoundError as err:  # a writer renamed or removed a file while we looked
        return f"{Path(err.filename or '?').name} vanished while being read (being written?)"
    age = (time.time() if now is None else now) - newest
    if age < settle:
        return (f"modified {max(age, 0):.0f} s ago, less than the settle time {settle:g} s: a"
                " writer may still be appending")
    return None


@contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
                    ) -> Iterator[threading.Event]:
    """An event that SIGINT/SIGTERM set; the first one also interrupts the work in progress
    (KeyboardInterrupt: a unit being computed is abandoned, safe as units are written
    atomically). Later signals are ignored while the watcher winds down. Main thread only."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            return
        stop.set()
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield stop
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def _say(message: str) -> None:
    """One event line on stdout, flushed (a watcher's log is read while it runs)."""
    print(f"watch: {message}", flush=True)


def _recorded(folder: Path, digest: str) -> bool:
    """Whether ``folder`` holds a readable outcome of this design (another design's, or a
    damaged file, is gated again)."""
    try:
        return json.loads((folder / STATUS_FILE).read_text(encoding="utf-8")).get(
            "suite_hash") == digest
    except (OSError, ValueError, AttributeError):
        return False


def _acquire(lock: FileLock, stop: threading.Event) -> bool:
    """Take ``lock``, waiting while another watcher holds it; False when stopped first."""
    while not stop.is_set():
        try:
            lock.acquire(timeout=1.0)
            return True
        except Timeout:
            continue
    return False


@dataclass(frozen=True)
class _Job:
    """What every checkpoint of one watch shares."""

    suite: Suite
    resolved: Resolved
    store: Path
    reports: Path
    inconclusive: str
    stop: threading.Event
    noted: set[str]


def _record(job: _Job, checkpoint: Any, status: str, code: int | None, reason: str,
            report: Path | None) -> GateRecord:
    """The outcome of ``checkpoint``, written atomically to its ``watch.json``."""
    from conceptpatch.results import unit_folder

    record = GateRecord(checkpoint.name, checkpoint.step, status, code, reason,
                        None if report is None else str(report), job.suite.settings_hash(),
                        platform.node(), os.getpid(),
                        datetime.now(timezone.utc).isoformat(timespec="seconds"))
    folder = job.reports / unit_folder(checkpoint.name)
    atomic_write(folder / STATUS_FILE, json.dumps(dataclasses.asdict(record), indent=1) + "\n")
    return record


def _gate(job: _Job, checkpoint: Any) -> GateRecord | None:
    """Compute ``checkpoint``'s units, then gate it; None when it must wait (an earlier
    checkpoint of its gate window has no units yet) or the watch was stopped meanwhile."""
    from conceptpatch.compute import run_suite
    from conceptpatch.results import unit_folder

    name, started = checkpoint.name, time.perf_counter()
    todo = missing_units(job.resolved, job.store, [name])
    if todo:  # (a checkpoint whose gate waits has its units already: nothing to say again)
        _say(f"{name}: complete; computing its {len(todo)} unit(s)")
        try:
            run_suite(job.resolved, job.store, checkpoints=[name], progress=False)
        except StoreError:
            raise
        except ConceptPatchError as err:
            return _record(job, checkpoint, "error", None,
                           f"computing failed: {first_line(err)}", None)
        _say(f"{name}: units computed in {time.perf_counter() - started:.1f} s")
    stored = resolve_stored(job.suite, job.store)
    window = gate_checkpoints(stored, name)
    if len(window) <= 1:
        return _record(job, checkpoint, "skipped", None,
                       "no earlier checkpoint to compare with", None)
    missing = missing_units(stored, job.store, window)
    if missing:
        if f"waits {name}" not in job.noted:
            job.noted.add(f"waits {name}")
            _say(f"{name}: gate waits for the units of {missing[0].rsplit('/', 1)[0]} (its gate"
                 " window), computed once that checkpoint is complete")
        return None
    report = job.reports / unit_folder(name)
    try:
        code = run_claims(job.suite.path, job.store, new_checkpoint=name, report=report,
                          no_compute=True, inconclusive=job.inconclusive, extra=["-q"])
    except StoreError:
        raise
    except ConceptPatchError as err:
        return _record(job, checkpoint, "error", 2, f"gate: {first_line(err)}", report)
    if job.stop.is_set():  # interrupted inside pytest: nothing to record
        return None
    status = {0: "passed", 1: "failed"}.get(code, "error")
    why = {0: "no significant regression", 1: "a regression, or a case failed"}.get(
        code, "the gate could not decide (see its output)")
    return _record(job, checkpoint, status, code, why, report)


def _sweep(job: _Job, checkpoints: tuple[Any, ...], settle: float,
           found: Callable[[GateRecord], object]) -> None:
    """One look at the glob: every complete, ungated checkpoint computed and gated, in step
    order (a gate reads the checkpoints before it); ``found`` gets each outcome at once."""
    from conceptpatch.results import unit_folder

    digest = job.suite.settings_hash()
    done = {c.name for c in checkpoints
            if _recorded(job.reports / unit_folder(c.name), digest)}
    ready, usable = [], []
    for c in checkpoints:
        why = None if c.name in done or c.path is None else incomplete(c.path, settle)
        if why is None:
            usable.append(c)
            ready += [] if c.name in done else [c]
        elif f"incomplete {c.name}" not in job.noted:
            job.noted.add(f"incomplete {c.name}")
            _say(f"{c.name}: not complete yet ({why}); not read until it is")
    resolved = dataclasses.replace(job.resolved, checkpoints=tuple(usable))
    job = dataclasses.replace(job, resolved=resolved)
    for c in ready:
        if job.stop.is_set():
            break
        folder = job.reports / unit_folder(c.name)
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / LOCK_FILE))
        if not _acquire(lock, job.stop):
            break
        try:
            if _recorded(folder, digest):  # another watcher gated it while we waited
                continue
            record = _gate(job, c)
        finally:
            lock.release()
        if record is not None:
            _say(_event(record))
            found(record)


def _event(record: GateRecord) -> str:
    """The line that reports ``record``."""
    where = (f"; verdicts in {Path(record.report, 'verdicts.json')}"
             if record.report and record.exit is not None else "")
    if record.status == "skipped":
        return f"{record.checkpoint}: gate skipped: {record.reason}"
    if record.status == "error":
        code = "" if record.exit is None else f" (exit {record.exit})"
        return f"{record.checkpoint}: ERROR{code}: {record.reason}{where}"
    state = "passed" if record.status == "passed" else "FAILED"
    return f"{record.checkpoint}: gate {state} (exit {record.exit}: {record.reason}){where}"


def _start(suite_path: str | os.PathLike[str], store: Path, reports: Path) -> tuple[Any, Any]:
    """The suite (which must have ``model.glob``) and its resolution, the store and report
    folders checked: every problem that would hit each checkpoint alike is refused up front."""
    from conceptpatch.results import Store, StoreDesign

    suite = load_suite(suite_path)
    if suite.model.glob is None:
        raise SuiteError(
            f"suite {suite.name!r} has no model.glob: `conceptpatch watch` follows a training"
            ' run\'s checkpoint folders; add [model] glob = "/runs/mine/iter_*" (one folder per'
            " checkpoint, the step in its name), or compute fixed checkpoints with"
            " `conceptpatch run`")
    from conceptpatch.claims.common import SOURCE_SETTINGS

    if not set(SOURCE_SETTINGS) & set(suite.settings):
        raise SuiteError(
            f"suite {suite.name!r} computes settings {', '.join(suite.settings)}: the gate compares"
            f" source settings ({' or '.join(SOURCE_SETTINGS)}), so it would have no case: add"
            " one to [patch] settings")
    check_out_dir(reports, "--report")
    if store.is_dir():
        Store(store).check_design(StoreDesign.of(suite))
    return suite, resolve(suite, build=False, missing_ok=True)


def watch(suite_path: str | os.PathLike[str], store: str | os.PathLike[str], *,
          report_root: str | os.PathLike[str], poll: float = POLL, settle: float = SETTLE,
          once: bool = False, stop: threading.Event | None = None, inconclusive: str = "pass",
          on_record: Callable[[GateRecord], object] | None = None) -> int:
    """Compute and gate each complete checkpoint of the suite's glob until ``stop`` is set (or
    after one look with ``once``); returns 1 if a gate it ran failed or erred, else 0.

    ``stop`` is checked between checkpoints (a thread sets it); under `stop_on_signals` a
    signal also abandons the unit or gate in progress. ``on_record`` sees each outcome.
    """
    if poll <= 0 and not once:
        raise ConceptPatchError(f"--poll {poll:g}: a watcher needs more than 0 s between looks"
                                " at the glob: pass --poll 30, say (or --once)")
    stop = stop or threading.Event()
    where, reports = Path(store).resolve(), Path(report_root).resolve()
    suite, resolved = _start(suite_path, where, reports)
    job = _Job(suite, resolved, where, reports, inconclusive, stop, set())
    records: list[GateRecord] = []

    def found(record: GateRecord) -> None:
        records.append(record)
        if on_record is not None:
            on_record(record)

    _say(f"watching {suite.model.glob} for suite {suite.name!r} (store {where}, reports"
         f" {reports}; poll {poll:g} s, settle {settle:g} s)"
         + ("" if once else "; SIGINT or SIGTERM stops"))
    try:
        while not stop.is_set():
            checkpoints = suite_checkpoints(suite, missing_ok=True)
            if not checkpoints and "no match" not in job.noted:
                job.noted.add("no match")
                _say(f"no folder matches {suite.model.glob} yet")
            _sweep(job, checkpoints, settle, found)
            if once or stop.wait(poll):
                break
    except KeyboardInterrupt:
        stop.set()  # the unit in progress was abandoned (units are written atomically)
    bad = [r for r in records if r.status in ("failed", "error")]
    how = "stopped" if stop.is_set() else "done"
    if stop.is_set():
        print(flush=True)  # an interrupted gate leaves pytest's progress line unfinished
    _say(f"{how}: {len(records)} checkpoint(s) gated by this watcher, {len(bad)} failed"
         + (f" ({', '.join(r.checkpoint for r in bad)})" if bad else ""))
    return 1 if bad else 0

"""Interrupted runs lose nothing: a killed or stopped (SIGINT) run resumes to the same table.

The slow tests run `conceptpatch run` in subprocesses under a driver that logs each unit it
computes and writes, kill them at random moments, check the store holds only complete units,
resume, and compare with an uninterrupted run. The fast tests interrupt in-process.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _tiny import SUITE, kill, log_lines, start, suite_data, wait_for, write_suite
from conceptpatch import compute as run_module
from conceptpatch import results as results_module
from conceptpatch.config.suite import parse_suite
from conceptpatch.results import Store, load_store

#: Five units (one per setting) so kills land between and inside units.
ALL_SETTINGS = {"settings": ["seen", "target", "en_en", "self", "unpatched"]}


#: Every test here runs against the session's tiny-suite cache, on one torch thread.
pytestmark = pytest.mark.usefixtures("tiny_suite_env")


def _reference(tmp: Path, **sections) -> str:
    """The table of an uninterrupted in-process run, as CSV text."""
    suite = parse_suite(suite_data(**sections))
    run_module.run_suite(suite, tmp / "reference", progress=False)
    return load_store(tmp / "reference").to_csv()


def assert_only_complete_units(store: Path) -> list[str]:
    """Every visible unit is a readable parquet file; returns the stored units' names."""
    units = Store(store).units() if (store / "conceptpatch-store.json").exists() else []
    for path in units:
        pq.read_table(path)  # raises on a partial file
    return sorted(f"{p.parent.name} {p.stem}" for p in units)


def assert_no_temp_files(store: Path) -> None:
    left = [p for p in store.rglob("*") if p.name.endswith(".tmp")]
    assert not left, left


# --------------------------------------------------------------------------------- fast tier


def test_interrupted_write_then_resume_computes_only_the_missing(
    tmp_path, monkeypatch, tiny_suite_cache
):
    reference = _reference(tmp_path)
    suite = parse_suite(SUITE)
    store = tmp_path / "store"
    real_write = results_module.Store.write

    def interrupted(self, checkpoint, setting, frame, meta):
        if setting == "unpatched":
            raise KeyboardInterrupt  # Ctrl-C while the second unit is being written
        return real_write(self, checkpoint, setting, frame, meta)

    monkeypatch.setattr(results_module.Store, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_module.run_suite(suite, store, progress=False)
    monkeypatch.undo()
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tiny_suite_cache))  # undo() reset it
    assert assert_only_complete_units(store) == ["random-llama seen"]

    computed: list[str] = []
    real_unit = run_module.run_unit

    def counting(lm, resolved, setting, trials, progress=None):
        computed.append(setting)
        return real_unit(lm, resolved, setting, trials, progress)

    monkeypatch.setattr(run_module, "run_unit", counting)
    run_module.run_suite(suite, store, progress=False)
    assert computed == ["unpatched"]
    assert load_store(store).to_csv() == reference
    assert_no_temp_files(store)


def test_resume_removes_temp_files_a_killed_writer_left(tmp_path):
    suite = parse_suite(SUITE)
    store = Store(tmp_path / "store").open()
    folder = store.unit_path("random-llama", "seen").parent
    folder.mkdir(parents=True)
    (folder / ".seen.parquet.k1ll3d.tmp").write_bytes(b"PAR1 half a unit")
    assert load_store(store.root).empty  # the half unit is not read
    run_module.run_suite(suite, store.root, progress=False)
    assert_no_temp_files(store.root)
    assert len(load_store(store.root)) == len(
        run_module.run_suite(suite, store.root, progress=False)
    )


def test_cli_interrupt_says_how_to_resume(tmp_path, capsys, monkeypatch):
    from conceptpatch.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "run_suite", interrupted)
    suite = write_suite(tmp_path)
    code = main(["run", str(suite), "--store", str(tmp_path / "s"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 130
    assert "finished units are stored" in err
    assert f"run the same command again: conceptpatch run {suite} --store {tmp_path / 's'}" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------------- slow tier


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_same_table(tmp_path, tiny_suite_cache):
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)  # printed on failure via the assertion messages below
    reference = _reference(tmp_path, patch=ALL_SETTINGS)
    suite = write_suite(tmp_path, patch=ALL_SETTINGS)
    store, log = tmp_path / "store", tmp_path / "units.log"

    # Kill 1: shortly after the first unit is written (lands in the next unit or its write).
    proc = start(tmp_path, suite, store, tiny_suite_cache, log, slow=0.4)
    assert wait_for(log, "written", 1, proc), proc.communicate()
    time.sleep(rng.uniform(0.0, 0.5))
    code, err = kill(proc)
    assert code == -signal.SIGKILL, (seed, code, err)
    first = assert_only_complete_units(store)
    assert 1 <= len(first) < 5, (seed, first)

    # Kill 2: 0.5-3 s after the driver finished its imports (resolve, load or compute).
    proc = start(tmp_path, suite, store, tiny_suite_cache, log, slow=0.4)
    wait_for(log, "ready", 2, proc)
    time.sleep(rng.uniform(0.5, 3.0))
    code, err = kill(proc)
    before = assert_only_complete_units(store)
    assert set(first) <= set(before), seed

    # Resume: computes exactly the units that are missing, and nothing else.
    started = len(log_lines(log, "start"))
    proc = start(tmp_path, suite, store, tiny_suite_cache, log)
    code, err = proc.wait(timeout=300), proc.stderr.read()
    assert code == 0, (seed, err)
    resumed = sorted(log_lines(log, "start")[started:])
    expected = sorted(
        f"start random-llama {s}"
        for s in ALL_SETTINGS["settings"]
        if f"random-llama {s}" not in before
    )
    assert resumed == expected, (seed, before)
    assert load_store(store).to_csv() == reference, seed
    assert assert_only_complete_units(store) == [
        f"random-llama {s}" for s in sorted(ALL_SETTINGS["settings"])
    ]
    assert_no_temp_files(store)


@pytest.mark.slow
def test_sigint_stops_cleanly_with_a_resume_message(tmp_path, tiny_suite_cache):
    reference = _reference(tmp_path, patch=ALL_SETTINGS)
    suite = write_suite(tmp_path, patch=ALL_SETTINGS)
    store, log = tmp_path / "store", tmp_path / "units.log"
    # 2 s after each unit: four more units leave the SIGINT 8 s or more to land mid-run, also on
    # a loaded machine (with 0.5 s it once arrived after the last unit, beside other jobs)
    proc = start(tmp_path, suite, store, tiny_suite_cache, log, slow=2.0)
    assert wait_for(log, "written", 1, proc), proc.communicate()
    code, err = kill(proc, signal.SIGINT)
    assert code == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert "interrupted" in lines[-1] and "To resume, run the same command again" in lines[-1]
    assert f"conceptpatch run {suite} --store {store}" in lines[-1]
    assert_no_temp_files(store)
    done = assert_only_complete_units(store)
    assert 1 <= len(done) < 5

    proc = start(tmp_path, suite, store, tiny_suite_cache, log)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert load_store(store).to_csv() == reference
    assert_no_temp_files(store)

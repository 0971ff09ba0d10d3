"""Concurrent runs lose nothing: two processes on one store compute each unit once, no row lost."""

from __future__ import annotations

from collections import Counter

import pyarrow.parquet as pq
import pytest
from _tiny import SUITE, log_lines, start, suite_data, write_suite
from conceptpatch import compute as run_module
from conceptpatch.config.suite import parse_suite
from conceptpatch.results import Store, load_store

ALL_SETTINGS = {"settings": ["seen", "target", "en_en", "self", "unpatched"]}
KEYS = ["checkpoint", "setting", "layer", "trial"]


#: Every test here runs against the session's tiny-suite cache, on one torch thread.
pytestmark = pytest.mark.usefixtures("tiny_suite_env")


def test_a_unit_another_process_finished_meanwhile_is_not_recomputed(tmp_path, monkeypatch):
    """run_suite re-checks a unit inside its lock: here the 'other process' writes it first."""
    suite = parse_suite(SUITE)
    store = Store(tmp_path / "store").open()
    other = tmp_path / "other"
    run_module.run_suite(suite, other, progress=False)  # what the other process computed
    real_lock = Store.lock
    computed: list[str] = []
    real_unit = run_module.run_unit

    def lock_after_other_wrote(self, checkpoint, setting):
        source = Store(other).unit_path(checkpoint, setting)
        self.unit_path(checkpoint, setting).parent.mkdir(parents=True, exist_ok=True)
        self.unit_path(checkpoint, setting).write_bytes(source.read_bytes())
        return real_lock(self, checkpoint, setting)

    def counting(lm, resolved, setting, trials, progress=None):
        computed.append(setting)
        return real_unit(lm, resolved, setting, trials, progress)

    monkeypatch.setattr(Store, "lock", lock_after_other_wrote)
    monkeypatch.setattr(run_module, "run_unit", counting)
    table = run_module.run_suite(suite, store.root, progress=False)
    assert computed == []
    assert not table.duplicated(KEYS).any()
    assert table.to_csv() == load_store(other).to_csv()


@pytest.mark.slow
def test_two_processes_on_one_store_compute_each_unit_once(tmp_path, tiny_suite_cache):
    suite = write_suite(tmp_path, patch=ALL_SETTINGS)
    reference = run_module.run_suite(
        parse_suite(suite_data(patch=ALL_SETTINGS)), tmp_path / "r", progress=False
    )
    store, log = tmp_path / "store", tmp_path / "units.log"
    procs = [start(tmp_path, suite, store, tiny_suite_cache, log, slow=0.3) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    starts = Counter(log_lines(log, "start"))
    writes = Counter(log_lines(log, "written"))
    units = [f"random-llama {s}" for s in ALL_SETTINGS["settings"]]
    assert starts == Counter(f"start {u}" for u in units), starts  # each unit computed once
    assert writes == Counter(f"written {u}" for u in units), writes
    pids = {line.split(" ")[0] for line in log.read_text().splitlines() if " start " in line}
    table = load_store(store)
    assert not table.duplicated(KEYS).any()
    assert len(table) == len(reference)
    assert table.to_csv() == load_store(tmp_path / "r").to_csv()
    for path in Store(store).units():
        pq.read_table(path)
    assert not [p for p in store.rglob("*.tmp")]
    assert pids  # at least one process computed; usually both share the units

"""The results store: atomic units, temp files skipped and cleaned, version checks, no pickle."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conceptpatch.errors import StoreError
from conceptpatch.results import COLUMNS, SCHEMA_VERSION, Store, empty_table, load_store


def _unit(checkpoint: str = "c0", setting: str = "seen", n: int = 3) -> pd.DataFrame:
    rows = [
        {
            "checkpoint": checkpoint, "step": 0, "tokens": 0, "phase": 1, "layer": layer,
            "n_layers": 2, "position": "last", "setting": setting, "source_pairs": "de-en",
            "input_lang": "de", "output_lang": "fr", "output_seen": True, "concept": "dog",
            "target_concept": "cat", "trial": t, "output": '=cmd|" /C calc"!A0', "category": "copy",
            "p_concept": 0.5, "seed": 0, "suite_hash": "h1",
        }
        for layer in (0, 1)
        for t in range(n)
    ]  # fmt: skip
    return pd.DataFrame(rows)


META = {"suite_hash": "h1", "seed": 0, "versions": {"torch": "x"}}


def test_write_load_round_trip_with_metadata(tmp_path):
    store = Store(tmp_path / "s").open()
    store.write("c0", "seen", _unit(), META)
    table = store.load()
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 6
    assert store.unit_meta("c0", "seen") == META
    assert store.has("c0", "seen", "h1") and not store.has("c0", "seen", "h2")
    assert store.unit_meta("c0", "unpatched") is None


def test_empty_store_loads_typed_empty_table(tmp_path):
    table = load_store(Store(tmp_path / "s").open().root)
    assert table.empty and dict(table.dtypes.astype(str)) == dict(empty_table().dtypes.astype(str))


def test_load_skips_temp_files_a_killed_writer_left(tmp_path):
    store = Store(tmp_path / "s").open()
    path = store.write("c0", "seen", _unit(), META)
    half = path.parent / f".{path.name}.abc123.tmp"
    half.write_bytes(path.read_bytes()[:50])  # what a SIGKILL mid-write leaves
    (path.parent / ".hidden.parquet").write_bytes(b"PAR1 partial")
    assert len(store.load()) == 6
    assert store.units() == [path]


def test_lock_removes_the_units_stale_temp_files(tmp_path):
    store = Store(tmp_path / "s").open()
    path = store.unit_path("c0", "seen")
    path.parent.mkdir(parents=True)
    stale = path.parent / f".{path.name}.xyz.tmp"
    other = path.parent / ".unpatched.parquet.xyz.tmp"
    stale.write_bytes(b"half")
    other.write_bytes(b"half")
    with store.lock("c0", "seen"):
        assert not stale.exists()
        assert other.exists()  # another unit's temp: maybe being written by another process


def test_failed_write_leaves_no_temp_and_keeps_old_unit(tmp_path, monkeypatch):
    store = Store(tmp_path / "s").open()
    path = store.write("c0", "seen", _unit(n=1), META)
    before = path.read_bytes()

    def boom(src, dst):
        raise KeyboardInterrupt  # interrupted between fsync and rename

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        store.write("c0", "seen", _unit(n=3), META)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not list(path.parent.glob("*.tmp")) and not list(path.parent.glob(".*.tmp"))


def test_writes_fsync_before_rename(tmp_path, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b)))
    Store(tmp_path / "s").open().write("c0", "seen", _unit(), META)
    assert calls[-2:] == ["fsync", "replace"]


def test_unwritable_store_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="not writable"):
        Store(blocker / "store").open()
    with pytest.raises(StoreError, match="is a file"):
        Store(blocker).open()


def test_write_into_a_store_that_became_unwritable_is_a_store_error(tmp_path):
    store = Store(tmp_path / "s").open()
    (tmp_path / "s" / "c0").write_text("a file where the checkpoint folder goes")
    with pytest.raises(StoreError, match="writable"):
        store.write("c0", "seen", _unit(), META)
    with pytest.raises(StoreError, match="writable"), store.lock("c0", "seen"):
        pass


@pytest.mark.parametrize("marker", [{"schema_version": SCHEMA_VERSION + 1}, {}, "garbage"])
def test_incompatible_schema_version_is_refused(tmp_path, marker):
    root = tmp_path / "s"
    root.mkdir()
    text = marker if isinstance(marker, str) else json.dumps(marker)
    (root / "conceptpatch-store.json").write_text(text)
    with pytest.raises(StoreError, match=r"schema version|is damaged"):
        Store(root).open()
    with pytest.raises(StoreError, match="new --store"):
        load_store(root)


def test_a_missing_store_is_named_and_an_empty_folder_reads_empty(tmp_path):
    (tmp_path / "x").mkdir()
    assert load_store(tmp_path / "x").empty
    assert not (tmp_path / "x" / "conceptpatch-store.json").exists()  # reading writes nothing
    with pytest.raises(StoreError, match="does not exist"):
        load_store(tmp_path / "missing")


def test_corrupt_unit_is_named_on_load_and_counts_as_missing(tmp_path):
    store = Store(tmp_path / "s").open()
    path = store.write("c0", "seen", _unit(), META)
    path.write_bytes(b"not parquet at all")
    assert store.unit_meta("c0", "seen") is None  # so a run recomputes it
    with pytest.raises(StoreError, match="delete it"):
        store.load()


def test_store_holds_only_parquet_and_json(tmp_path):
    store = Store(tmp_path / "s").open()
    store.write("c0", "seen", _unit(), META)
    store.write("c 1/x", "unpatched", _unit("c 1/x", "unpatched"), META)
    kinds = {p.suffix for p in store.root.rglob("*") if p.is_file()}
    assert kinds <= {".parquet", ".json", ".lock"}  # .lock files are empty
    assert all(p.stat().st_size == 0 for p in store.root.rglob("*.lock"))
    for p in store.units():
        assert p.read_bytes()[:4] == b"PAR1"
        pq.read_table(p)  # readable without pickle


def test_lock_serialises_and_recheck_sees_the_other_writer(tmp_path):
    """Two threads race for one unit: one computes, the other finds it done inside the lock."""
    store = Store(tmp_path / "s").open()
    computed: list[str] = []

    def worker(name: str) -> None:
        with store.lock("c0", "seen"):
            if store.has("c0", "seen", "h1"):
                return
            computed.append(name)
            time.sleep(0.2)
            store.write("c0", "seen", _unit(), META)

    threads = [threading.Thread(target=worker, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(computed) == 1
    assert len(store.load()) == 6


def test_unit_paths_are_safe_for_odd_checkpoint_names(tmp_path):
    store = Store(tmp_path / "s")
    path = store.unit_path("../../etc/passwd", "seen")
    assert Path(tmp_path / "s") in path.parents


@pytest.mark.parametrize("name", ["..", ".", ".hidden", ""])
def test_dot_names_stay_inside_the_store_and_visible(tmp_path, name):
    store = Store(tmp_path / "s").open()
    path = store.write(name, "seen", _unit(name), META)
    assert path.parent.parent == store.root
    assert store.units() == [path]

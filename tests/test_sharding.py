"""Sharded runs: n shards of a suite write one store equal, row for row, to an unsharded compute."""

from __future__ import annotations

import pandas as pd
import pytest
from _tiny import write_suite
from conceptpatch import compute
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite
from conceptpatch.resolve import resolve
from conceptpatch.results import load_store

SETTINGS = {"settings": ["seen", "en_en", "unpatched"]}
KEYS = ["checkpoint", "setting", "layer", "trial"]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS, kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A store written by shards 0/2 and 1/2 (two CLI runs) and one written by a single compute."""
    tmp = tmp_path_factory.mktemp("sharding")
    suite = write_suite(tmp, patch=SETTINGS)
    merged, single = tmp / "merged", tmp / "single"
    for shard in ("0/2", "1/2"):
        assert main(["run", str(suite), "--store", str(merged), "--shard", shard, "--quiet"]) == 0
    assert main(["run", str(suite), "--store", f"file://{single}", "--quiet"]) == 0
    return suite, merged, single


def test_shards_partition_the_units_deterministically(tmp_path):
    suite = load_suite(write_suite(tmp_path, patch=SETTINGS))
    resolved = resolve(suite, build=False)
    every = [(u.checkpoint.name, u.setting) for u in compute.plan_units(resolved)]
    for n in (1, 2, 3, 5):
        shards = [
            [(u.checkpoint.name, u.setting) for u in compute.plan_units(resolved, shard=(i, n))]
            for i in range(n)
        ]
        again = [
            [(u.checkpoint.name, u.setting)
             for u in compute.plan_units(resolve(suite, False), None, s)]
            for s in ((i, n) for i in range(n))
        ]
        assert shards == again  # the same split in every process
        flat = [unit for shard in shards for unit in shard]
        assert sorted(flat) == sorted(every) and len(set(flat)) == len(flat)


def test_two_shards_merged_equal_one_run_row_for_row(stores):
    _, merged, single = stores
    a, b = _sorted(load_store(merged)), _sorted(load_store(single))
    assert len(a) > 0 and set(a["setting"]) == set(SETTINGS["settings"])
    pd.testing.assert_frame_equal(a, b)


def test_the_merged_store_is_complete_for_claims_and_report(stores, monkeypatch, tmp_path):
    suite, merged, single = stores

    def refuse(*args, **kwargs):
        raise AssertionError("a merged store needs no computation")

    monkeypatch.setattr(compute, "load_checkpoint", refuse)  # what `pytest claims/ --store` runs
    table = compute.run_suite(load_suite(suite), merged, progress=False)
    pd.testing.assert_frame_equal(_sorted(table), _sorted(load_store(single)))
    assert main(["report", str(merged), "--out", str(tmp_path / "report")]) == 0
    assert any((tmp_path / "report").iterdir())


def test_shard_out_of_range_is_one_line(tmp_path, capsys):
    suite = write_suite(tmp_path)
    assert main(["run", str(suite), "--store", str(tmp_path / "s"), "--shard", "2/2"]) == 2
    assert "out of range" in capsys.readouterr().err

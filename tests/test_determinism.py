"""Determinism: the same suite and seed give byte-identical tables on CPU, also after a resume;
each unit stores its seed, package versions and suite hash, and a changed suite is recomputed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _tiny import SUITE, suite_data, write_suite
from conceptpatch import compute as run_module
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite, parse_suite
from conceptpatch.errors import StoreError
from conceptpatch.results import Store, load_store

#: Every test here runs against the session's tiny-suite cache, on one torch thread.
pytestmark = pytest.mark.usefixtures("tiny_suite_env")


@pytest.fixture
def computed(monkeypatch) -> list[str]:
    """The settings of the units run_suite computes (not those it finds stored)."""
    seen: list[str] = []
    real = run_module.run_unit

    def counting(lm, resolved, setting, trials, progress=None):
        seen.append(setting)
        return real(lm, resolved, setting, trials, progress)

    monkeypatch.setattr(run_module, "run_unit", counting)
    return seen


def _unit_bytes(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in Store(store).units()}


def test_same_suite_and_seed_give_byte_identical_tables(tmp_path):
    suite = parse_suite(SUITE)
    first = run_module.run_suite(suite, tmp_path / "a", progress=False)
    second = run_module.run_suite(suite, tmp_path / "b", progress=False)
    assert len(first) == 2 * 3 * 3  # (2 layers + unpatched) x 2 trials x 3 output languages
    assert first.to_csv() == second.to_csv()
    assert load_store(tmp_path / "a").to_csv() == load_store(tmp_path / "b").to_csv()
    assert _unit_bytes(tmp_path / "a") == _unit_bytes(tmp_path / "b")  # parquet files too
    timings = Store(tmp_path / "a").timings()  # wall time beside the units, not in them
    assert sorted(t["setting"] for t in timings) == ["seen", "unpatched"]
    assert all(float(t["seconds"]) > 0 and t["device"] == "cpu" for t in timings)


def test_identical_after_resume(tmp_path, computed):
    suite = parse_suite(SUITE)
    whole = run_module.run_suite(suite, tmp_path / "a", progress=False)
    Store(tmp_path / "a").unit_path("random-llama", "seen").unlink()
    computed.clear()
    resumed = run_module.run_suite(suite, tmp_path / "a", progress=False)
    assert computed == ["seen"]
    assert resumed.to_csv() == whole.to_csv()


def test_a_different_seed_gives_a_different_table(tmp_path):
    a = run_module.run_suite(parse_suite(SUITE), tmp_path / "a", progress=False)
    b = parse_suite(suite_data(seed=1))
    assert b.settings_hash() != parse_suite(SUITE).settings_hash()
    assert (b.seed, a["seed"].unique().tolist()) == (1, [0])


def test_each_unit_stores_seed_versions_and_suite_hash(tmp_path):
    suite = parse_suite(SUITE)
    run_module.run_suite(suite, tmp_path / "a", progress=False)
    store = Store(tmp_path / "a")
    for setting in suite.settings:
        meta = store.unit_meta("random-llama", setting)
        assert meta["suite_hash"] == suite.settings_hash()
        assert meta["seed"] == suite.seed
        assert set(meta["versions"]) >= {"conceptpatch", "torch", "transformers", "tokenizers"}
        assert meta["versions"]["torch"] == torch.__version__.split("+")[0] or meta["versions"][
            "torch"
        ].startswith(torch.__version__.split("+")[0])
    table = load_store(tmp_path / "a")
    assert set(table["suite_hash"]) == {suite.settings_hash()} and set(table["seed"]) == {0}


def test_a_changed_suite_is_refused_then_replaced_only_when_asked(tmp_path, computed):
    path = write_suite(tmp_path)
    store = tmp_path / "store"
    old_hash = load_suite(path).settings_hash()
    old = run_module.run_suite(load_suite(path), store, progress=False)
    assert sorted(computed) == ["seen", "unpatched"]
    computed.clear()
    run_module.run_suite(load_suite(path), store, progress=False)
    assert computed == []  # unchanged suite: nothing recomputed

    edited = write_suite(tmp_path, name="edited.toml", patch={"max_new_tokens": 5})
    new_suite = load_suite(edited)
    assert new_suite.settings_hash() != old_hash
    with pytest.raises(StoreError, match=r"another design .*max_new_tokens 3 -> 5.*--replace"):
        run_module.run_suite(new_suite, store, progress=False)
    assert computed == [] and len(load_store(store)) == len(old)  # nothing replaced
    new = run_module.run_suite(new_suite, store, progress=False, replace=True)
    assert sorted(computed) == ["seen", "unpatched"]  # every unit of the old hash recomputed
    table = load_store(store)
    assert set(table["suite_hash"]) == {new_suite.settings_hash()}  # none of the old rows left
    assert len(table) == len(new) == len(old)
    keys = ["checkpoint", "setting", "layer", "trial"]
    assert not table.duplicated(keys).any()


def test_cosmetic_edits_keep_stored_units(tmp_path, computed):
    path = write_suite(tmp_path)
    run_module.run_suite(load_suite(path), tmp_path / "store", progress=False)
    computed.clear()
    renamed = write_suite(tmp_path, name="renamed.toml", description="only words changed")
    run_module.run_suite(load_suite(renamed), tmp_path / "store", progress=False)
    assert computed == []


def test_cli_rerun_into_the_same_store_is_identical(tmp_path, capsys):
    suite = write_suite(tmp_path)
    store = tmp_path / "store"
    assert main(["run", str(suite), "--store", str(store), "--quiet"]) == 0
    before = _unit_bytes(store)
    assert main(["run", str(suite), "--store", str(store), "--quiet"]) == 0
    assert _unit_bytes(store) == before
    assert "18 rows in store" in capsys.readouterr().out

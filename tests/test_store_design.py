"""A store belongs to one design: nothing replaced or mixed without being asked.

The scenarios of issue 27 as a user meets them: overrides and other suites pointed at a finished
store, colliding checkpoint names, a damaged unit, verdicts of another suite, the gate from the
store alone. Each is refused with one line naming the fix, or kept apart; row counts are compared
before and after.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _tiny import distinct_copy, dump_toml, suite_data, write_suite
from conceptpatch import compute as run_module
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite
from conceptpatch.errors import StoreError, SuiteError
from conceptpatch.resolve import resolve
from conceptpatch.results import Store, StoreDesign, colliding, load_store, unit_folder
from hypothesis import given
from hypothesis import strategies as st

from conftest import TINY_WORDS, write_long_csv


def _suite_file(folder: Path, **sections: object) -> Path:
    """`_tiny.SUITE` with ``sections`` merged in; a None value removes its key."""
    data = suite_data(**sections)
    for table in data.values():
        if isinstance(table, dict):
            for key in [k for k, v in table.items() if v is None]:
                del table[key]
    path = folder / "suite.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def finished(tmp_path: Path, tiny_suite_env: Path) -> tuple[Path, Path, int]:
    """The tiny suite computed into a store: (suite file, store, rows)."""
    path = write_suite(tmp_path)
    store = tmp_path / "store"
    table = run_module.run_suite(load_suite(path), store, progress=False)
    return path, store, len(table)


def test_an_override_never_replaces_a_finished_store(finished, capsys):
    path, store, rows = finished
    assert main(["run", str(path), "--store", str(store), "--trials", "1", "--quiet"]) == 2
    err = _one_line_error(capsys)
    assert "another design" in err and "trials 2 -> 1" in err and "--replace" in err
    assert len(load_store(store)) == rows  # nothing replaced


def test_the_same_overrides_on_claims_read_what_run_computed(tmp_path, tiny_suite_env, capsys):
    path, store = write_suite(tmp_path), tmp_path / "store"
    assert main(["run", str(path), "--store", str(store), "--trials", "1", "--layers", "1",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["claims", str(path), "--store", str(store), "--no-compute"]) == 2
    assert "another design" in _one_line_error(capsys)
    code = main(["claims", str(path), "--store", str(store), "--no-compute", "--trials", "1",
                 "--layers", "1", "--report", str(tmp_path / "rep"), "--", "-q"])
    assert code == 0
    records = json.loads((tmp_path / "rep" / "verdicts.json").read_text())
    assert records and {r["suite_hash"] for r in records} == set(load_store(store)["suite_hash"])


def test_another_suite_is_refused_and_replace_deletes_only_when_asked(finished, tmp_path,
                                                                        capsys):
    _, store, rows = finished
    other = write_suite(tmp_path, name="other.toml", seed=7)
    assert main(["run", str(other), "--store", str(store), "--quiet"]) == 2
    assert "seed 0 -> 7" in _one_line_error(capsys)
    assert len(load_store(store)) == rows and set(load_store(store)["seed"]) == {0}
    assert main(["claims", str(other), "--store", str(store), "--no-compute"]) == 2
    assert "another design" in _one_line_error(capsys)
    assert main(["run", str(other), "--store", str(store), "--quiet", "--replace"]) == 0
    assert set(load_store(store)["seed"]) == {7}
    assert Store(store).design() == StoreDesign.of(load_suite(other))


def test_check_and_dry_run_flag_a_store_of_another_design_and_write_nothing(finished, tmp_path,
                                                                              capsys):
    _, store, _ = finished
    other = write_suite(tmp_path, name="other.toml", seed=3)
    before = sorted(p.name for p in store.rglob("*"))
    assert main(["check", str(other), "--store", str(store)]) == 2
    assert "another design" in capsys.readouterr().err
    assert main(["run", str(other), "--store", str(store), "--dry-run"]) == 2
    assert "another design" in _one_line_error(capsys)
    assert sorted(p.name for p in store.rglob("*")) == before


def test_report_refuses_verdicts_of_another_design(finished, tmp_path, capsys):
    _, store, _ = finished
    verdicts = tmp_path / "verdicts.json"
    verdicts.write_text(json.dumps([{"claim_id": "concept_induction", "case": "seen-fr",
                                     "verdict": "supported", "suite_hash": "0123456789abcdef"}]))
    assert main(["report", str(store), "--out", str(tmp_path / "r"),
                 "--verdicts", str(verdicts)]) == 2
    assert "was decided on design 0123456789abcdef" in _one_line_error(capsys)


def test_a_store_of_mixed_designs_from_before_binding_is_refused_not_mixed(finished, tmp_path):
    _, store, _ = finished
    unit = Store(store).units()[0]
    table = pq.read_table(unit)
    meta = json.loads(table.schema.metadata[b"conceptpatch"])
    frame = table.to_pandas().assign(suite_hash="ffffffffffffffff")
    other = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
        {b"conceptpatch": json.dumps({**meta, "suite_hash": "ffffffffffffffff"}).encode()})
    pq.write_table(other, unit)
    (store / "conceptpatch-store.json").write_text('{"schema_version": 1}')
    with pytest.raises(StoreError, match="units of 2 designs"):
        load_store(store)


def test_a_damaged_category_is_named_with_the_fix(finished):
    _, store, _ = finished
    unit = Store(store).units()[0]
    table = pq.read_table(unit)
    frame = table.to_pandas()
    frame.loc[0, "category"] = "tnrelated"  # one flipped bit of "unrelated"
    damaged = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
        table.schema.metadata)
    pq.write_table(damaged, unit)
    with pytest.raises(StoreError, match=r"damaged \(category 'tnrelated' is not one of.*delete"):
        load_store(store)


@given(st.lists(st.text(min_size=1, max_size=20), min_size=2, max_size=6, unique=True))
def test_unit_folders_are_distinct_single_components(names):
    folders = [unit_folder(n) for n in names]
    assert len(set(folders)) == len(folders)
    for folder in folders:
        assert "/" not in folder and folder not in (".", "..") and not folder.startswith(".")


def test_names_that_used_to_collide_get_their_own_units(tmp_path, tiny_dirs, capsys):
    lexicon = write_long_csv(tmp_path / "lex.csv", TINY_WORDS)
    names = ["早期", "后期", "step 1", "step_1"]
    checkpoints = [{"name": n, "path": str(tiny_dirs["llama"]), "step": i}
                   for i, n in enumerate(names)]
    path = _suite_file(tmp_path, model={"checkpoints": checkpoints, "random": None},
                       lexicon={"path": str(lexicon), "format": "long_csv", "builtin": None},
                       languages={"seen": ["en", "fr", "de"]}, sample={"trials": 1},
                       patch={"layers": [1], "settings": ["unpatched"]})
    table = run_module.run_suite(load_suite(path), tmp_path / "store", progress=False)
    assert sorted(set(table["checkpoint"])) == sorted(names)
    assert len(Store(tmp_path / "store").units()) == 4
    assert colliding(["S1", "s1"]) == [("S1", "s1")]


def test_names_that_differ_only_in_case_are_refused(tmp_path, tiny_dirs, capsys):
    lexicon = write_long_csv(tmp_path / "lex.csv", TINY_WORDS)
    checkpoints = [{"name": n, "path": str(tiny_dirs["llama"]), "step": i}
                   for i, n in enumerate(["S1", "s1"])]
    path = _suite_file(tmp_path, model={"checkpoints": checkpoints, "random": None},
                       lexicon={"path": str(lexicon), "format": "long_csv", "builtin": None})
    with pytest.raises(SuiteError, match="differ only in case"):
        run_module.plan_units(resolve(load_suite(path)))
    assert main(["check", str(path)]) == 2
    assert "differ only in case" in _one_line_error(capsys)


def test_the_gate_reads_only_its_window_and_knows_glob_checkpoints_from_the_store(
        tmp_path, tiny_dirs, capsys):
    lexicon = write_long_csv(tmp_path / "lex.csv", TINY_WORDS)
    ckpts = tmp_path / "ckpts"
    for step in (100, 200, 300, 400):
        distinct_copy(tiny_dirs["llama"], ckpts / f"iter_{step:07d}", step)
    path = _suite_file(tmp_path, model={"glob": str(ckpts / "iter_*"), "random": None,
                                        "step_pattern": r"iter_(\d+)"},
                       lexicon={"path": str(lexicon), "format": "long_csv", "builtin": None},
                       sample={"trials": 1}, patch={"layers": [1]},
                       claims={"gate_window": 1})
    store = tmp_path / "store"
    assert main(["run", str(path), "--store", str(store), "--quiet"]) == 0
    shutil.rmtree(store / "iter_0000100")  # outside the window of iter_0000300: not needed
    capsys.readouterr()
    gate = ["claims", str(path), "--store", str(store), "--no-compute",
            "--new-checkpoint", "iter_0000300", "--report", str(tmp_path / "gate")]
    assert main(gate) in (0, 1), capsys.readouterr()
    shutil.rmtree(ckpts)  # the CPU gate job has the store, not the checkpoints
    assert main(gate) in (0, 1), capsys.readouterr()
    records = json.loads((tmp_path / "gate" / "verdicts.json").read_text())
    assert {r["claim_id"] for r in records} == {"regression"}
    assert all(r["evidence"].get("new") in (None, "iter_0000300") for r in records)
    assert pd.Series([c["name"] for c in Store(store).checkpoints(
        load_suite(path).settings_hash())]).tolist() == ["iter_0000200", "iter_0000300",
                                                          "iter_0000400"]


def test_files_that_are_not_units_are_listed_never_read(finished, capsys):
    """A user's notes in a store (a stray parquet, a text file) are neither units nor errors."""
    path, store, rows = finished
    (store / "notes").mkdir()
    pd.DataFrame({"x": [1]}).to_parquet(store / "notes" / "summary.parquet")
    (store / "README.txt").write_text("my notes")
    assert len(load_store(store)) == rows
    assert main(["check", str(path), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "not conceptpatch's, ignored: 2 file(s)" in out and "notes/summary.parquet" in out
    assert main(["claims", str(path), "--store", str(store), "--no-compute", "--report",
                 str(store.parent / "rep")]) == 0
    assert (store / "notes" / "summary.parquet").exists()  # never deleted

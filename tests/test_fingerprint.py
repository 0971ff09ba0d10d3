"""Weight fingerprints: two checkpoints serving one set of weights, and weights rewritten after
their units were computed, are caught by `check --store`, `claims` and the report."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from _tiny import distinct_copy, dump_toml, suite_data
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite
from conceptpatch.fingerprint import fingerprint, weight_problems
from conceptpatch.results import Store
from conceptpatch.sources.checkpoint import Checkpoint

from conftest import TINY_WORDS, write_long_csv


def _glob_suite(tmp_path: Path, ckpts: Path) -> Path:
    lexicon = write_long_csv(tmp_path / "lex.csv", TINY_WORDS)
    data = suite_data(model={"glob": str(ckpts / "iter_*"), "step_pattern": r"iter_(\d+)"},
                      lexicon={"path": str(lexicon), "format": "long_csv"},
                      sample={"trials": 1}, patch={"layers": [1]})
    del data["model"]["random"], data["lexicon"]["builtin"]
    path = tmp_path / "suite.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def test_a_fingerprint_is_the_weights_not_the_file_names(tmp_path, tiny_dirs, tiny_suite_env):
    a = distinct_copy(tiny_dirs["llama"], tmp_path / "a", 0)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / "model.safetensors").rename(b / "model-00001-of-00001.safetensors")
    c = distinct_copy(tiny_dirs["llama"], tmp_path / "c", 1)
    prints = [fingerprint(Checkpoint(p.name, path=str(p))) for p in (a, b, c)]
    assert prints[0] == prints[1] != prints[2]
    one = hashlib.sha256((a / "model.safetensors").read_bytes()).hexdigest()
    assert prints[0] == hashlib.sha256(one.encode()).hexdigest()
    assert fingerprint(Checkpoint("gone", path=str(tmp_path / "gone"))) is None


def test_a_hub_cache_blob_is_taken_by_its_name(tmp_path, tiny_suite_env):
    """A Hugging Face snapshot file links to blobs/<sha256>: that name is the hash, unread."""
    blob = tmp_path / "blobs" / ("ab" * 32)
    blob.parent.mkdir()
    blob.write_bytes(b"not the bytes the name says")
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "model.safetensors").symlink_to(blob)
    got = fingerprint(Checkpoint("hub", path=str(snapshot)))
    assert got == hashlib.sha256(("ab" * 32).encode()).hexdigest()


def test_problems_identical_mixed_and_changed(tmp_path, tiny_dirs, tiny_suite_env):
    a = distinct_copy(tiny_dirs["llama"], tmp_path / "a", 0)
    now = fingerprint(Checkpoint("a", path=str(a)))
    assert weight_problems({"a": [now], "b": ["f" * 64]}) == []
    identical = weight_problems({"a": ["1" * 64], "b": ["1" * 64], "c": ["2" * 64]})
    assert len(identical) == 1 and "'a', 'b' have identical weights" in identical[0]
    mixed = weight_problems({"a": ["1" * 64, "2" * 64]})
    assert len(mixed) == 1 and "different weights" in mixed[0]
    changed = weight_problems({"a": ["1" * 64]}, [Checkpoint("a", path=str(a))])
    assert len(changed) == 1 and f"111111111111 -> {now[:12]}" in changed[0]
    assert weight_problems({"a": [now]}, [Checkpoint("a", path=str(a))]) == []


@pytest.fixture
def glob_run(tmp_path, tiny_dirs, tiny_suite_env, capsys):
    """A glob suite of three checkpoints computed into a store: (suite, store, checkpoints)."""
    ckpts = tmp_path / "ckpts"
    for step in (100, 200, 300):
        distinct_copy(tiny_dirs["llama"], ckpts / f"iter_{step:04d}", step)
    path = _glob_suite(tmp_path, ckpts)
    store = tmp_path / "store"
    assert main(["run", str(path), "--store", str(store), "--quiet"]) == 0
    capsys.readouterr()
    return path, store, ckpts


def _claims(path: Path, store: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["claims", str(path), "--store", str(store), "--no-compute",
            "--report", str(tmp_path / "report"), *extra]


def test_units_record_the_weights_and_an_untouched_run_passes(glob_run, tmp_path, capsys):
    path, store, ckpts = glob_run
    recorded = Store(store).fingerprints(load_suite(path).settings_hash())
    assert set(recorded) == {"iter_0100", "iter_0200", "iter_0300"}
    for name, digests in recorded.items():
        assert set(digests) == {fingerprint(Checkpoint(name, path=str(ckpts / name)))}
    assert main(["check", str(path), "--store", str(store)]) == 0
    assert "weights:" not in capsys.readouterr().err
    assert main(_claims(path, store, tmp_path)) in (0, 1)


def test_identical_weights_are_refused_by_claims_and_named_by_check_and_report(
        glob_run, tmp_path, capsys):
    path, store, ckpts = glob_run
    shutil.rmtree(ckpts / "iter_0300")
    shutil.copytree(ckpts / "iter_0200", ckpts / "iter_0300")  # a step serving another's weights
    shutil.rmtree(store / "iter_0300")
    assert main(["run", str(path), "--store", str(store), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["check", str(path), "--store", str(store)]) == 0
    err = capsys.readouterr().err
    assert "'iter_0200', 'iter_0300' have identical weights" in err
    assert main(_claims(path, store, tmp_path)) == 2
    out = capsys.readouterr()
    assert "'iter_0200', 'iter_0300' have identical weights" in out.out + out.err
    assert not (tmp_path / "report" / "verdicts.json").exists()
    computing = [a for a in _claims(path, store, tmp_path) if a != "--no-compute"]
    assert main(computing) == 2  # the same refusal when claims compute (nothing was missing)
    assert "have identical weights" in "".join(capsys.readouterr())
    assert main(["report", str(store), "--out", str(tmp_path / "page")]) == 0
    page = (tmp_path / "page" / "index.html").read_text(encoding="utf-8")
    assert "Checkpoint weights" in page and "have identical weights" in page


def test_weights_changed_since_computed_are_refused_until_recomputed(glob_run, tmp_path, capsys):
    path, store, ckpts = glob_run
    shutil.rmtree(ckpts / "iter_0200")
    distinct_copy(tmp_path / "ckpts" / "iter_0100", ckpts / "iter_0200", 7)  # rewritten
    assert main(_claims(path, store, tmp_path)) == 2
    out = capsys.readouterr()
    assert "'iter_0200': its weights changed since its units were computed" in out.out + out.err
    assert main(["check", str(path), "--store", str(store)]) == 0
    assert "weights changed" in capsys.readouterr().err
    shutil.rmtree(store / "iter_0200")  # the fix the message names
    assert main(["run", str(path), "--store", str(store), "--quiet"]) == 0
    assert main(_claims(path, store, tmp_path)) in (0, 1)
    records = json.loads((tmp_path / "report" / "verdicts.json").read_text())
    assert records

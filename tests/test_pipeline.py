"""The first run of an organism suite trains and computes at once, with a serial run's results.

`conceptpatch.train_and_compute.train_and_run` trains the organism in a second process and computes
each checkpoint's units as it is written, then the rest in two processes. Checked on the ``tiny``
organism against training first and computing after (`conceptpatch.compute.run_suite`): the same
store, byte for byte, and the same organism (every file but the manifest's training time).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from conceptpatch import compute, train_and_compute
from conceptpatch.config.suite import parse_suite
from conceptpatch.files import file_mode
from conceptpatch.organism import claim_training, organism_dir
from conceptpatch.paths import ENV_CACHE

SUITE = {
    "name": "tiny-organism", "seed": 0, "model": {"organism": "tiny", "device": "cpu"},
    "prompt": {"k": 2}, "patch": {"settings": ["tgt", "en_en", "unpatched"],
                                  "max_new_tokens": 3},
    "sample": {"trials": 3},
}  # fmt: skip


def _files(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix == ".lock" or path.name.endswith(".timing.json"):
            continue  # a unit's wall time differs between runs by nature
        data = path.read_bytes()
        if path.name == "manifest.json":
            manifest = json.loads(data)
            manifest.pop("train_seconds")
            data = json.dumps(manifest, sort_keys=True).encode()
        out[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


@pytest.mark.slow
def test_pipelined_first_run_equals_a_serial_one(tmp_path: Path, monkeypatch) -> None:
    suite = parse_suite(SUITE)
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "serial-cache"))
    assert train_and_compute.needs_training(suite)
    torch.set_num_threads(2)  # a serial run on a 2-core machine: the organism still gets one
    serial = compute.run_suite(suite, tmp_path / "serial", progress=False)
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "pipe-cache"))
    assert train_and_compute.needs_training(suite)
    # the tiny organism trains on too few tokens to overlap: the serial way
    assert not train_and_compute.train_and_run(suite, tmp_path / "pipe", progress=False)
    assert train_and_compute.train_and_run(suite, tmp_path / "pipe", progress=False, min_tokens=0)
    assert not train_and_compute.needs_training(suite)
    units = _files(tmp_path / "serial")
    assert len([u for u in units if u.endswith(".parquet")]) == 3 * len(serial["checkpoint"]
                                                                         .unique())
    assert _files(tmp_path / "pipe") == units
    assert _files(tmp_path / "pipe-cache" / "organism") == \
        _files(tmp_path / "serial-cache" / "organism")
    weights = list((tmp_path / "pipe-cache").rglob("model.safetensors"))  # written 0600
    assert weights and {p.stat().st_mode & 0o777 for p in weights} == {file_mode()}
    again = train_and_compute.run_pipelined(suite, tmp_path / "pipe", progress=False)  # all cached
    assert again.equals(serial)
    leftovers = [p.name for p in (tmp_path / "pipe-cache" / "organism").iterdir()
                 if p.name.startswith(".")]
    assert leftovers == []


def test_the_runner_never_imports_the_pipeline() -> None:
    """The dependency runs one way: the pipeline calls the runner, never the reverse."""
    import subprocess
    import sys

    code = ("import sys, conceptpatch.compute;"
            " print('conceptpatch.train_and_compute' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_claim_training_is_exclusive_and_cleans_up(tmp_path: Path) -> None:
    with claim_training("tiny", 0, root=tmp_path) as first:
        assert first is not None and first.is_dir()
        with claim_training("tiny", 0, root=tmp_path) as second:
            assert second is None  # another holder trains it
    assert not first.exists()  # no manifest: never published
    assert not organism_dir("tiny", 0, tmp_path).exists()


def test_suites_without_an_organism_are_left_to_the_serial_path(tmp_path: Path) -> None:
    random = parse_suite({"name": "r", "model": {"random": "llama"},
                          "lexicon": {"builtin": "cldr"}, "languages": {"seen": ["en", "fr"]}})
    assert not train_and_compute.needs_training(random)
    assert not train_and_compute.train_and_run(random, tmp_path / "store", progress=False)


def test_the_child_entry_point_names_its_usage() -> None:
    with pytest.raises(SystemExit, match=r"usage: python -m conceptpatch\.train_and_compute train"):
        train_and_compute.main(["bogus"])


def test_a_failed_training_is_one_line_naming_the_fix(tmp_path: Path, monkeypatch) -> None:
    import subprocess
    import sys

    def failing(*args: str, stdin: bytes | None = None) -> subprocess.Popen:
        event = json.dumps(["error", "Traceback (most recent call last):\nValueError: boom\n"])
        return subprocess.Popen([sys.executable, "-c", f"print({event!r})"],
                                stdout=subprocess.PIPE, text=True)

    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setattr(train_and_compute, "_child", failing)
    suite = parse_suite(SUITE)
    with pytest.raises(train_and_compute.OrganismTrainingError) as err:
        train_and_compute.train_and_run(suite, tmp_path / "store", progress=False, min_tokens=0)
    message = str(err.value)
    assert "\n" not in message
    assert "ValueError: boom" in message
    assert "conceptpatch organism train --variant tiny --seed 0" in message
    root = tmp_path / "cache" / "organism"
    assert [p.name for p in root.iterdir() if not p.name.endswith(".lock")] == []
    with claim_training("tiny", 0) as again:  # the lock was released
        assert again is not None


def test_organism_suites_compute_with_one_thread_on_any_machine() -> None:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with compute.organism_threads(parse_suite(SUITE)):
            assert torch.get_num_threads() == compute.ORGANISM_THREADS == 1
        assert torch.get_num_threads() == 2
        random = parse_suite({"name": "r", "model": {"random": "llama"},
                              "lexicon": {"builtin": "cldr"}, "languages": {"seen": ["en"]}})
        with compute.organism_threads(random):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)

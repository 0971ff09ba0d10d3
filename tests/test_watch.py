"""``conceptpatch watch``: checkpoints that appear while it runs, computed and gated once each.

The completeness rules of `conceptpatch.watch.incomplete` on hand-made folders; then watchers in
subprocesses (under a driver that logs each unit computed) fed tiny checkpoints one by one: a
half-written one is not read until it is whole, each checkpoint is computed and gated exactly
once, two watchers on one store share the work, and SIGTERM stops a watcher mid-unit with exit
0 and no partial file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from _tiny import dump_toml, env, log_lines, suite_data
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite
from conceptpatch.sources.random import build_tiny
from conceptpatch.watch import incomplete
from safetensors.torch import load_file, save

from conftest import TINY_WORDS, write_long_csv

#: Runs the CLI, logging each unit started and written to $CP_LOG; the unit of checkpoint
#: $CP_HOLD never finishes (a signal has to stop it mid-unit).
DRIVER = """
import os, sys, time
import torch
torch.set_num_threads(1)
import conceptpatch.results as results
import conceptpatch.compute as run

LOG, HOLD = os.environ["CP_LOG"], os.environ.get("CP_HOLD", "")


def log(message):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {message}\\n")


unit, write = run.run_unit, results.Store.write


def run_unit(lm, resolved, setting, *args, **kwargs):
    log(f"start {lm.checkpoint.name} {setting}")
    while lm.checkpoint.name == HOLD:
        time.sleep(0.05)
    return unit(lm, resolved, setting, *args, **kwargs)


def store_write(self, checkpoint, setting, *args, **kwargs):
    path = write(self, checkpoint, setting, *args, **kwargs)
    log(f"written {checkpoint} {setting}")
    return path


run.run_unit, results.Store.write = run_unit, store_write
from conceptpatch.cli import main

sys.exit(main(sys.argv[1:]))
"""


# --- completeness ---------------------------------------------------------------------------

def _weights(scale: float = 1.0) -> bytes:
    """A small safetensors file's bytes (two tensors)."""
    return save({"a": torch.full((4, 4), scale), "b": torch.arange(6.0)}, {"format": "pt"})


def _folder(root: Path, name: str = "iter_0000100") -> Path:
    """A complete-looking checkpoint folder: config.json and whole weights, old files."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(_weights())
    return folder


def test_a_whole_folder_is_complete_and_each_missing_piece_is_named(tmp_path):
    folder = _folder(tmp_path)
    assert incomplete(folder, settle=0) is None
    (folder / "config.json").unlink()
    assert "config.json" in incomplete(folder, settle=0)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").unlink()
    (folder / "training_args.bin").write_bytes(b"x")  # a trainer's file, not weights
    assert "no weight file" in incomplete(folder, settle=0)
    (folder / "pytorch_model.bin").write_bytes(b"x")
    assert incomplete(folder, settle=0) is None
    assert "not a folder" in incomplete(tmp_path / "absent", settle=0)


@pytest.mark.parametrize("cut", [3, 8, 20, -1])
def test_a_truncated_safetensors_file_is_not_complete(tmp_path, cut):
    folder = _folder(tmp_path)
    data = _weights()
    (folder / "model.safetensors").write_bytes(data[:cut])
    why = incomplete(folder, settle=0)
    assert why is not None and "model.safetensors" in why and "being written" in why
    (folder / "model.safetensors").write_bytes(data + b"\0")  # longer than declared
    assert "trailing bytes" in incomplete(folder, settle=0)
    (folder / "model.safetensors").write_bytes(data)
    assert incomplete(folder, settle=0) is None


def test_a_sharded_checkpoint_waits_for_every_shard_its_index_names(tmp_path):
    folder = _folder(tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors",
                            "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text('{"weight_map": {"a": ')
    assert "index.json" in incomplete(folder, settle=0)
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    why = incomplete(folder, settle=0)
    assert "1 of 2 shards" in why and "model-00002-of-00002.safetensors" in why
    (folder / "model-00002-of-00002.safetensors").write_bytes(_weights(2.0)[:30])
    assert "model-00002-of-00002.safetensors" in incomplete(folder, settle=0)
    (folder / "model-00002-of-00002.safetensors").write_bytes(_weights(2.0))
    assert incomplete(folder, settle=0) is None


@pytest.mark.parametrize("name", [".model.safetensors.x1y2.tmp", "model.safetensors.partial",
                                  "tokenizer.json.incomplete", ".hidden",
                                  ".cache/huggingface/download/model.safetensors.incomplete",
                                  ".staging/model.safetensors"])
def test_temp_files_mean_a_writer_is_at_work(tmp_path, name):
    folder = _folder(tmp_path)
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"")
    assert "temp file" in incomplete(folder, settle=0)


def test_a_hub_clones_hidden_files_and_a_temp_folder_name(tmp_path):
    folder = _folder(tmp_path)
    (folder / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    (folder / ".cache/huggingface/download").mkdir(parents=True)
    (folder / ".cache/huggingface/download/model.safetensors.metadata").write_text("x")
    assert incomplete(folder, settle=0) is None
    for name in (".iter_0000200", "iter_0000200.tmp"):
        assert "temporary" in incomplete(_folder(tmp_path, name), settle=0)


def test_fresh_files_wait_for_the_settle_time(tmp_path):
    folder = _folder(tmp_path)
    now = time.time()
    why = incomplete(folder, settle=30, now=now)
    assert why is not None and "settle time 30 s" in why
    for path in [*folder.iterdir(), folder]:
        os.utime(path, (now - 60, now - 60))
    assert incomplete(folder, settle=30, now=now) is None
    os.utime(folder / "config.json", (now - 5, now - 5))  # one file touched again
    assert "modified 5 s ago" in incomplete(folder, settle=30, now=now)
    assert incomplete(folder, settle=0, now=now) is None


def test_the_command_refuses_a_suite_without_a_glob_and_bad_seconds(tmp_path, capsys):
    from _tiny import write_suite

    path = write_suite(tmp_path)  # the tiny random suite: no model.glob
    assert main(["watch", str(path), "--store", str(tmp_path / "s"), "--report",
                 str(tmp_path / "r"), "--once"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.glob" in err and "conceptpatch run" in err
    with pytest.raises(SystemExit) as bad:
        main(["watch", str(path), "--store", "s", "--report", "r", "--poll", "soon"])
    assert bad.value.code == 2 and "number of seconds" in capsys.readouterr().err
    assert main(["watch", str(path), "--store", "s", "--report", "r", "--poll", "0"]) == 2
    assert "--poll 0" in capsys.readouterr().err
    from _tiny import dump_toml, suite_data

    data = suite_data(model={"glob": str(tmp_path / "ckpts" / "step_*")},
                      patch={"settings": ["tgt", "unpatched"]})
    del data["model"]["random"]
    gateless = tmp_path / "gateless.toml"
    gateless.write_text(dump_toml(data), encoding="utf-8")
    assert main(["watch", str(gateless), "--store", str(tmp_path / "s"), "--report",
                 str(tmp_path / "r"), "--once"]) == 2  # no source setting: the gate has no case
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "add one to [patch] settings" in err, err
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


# --- watchers -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_lexicon) -> Path:
    """One tiny llama checkpoint folder (2 layers, hidden 32)."""
    root = tmp_path_factory.mktemp("watch-model")
    return build_tiny("llama", tiny_lexicon, root / "llama", layers=2, hidden=32, seed=1)


def _suite(folder: Path) -> Path:
    """A glob suite over ``folder/iter_*`` (one seen setting, one layer, gate window 1)."""
    lexicon = write_long_csv(folder / "lex.csv", TINY_WORDS)
    data = suite_data(model={"glob": str(folder / "ckpts" / "iter_*"),
                             "step_pattern": r"iter_(\d+)", "device": "cpu"},
                      lexicon={"path": str(lexicon), "format": "long_csv"},
                      sample={"trials": 1}, patch={"layers": [1], "settings": ["seen"]},
                      claims={"gate_window": 1})
    for key in ("random", "random_layers", "random_hidden"):
        data["model"].pop(key, None)
    del data["lexicon"]["builtin"]
    (folder / "ckpts").mkdir()
    path = folder / "suite.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def _put(model: Path, folder: Path, step: int, cut: bool = False) -> tuple[Path, bytes]:
    """Checkpoint ``iter_<step>`` (weights nudged by the step, so no two are identical) staged
    aside and renamed into ``folder/ckpts``; with ``cut`` its weights are half-written.
    Returns the folder and its whole weights."""
    tensors = load_file(model / "model.safetensors")
    first = sorted(tensors)[0]
    tensors[first] = tensors[first] + step * 1e-6
    data = save(tensors, {"format": "pt"})
    staged = folder / "staging" / f"iter_{step:07d}"
    shutil.copytree(model, staged, ignore=shutil.ignore_patterns("model.safetensors"))
    (staged / "model.safetensors").write_bytes(data[: len(data) // 2] if cut else data)
    target = folder / "ckpts" / staged.name
    staged.rename(target)
    return target, data


def _start(tmp: Path, suite: Path, *extra: str, tag: str = "w", hold: str = "",
           ) -> tuple[subprocess.Popen, Path]:
    """``conceptpatch watch`` in a subprocess under the logging driver; its output file."""
    driver = tmp / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    out = tmp / f"{tag}.out"
    environ = env(tmp / "cache", tmp / "log.txt")
    environ["CP_HOLD"] = hold
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(driver), "watch", str(suite), "--store", str(tmp / "store"),
             "--report", str(tmp / "reports"), "--settle", "0", "--poll", "0.2", *extra],
            env=environ, stdout=sink, stderr=subprocess.STDOUT, text=True)
    return proc, out


def _wait(ready: Callable[[], bool], proc: subprocess.Popen, out: Path, limit: float = 150.0,
          ) -> None:
    """Wait until ``ready()``; fail with the watcher's output if it ends or takes too long."""
    end = time.monotonic() + limit
    while not ready():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            pytest.fail(f"watcher exited {proc.wait()} or timed out:\n{out.read_text()}")
        time.sleep(0.05)


def _status(tmp: Path, step: int) -> dict | None:
    path = tmp / "reports" / f"iter_{step:07d}" / "watch.json"
    return json.loads(path.read_text()) if path.exists() else None


def _lines(out: Path, text: str) -> list[str]:
    return [line for line in out.read_text().splitlines() if text in line]


def test_a_watcher_gates_each_new_checkpoint_once_and_stops_cleanly_on_sigterm(
        tmp_path, model_dir):
    suite = _suite(tmp_path)
    proc, out = _start(tmp_path, suite, hold="iter_0000400")
    log = tmp_path / "log.txt"
    _wait(lambda: bool(_lines(out, "no folder matches")), proc, out)
    _put(model_dir, tmp_path, 100)
    _wait(lambda: _status(tmp_path, 100) is not None, proc, out)
    assert _status(tmp_path, 100)["status"] == "skipped"  # nothing before it to compare with

    half, whole = _put(model_dir, tmp_path, 200, cut=True)  # the writer is still at work
    _put(model_dir, tmp_path, 300)
    _wait(lambda: bool(_lines(out, "iter_0000300: gate waits for the units of iter_0000200")),
          proc, out)
    assert _lines(out, "iter_0000200: not complete yet (model.safetensors has")
    assert not any("iter_0000200" in line for line in log_lines(log, "start"))  # never read
    assert _status(tmp_path, 200) is None and _status(tmp_path, 300) is None

    (half / "model.safetensors").write_bytes(whole)  # the writer finishes, in place
    _wait(lambda: _status(tmp_path, 300) is not None, proc, out)
    for step in (200, 300):
        status = _status(tmp_path, step)
        assert (status["status"], status["exit"]) == ("passed", 0), status
        verdicts = json.loads(Path(status["report"], "verdicts.json").read_text())
        assert {v["claim_id"] for v in verdicts} == {"regression"}
        assert {v["evidence"].get("new") for v in verdicts} <= {None, f"iter_{step:07d}"}
    assert _status(tmp_path, 200)["finished"] <= _status(tmp_path, 300)["finished"]
    for event in ("iter_0000200: not complete yet", "iter_0000300: complete; computing",
                  "iter_0000300: gate waits"):
        assert len(_lines(out, event)) == 1, event  # one line per event, not per look

    _put(model_dir, tmp_path, 400)  # its unit never finishes under the driver
    _wait(lambda: "start iter_0000400 seen" in log_lines(log, "start"), proc, out)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, out.read_text()
    assert _lines(out, "watch: stopped: 3 checkpoint(s) gated by this watcher, 0 failed")
    started, written = sorted(log_lines(log, "start")), sorted(log_lines(log, "written"))
    assert started == [f"start iter_{s:07d} seen" for s in (100, 200, 300, 400)]  # once each
    assert written == [f"written iter_{s:07d} seen" for s in (100, 200, 300)]
    assert _status(tmp_path, 400) is None  # abandoned: not recorded
    assert not [p for p in tmp_path.glob("*/**/*") if p.name.endswith(".tmp")]
    assert not list((tmp_path / "store").glob("iter_0000400/*.parquet"))

    capture = [str(a) for a in (tmp_path / "store", tmp_path / "reports")]
    assert main(["watch", str(suite), "--store", capture[0], "--report", capture[1], "--once",
                 "--settle", "0"]) == 0  # a restart picks up the abandoned checkpoint only
    assert _status(tmp_path, 400)["status"] == "passed"
    assert [_status(tmp_path, s)["pid"] for s in (100, 200, 300)] == [proc.pid] * 3


def test_two_watchers_on_one_store_gate_each_checkpoint_once(tmp_path, model_dir):
    suite = _suite(tmp_path)
    for step in (100, 200):
        _put(model_dir, tmp_path, step)
    watchers = [_start(tmp_path, suite, "--once", tag=tag) for tag in ("a", "b")]
    for proc, out in watchers:
        assert proc.wait(timeout=150) == 0, out.read_text()
    outs = "".join(out.read_text() for _, out in watchers)
    assert outs.count("iter_0000100: gate skipped") == 1
    assert outs.count("iter_0000200: gate passed") == 1
    assert log_lines(tmp_path / "log.txt", "written") == [
        "written iter_0000100 seen", "written iter_0000200 seen"]  # each unit computed once
    pids = {proc.pid for proc, _ in watchers}
    assert {_status(tmp_path, s)["pid"] for s in (100, 200)} <= pids
    assert load_suite(suite).settings_hash() == _status(tmp_path, 200)["suite_hash"]

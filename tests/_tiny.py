"""Shared helpers of the reliability tests: a tiny random suite, a TOML writer, a CLI driver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The tiny random suite of the reliability tests (2 layers, hidden 32, 3 seen languages; with
#: three, the paper's `seen` rule leaves some target pairs no source pair, hence
#: ``seen_sources = "other_output"``: these tests are about the machinery, not the paper).
SUITE: dict[str, Any] = {
    "name": "tiny-rel",
    "seed": 0,
    "model": {"random": "llama", "random_layers": 2, "random_hidden": 32, "device": "cpu"},
    "lexicon": {"builtin": "cldr"},
    "languages": {"seen": ["en", "fr", "de"]},
    "prompt": {"k": 2},
    "patch": {"layers": [0, 1], "settings": ["seen", "unpatched"], "max_new_tokens": 3,
              "seen_sources": "other_output"},
    "sample": {"trials": 2},
}


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(v)  # strings, ints and booleans are spelt the same in JSON and TOML


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML text of a suite-shaped mapping (top-level scalars, then one table per section)."""
    lines = [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def suite_data(**sections: Mapping[str, Any]) -> dict[str, Any]:
    """`SUITE` with ``sections`` merged in (``seed=1`` or ``patch={"layers": [5]}``)."""
    data = json.loads(json.dumps(SUITE))
    for key, value in sections.items():
        if isinstance(value, Mapping):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    return data


def write_suite(folder: Path, name: str = "suite.toml", **sections: Any) -> Path:
    """Write `SUITE` (with ``sections`` merged in) to ``folder / name``."""
    path = Path(folder) / name
    path.write_text(dump_toml(suite_data(**sections)), encoding="utf-8")
    return path


#: Runs the CLI, logging each unit computed ("start") and written ("written") to $CP_LOG;
#: $CP_SLOW seconds of sleep after each unit widen the windows a kill can land in.
DRIVER = """
import os, sys, time
import torch
torch.set_num_threads(1)
import conceptpatch.results as results
import conceptpatch.compute as run

LOG, SLOW = os.environ["CP_LOG"], float(os.environ.get("CP_SLOW", "0"))


def log(message):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {message}\\n")


unit = run.run_unit


def run_unit(lm, resolved, setting, trials, progress=None):
    log(f"start {lm.checkpoint.name} {setting}")
    out = unit(lm, resolved, setting, trials, progress)
    time.sleep(SLOW)
    return out


write = results.Store.write


def store_write(self, checkpoint, setting, frame, meta):
    path = write(self, checkpoint, setting, frame, meta)
    log(f"written {checkpoint} {setting}")
    return path


run.run_unit = run_unit
results.Store.write = store_write
from conceptpatch.cli import main

log("ready")
sys.exit(main(sys.argv[1:]))
"""


def env(cache: Path, log: Path, slow: float = 0.0) -> dict[str, str]:
    """Environment of a driver subprocess: the test cache, one thread, the log."""
    out = dict(os.environ)
    out.update(
        CONCEPTPATCH_CACHE=str(cache),
        CP_LOG=str(log),
        CP_SLOW=str(slow),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    return out


def start(
    tmp: Path, suite: Path, store: Path, cache: Path, log: Path, slow: float = 0.0
) -> subprocess.Popen:
    """Start ``conceptpatch run SUITE --store STORE --quiet`` under the logging driver."""
    driver = tmp / "driver.py"
    if not driver.exists():
        driver.write_text(DRIVER, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(driver), "run", str(suite), "--store", str(store), "--quiet"],
        env=env(cache, log, slow),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def log_lines(log: Path, kind: str) -> list[str]:
    """The ``kind`` ("start", "written", "ready") lines of a driver log, without the pid."""
    if not log.exists():
        return []
    words = [line.split(" ", 1) for line in log.read_text(encoding="utf-8").splitlines()]
    return [rest for _, rest in words if rest.split(" ")[0] == kind]


def wait_for(log: Path, kind: str, count: int, proc: subprocess.Popen, limit: float = 120) -> bool:
    """Wait until ``log`` has ``count`` lines of ``kind``; False if ``proc`` ended first."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if len(log_lines(log, kind)) >= count:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise TimeoutError(f"no {count} {kind!r} lines in {log} after {limit} s")


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> tuple[int, str]:
    """Send ``sig`` to ``proc`` (if still running) and return its exit status and stderr."""
    if proc.poll() is None:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def distinct_copy(source: Path, target: Path, salt: int) -> Path:
    """A copy of checkpoint folder ``source`` at ``target`` whose weights differ by ``salt``
    (one weight of the first tensor nudged): checkpoints of a training run never share weights,
    and conceptpatch refuses two that do (`conceptpatch.fingerprint`)."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    weights = target / "model.safetensors"
    tensors = load_file(weights)
    first = sorted(tensors)[0]
    tensors[first] = tensors[first].clone()
    tensors[first].view(-1)[0] += 1e-3 * (salt + 1)
    save_file(tensors, weights, metadata={"format": "pt"})
    return target


def reduced_suite(suite: Path, folder: Path, trials: int, layers: str) -> Path:
    """A shipped real-model suite with fewer trials and layers (same model, languages and
    prompts), written into ``folder``: the slow tier's end-to-end runs."""
    import re

    text = suite.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^trials = \d+$", f"trials = {trials}", text)
    text = re.sub(r'(?m)^layers = "all"$', f"layers = {layers}", text)
    path = folder / f"{suite.stem}-reduced.toml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_loads_from_cache(checkpoint, loaded, parameters, monkeypatch) -> None:
    """A second load of a GGUF ``checkpoint`` reads the safetensors cache: nothing is converted
    again and ``parameters`` equal ``loaded``'s bit for bit (the real-model slow tests)."""
    import torch
    from conceptpatch.engine.checkpoints import load_checkpoint
    from conceptpatch.sources import gguf as gguf_source

    def refuse(*args):
        raise AssertionError("converted twice")

    monkeypatch.setattr(gguf_source, "_convert", refuse)
    again = load_checkpoint(checkpoint, dtype="float32")
    for name in parameters:
        torch.testing.assert_close(again.model.get_parameter(name),
                                   loaded.model.get_parameter(name), rtol=0, atol=0)

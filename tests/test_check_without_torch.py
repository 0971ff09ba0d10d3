"""`conceptpatch check` needs no engine: it validates and plans with torch not even installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Runs ``conceptpatch ARGS`` as where torch is not installed: the import system cannot find it
#: (a finder in front of the path finder answers "no such module" for torch and its submodules).
NO_TORCH = """
import importlib.machinery as machinery
import sys


class NoTorch(machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            return None
        return machinery.PathFinder.find_spec(name, path, target)


sys.meta_path = [NoTorch if f is machinery.PathFinder else f for f in sys.meta_path]
sys.argv = ["conceptpatch", *sys.argv[1:]]
from conceptpatch.cli import main

code = main()
if "torch" in sys.modules:
    sys.exit("torch was imported")
sys.exit(code)
"""


def _check(*args: str, torch: bool, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = ([sys.executable, "-c", NO_TORCH] if not torch else
               [sys.executable, "-m", "conceptpatch.cli"])
    return subprocess.run([*command, "check", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)


def test_the_suite_modules_import_no_torch() -> None:
    code = ("import sys, conceptpatch.config.suite, conceptpatch.resolve, conceptpatch.preflight;"
            " sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=300).returncode == 0


@pytest.mark.parametrize("suite", ["tiny-random", "organism-tiny"])
def test_check_prints_the_same_plan_without_torch(suite: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    env = {**os.environ, "CONCEPTPATCH_CACHE": str(tmp_path / "cache")}
    path = str(ROOT / "suites" / f"{suite}.toml")
    if suite == "tiny-random":  # built once with torch: check lists the model's folder after
        subprocess.run([sys.executable, "-m", "conceptpatch.cli", "run", path, "--store",
                        str(tmp_path / "store"), "--quiet"], env=env, check=True, timeout=600)
    with_torch = _check(path, torch=True, env=env)
    without = _check(path, torch=False, env=env)
    assert with_torch.returncode == 0 and without.returncode == 0, without.stderr[-2000:]
    assert without.stdout == with_torch.stdout

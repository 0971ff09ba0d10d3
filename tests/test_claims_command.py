"""`conceptpatch claims` as a user runs it: from an empty folder outside the clone, on a copy of
suites/tiny-random.toml with relative paths; the read-only switch, the inconclusive policy, and
the plugin's options kept out of unrelated pytest sessions."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from conceptpatch.claims_command import claim_tests_dir
from conceptpatch.cli import main

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "suites" / "tiny-random.toml"
#: The plugin's options before they were namespaced: none may reach an unrelated session.
GENERIC = re.compile(
    r"(?<![\w-])--(suite|store|report|alpha|new-checkpoint|control-suite)(?![\w-])")


def _user_dir(root: Path) -> Path:
    """An empty folder outside the clone holding only a copy of the tiny suite."""
    root.mkdir(parents=True, exist_ok=True)
    assert REPO not in root.resolve().parents
    shutil.copy(SUITE, root / "tiny-random.toml")
    return root


def _run(cwd: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONCEPTPATCH_CACHE": str(cache)}
    return subprocess.run([*args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _claims(cwd: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("conceptpatch")  # the console script, as installed
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "conceptpatch.cli"]
    command += ["claims", "tiny-random.toml", *args]
    return _run(cwd, *command, cache=cache)


@pytest.fixture(scope="module")
def computed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The command run once from an empty folder: (folder, its cache, stdout)."""
    base = tmp_path_factory.mktemp("user-repo")
    work, cache = _user_dir(base / "work"), base / "cache"
    done = _claims(work, "--store", "store", "--report", "out", cache=cache)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work, cache, done.stdout


def test_command_runs_from_an_empty_directory_with_relative_paths(computed):
    work, _, stdout = computed
    assert sorted(p.name for p in (work / "store" / "random-llama").glob("*.parquet")) == [
        "en_en.parquet", "seen.parquet", "unpatched.parquet"]
    records = json.loads((work / "out" / "verdicts.json").read_text())
    assert records and {r["verdict"] for r in records} == {"inconclusive"}  # noise, 8 trials
    assert {r["schema_version"] for r in records} == {1}
    assert (work / "out" / "index.html").is_file()
    assert "conceptpatch verdicts" in stdout
    package = claim_tests_dir()
    assert not any((package / name).exists() for name in ("store", "out", "reports"))


def test_no_compute_uses_the_store_and_never_builds_a_model(computed, tmp_path):
    work, _, _ = computed
    user = _user_dir(tmp_path / "ci")
    shutil.copytree(work / "store", user / "store")
    fresh = tmp_path / "fresh-cache"  # no tiny model in it: building or loading one would show
    done = _claims(user, "--store", "store", "--no-compute", cache=fresh)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not (fresh / "random").exists()
    assert (user / "reports" / "tiny-random" / "verdicts.json").is_file()  # default: cwd-relative


def test_no_compute_on_a_partial_store_names_the_units_and_the_fix(computed, tmp_path, capsys,
                                                                   monkeypatch):
    work, cache, _ = computed
    user = _user_dir(tmp_path / "ci")
    shutil.copytree(work / "store", user / "store")
    (user / "store" / "random-llama" / "unpatched.parquet").unlink()
    monkeypatch.chdir(user)
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(cache))
    assert main(["claims", "tiny-random.toml", "--store", "store", "--no-compute"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("conceptpatch: error: --no-compute:")
    assert "lacks 1 unit(s)" in err and "(random-llama/unpatched)" in err
    fix = re.search(r"`(conceptpatch run [^`]+)`", err)
    assert fix, err
    assert f"--store {user / 'store'}" in fix.group(1)
    assert main(shlex.split(fix.group(1))[1:]) == 0  # the named command computes the unit
    assert (user / "store" / "random-llama" / "unpatched.parquet").is_file()


def test_inconclusive_fail_makes_an_underpowered_run_fail(computed):
    work, cache, _ = computed
    done = _claims(work, "--store", "store", "--report", "strict", "--no-compute",
                   "--inconclusive", "fail", cache=cache)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "inconclusive, a failure under the policy 'fail'" in done.stdout
    records = json.loads((work / "strict" / "verdicts.json").read_text())
    assert {r["verdict"] for r in records} == {"inconclusive"}


def test_arguments_after_a_double_dash_reach_pytest(computed):
    work, cache, _ = computed
    done = _claims(work, "--store", "store", "--report", "only", "--no-compute", "--",
                   "-k", "induction", "--junitxml", "claims.xml", cache=cache)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = json.loads((work / "only" / "verdicts.json").read_text())
    assert records and {r["claim_id"] for r in records} == {"concept_induction"}
    assert (work / "claims.xml").is_file()  # relative to the working directory


def test_pytest_claims_in_the_clone_keeps_its_options_and_the_working_directory(computed,
                                                                                tmp_path):
    work, cache, _ = computed
    user = _user_dir(tmp_path / "elsewhere")
    shutil.copytree(work / "store", user / "store")
    done = _run(user, sys.executable, "-m", "pytest", str(REPO / "claims"), "-p",
                "no:cacheprovider", "--suite", "tiny-random.toml", "--store", "store",
                "--report", "rep", "--cp-no-compute", cache=cache)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = json.loads((user / "rep" / "verdicts.json").read_text())
    assert {r["nodeid"].split("::")[0] for r in records} >= {"claims/test_concept_induction.py"}


def test_an_unrelated_pytest_session_gets_no_generic_options(tmp_path):
    done = _run(tmp_path, sys.executable, "-m", "pytest", "--help", cache=tmp_path / "c")
    assert done.returncode == 0, done.stderr
    assert "--cp-suite" in done.stdout  # the plugin is loaded (entry point), namespaced
    assert GENERIC.findall(done.stdout) == []


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"conceptpatch {version('conceptpatch')}"

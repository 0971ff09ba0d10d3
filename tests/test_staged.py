"""A sequential suite (``sample.stages``): its key, its store extended stage by stage (only the
new pairings computed, the stored rows kept), and the claims decided look by look."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _tiny import SUITE, suite_data, write_suite
from conceptpatch import compute
from conceptpatch.config.suite import parse_suite
from conceptpatch.errors import StoreError, SuiteError
from conceptpatch.results import Store

#: The tiny suite with four pairings, looked at after two (two settings, two layers).
STAGED = {"sample": {"trials": 4, "stages": [2, 4]}}


def test_stages_as_a_count_halve_back_from_the_trials():
    assert parse_suite(suite_data(sample={"trials": 100, "stages": 3})).stages == (25, 50, 100)
    assert parse_suite(suite_data(sample={"trials": 200, "stages": 4})).stages == (25, 50, 100,
                                                                                  200)


def test_a_stage_list_gives_the_trials_when_they_are_not_given():
    data = suite_data()
    data["sample"] = {"stages": [10, 30]}
    suite = parse_suite(data)
    assert (suite.trials, suite.stages) == (30, (10, 30))


def test_a_fixed_suite_keeps_its_settings_hash():
    """No stages: the design data (and every stored unit's hash) of suites before the key."""
    fixed = parse_suite(SUITE)
    assert "stages" not in fixed.design_data()
    staged = parse_suite(suite_data(sample={"trials": 2, "stages": [1, 2]}))
    assert staged.settings_hash() != fixed.settings_hash()
    assert staged.design_data()["stages"] == [1, 2]


@pytest.mark.parametrize(("stages", "says"), [
    ([4, 2], "must increase"),
    ([2], "2 to 8 looks"),
    ([1, 2, 3], "ends at 3 pairings but sample.trials (or --trials) is 4"),
    (1, "2 to 8 looks"),
    (4, "below one pairing"),
    ([0, 4], "at least 1 pairing"),
    ("3", "a number of looks (an integer) or a list of pairing counts"),
])
def test_bad_stages_name_the_fix(stages, says):
    with pytest.raises(SuiteError) as err:
        parse_suite(suite_data(sample={"trials": 4, "stages": stages}))
    assert says in str(err.value) and "\n" not in str(err.value)


def _pairings_run(monkeypatch) -> list[tuple[str, list[int]]]:
    calls: list[tuple[str, list[int]]] = []
    run_unit = compute.run_unit

    def spy(lm, resolved, setting, trials, progress=None):
        calls.append((setting, sorted({t.pairing for t in trials})))
        return run_unit(lm, resolved, setting, trials, progress)

    monkeypatch.setattr(compute, "run_unit", spy)
    return calls


def test_a_stage_computes_only_its_new_pairings_and_ends_as_the_fixed_store(tmp_path,
                                                                             monkeypatch):
    staged, fixed = parse_suite(suite_data(**STAGED)), parse_suite(suite_data(
        sample={"trials": 4}))
    calls = _pairings_run(monkeypatch)
    first = compute.run_suite(staged, tmp_path / "staged", progress=False, upto=2)
    store = Store(tmp_path / "staged")
    name = str(first["checkpoint"].iloc[0])
    assert store.stored_pairings(name, "seen", staged.settings_hash()) == 2
    assert not store.has(name, "seen", staged.settings_hash())  # partial: not the whole plan
    assert store.has(name, "seen", staged.settings_hash(), pairings=2)
    before = pd.read_parquet(store.unit_path(name, "seen"))
    whole = compute.run_suite(staged, tmp_path / "staged", progress=False)
    assert calls == [("seen", [0, 1]), ("unpatched", [0, 1]),
                     ("seen", [2, 3]), ("unpatched", [2, 3])]
    after = pd.read_parquet(store.unit_path(name, "seen"))
    kept = after[after["trial"].isin(before["trial"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before)  # the stored stage as it was
    assert set(first["trial"]) < set(whole["trial"])
    reference = compute.run_suite(fixed, tmp_path / "fixed", progress=False)
    columns = [c for c in reference.columns if c != "suite_hash"]
    pd.testing.assert_frame_equal(whole[columns], reference[columns])
    assert compute.run_suite(staged, tmp_path / "staged", progress=False).equals(whole)
    assert len(calls) == 6  # the fixed run's two units; nothing recomputed after


def test_a_later_stage_on_changed_weights_is_refused(tmp_path, monkeypatch):
    staged = parse_suite(suite_data(**STAGED))
    compute.run_suite(staged, tmp_path / "s", progress=False, upto=2)
    monkeypatch.setattr(compute, "fingerprint", lambda checkpoint: "0" * 64)
    with pytest.raises(StoreError, match="has changed since its first stages were stored"):
        compute.run_suite(staged, tmp_path / "s", progress=False)


def _claims(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONCEPTPATCH_CACHE": str(folder / "cache")}
    return subprocess.run([sys.executable, "-m", "conceptpatch.cli", "claims", "suite.toml",
                           "--store", "store", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


def test_claims_decide_each_case_at_a_look_and_say_which(tmp_path):
    """End to end: verdicts.json says each case's look; --no-compute on a store holding the
    first stage only reads that look and says what was not computed."""
    write_suite(tmp_path, **STAGED)
    first = tmp_path / "first"
    first.mkdir()
    write_suite(first, **STAGED)
    env = {**os.environ, "CONCEPTPATCH_CACHE": str(tmp_path / "cache")}
    code = ("import sys; from conceptpatch.config.suite import load_suite;"
            " from conceptpatch.compute import run_suite;"
            " run_suite(load_suite('suite.toml'), 'store', progress=False, upto=2)")
    subprocess.run([sys.executable, "-c", code], cwd=first, env=env, check=True, timeout=600)
    partial = _claims(first, "--no-compute", "--report", "out")
    assert partial.returncode == 0, partial.stdout[-3000:] + partial.stderr[-2000:]
    assert "stopped after look 1 of 2 (2 pairings)" in partial.stdout
    assert "stages of 4 pairings not computed" in partial.stdout
    records = json.loads((first / "out" / "verdicts.json").read_text())
    assert records and {r["stage"] for r in records} == {1}
    assert all(r["stages"] == [2, 4] and r["stages_run"] == 1 for r in records)

    done = _claims(tmp_path, "--report", "out")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    records = json.loads((tmp_path / "out" / "verdicts.json").read_text())
    for r in records:
        assert {"stage", "stage_pairings", "nominal_alpha", "decided_early"} <= set(r)
        assert r["stage_pairings"] == [2, 4][r["stage"] - 1]
        if r["verdict"] == "inconclusive" and r["pvalue"] is not None:
            assert r["stage"] == r["stages_run"]  # an open case was looked at to the end
    report = (tmp_path / "out" / "index.html").read_text()
    assert "Sequential design" in report


def test_the_notebook_api_decides_a_sequential_suite_as_the_command_does(tmp_path):
    """`conceptpatch.verdicts` on a sequential suite's table: the looks the table holds, each
    case with its look, through the same rule (`decide_looks`)."""
    from conceptpatch.api import verdicts

    staged = parse_suite(suite_data(**STAGED))
    first = compute.run_suite(staged, tmp_path / "s", progress=False, upto=2)
    found = verdicts(first, suite=staged)
    assert set(found["stage"]) == {1} and set(found["stages_run"]) == {1}
    whole = compute.run_suite(staged, tmp_path / "s", progress=False)
    found = verdicts(whole, suite=staged)
    assert set(found["stages_run"]) <= {1, 2} and found["stage_pairings"].isin([2, 4]).all()
    assert (found["stages"].map(tuple) == (2, 4)).all()


def test_check_prints_the_looks_and_their_levels(tmp_path, capsys):
    from conceptpatch.cli import main

    assert main(["check", str(write_suite(tmp_path, **STAGED))]) == 0
    out = capsys.readouterr().out
    assert "sequential: looks at 2, 4 pairings (nominal levels 0.0056, 0.048 at alpha 0.05" in out

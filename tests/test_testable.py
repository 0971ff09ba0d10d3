"""No case without data: one definition of what a suite can test (`conceptpatch.claims.testable`),
used by `check`, the claim modules' cases, the pytest plugin and the notebook API.

A one-checkpoint suite has no early-emergence case anywhere; a suite whose layers miss the mid
band is warned about by `check` before any compute, and its band claims are reported untestable
(with the reason and the fix), which ``--inconclusive fail`` fails on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _tiny import write_suite
from conceptpatch import api
from conceptpatch.claims import MODULES, Axes, Design, synthetic_results
from conceptpatch.claims.testable import band_gaps, no_case, untestable
from conceptpatch.cli import main
from conceptpatch.results import load_store

#: A one-checkpoint tiny random model of 4 layers whose computed layers (0: early, 3: late) miss
#: the mid band (0.25-0.6 of depth: layers 1-2).
NO_MID = dict(model={"random_layers": 4}, patch={"layers": [0, 3]},
              languages={"seen": ["en", "fr", "de"], "unseen": []})
BAND_CLAIMS = {"concept_induction", "layer_sensitivity", "language_dependence"}


def _axes(checkpoints: int = 1, phases: tuple[int, ...] = (), unseen: tuple[str, ...] = ("ru",),
          layers: tuple[int, ...] | None = None, n_layers: int | None = 6,
          seen: tuple[str, ...] = ("en", "fr", "de")) -> Axes:
    names = tuple(f"ck{i}" for i in range(checkpoints))
    progress = tuple((i + 1) / checkpoints for i in range(checkpoints))
    return Axes(names, phases or (1,) * checkpoints, seen, unseen, ("seen", "en_en"), Design(),
                progress, layers, n_layers)


def test_one_checkpoint_gives_no_training_claim_and_says_why():
    found = untestable(_axes(1))
    assert set(found) == {"early_emergence", "stability", "phase_two"}
    assert "within the first 33%" in found["early_emergence"]
    assert "two checkpoints of one data phase" in found["stability"]
    assert found["phase_two"] == "needs checkpoints of data phases 1 and 2"


@pytest.mark.parametrize("axes", [
    _axes(1), _axes(2), _axes(4), _axes(4, phases=(1, 1, 1, 2)), _axes(3, unseen=()),
    _axes(3, seen=("en",)), _axes(1, seen=()), _axes(0),
], ids=["one", "two", "four", "two-phases", "no-unseen", "one-seen", "no-seen", "none"])
def test_a_claim_the_definition_rules_out_has_no_case(axes):
    """The one definition and each claim's cases agree: no case exactly where it says so."""
    ruled_out = no_case(axes)
    for claim_id, module in MODULES.items():
        assert (claim_id in ruled_out) == (not module.cases(axes)), claim_id


def test_layers_missing_the_mid_band_make_the_band_claims_untestable():
    gaps = band_gaps(_axes(4, layers=(2, 14), n_layers=18))
    assert set(gaps) == {"concept_induction", "layer_sensitivity", "early_emergence",
                         "stability", "unseen_language", "language_dependence"}
    assert gaps["concept_induction"] == (
        "the mid band (0.25-0.6 of depth) has no computed layer (layers 2, 14 of 18): add one of"
        " 5-10 to [patch] layers")
    assert set(band_gaps(_axes(4, layers=(0, 1), n_layers=2))) == {"layer_sensitivity"}  # late
    assert band_gaps(_axes(4, layers=(2, 14), n_layers=None)) == {}  # unknown: nothing guessed


def test_the_api_gives_no_case_without_data():
    one = synthetic_results(checkpoints=(("only", 100, 1),), n_layers=6, trials=20, seed=1)
    table = api.verdicts(one, design=Design())
    assert not {"early_emergence", "stability", "phase_two"} & set(table["claim_id"])
    no_mid = synthetic_results(n_layers=18, layers=[2, 14], trials=20, seed=1)
    table = api.verdicts(no_mid, design=Design())
    band = table[table["claim_id"].isin(BAND_CLAIMS)]
    assert len(band) and set(band["verdict"]) == {"inconclusive"}
    assert band["reading"].str.startswith("untestable: the mid band").all()
    assert not table["message"].str.contains(r"layers \[\]").any()


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "CONCEPTPATCH_CACHE": str(cache), "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _claims(suite: Path, store: Path, report: Path, *args: str,
            cache: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "conceptpatch.cli", "claims", str(suite), "--store",
               str(store), "--report", str(report), *args]
    return subprocess.run(command, env=_env(cache), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def claimed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str]:
    """`conceptpatch claims` run once on the one-checkpoint suite missing the mid band."""
    base = tmp_path_factory.mktemp("testable")
    suite, cache = write_suite(base, "no-mid.toml", **NO_MID), base / "cache"
    done = _claims(suite, base / "store", base / "out", cache=cache)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return suite, base, cache, done.stdout


def test_check_warns_before_any_compute_when_layers_miss_the_band(tmp_path, capsys):
    suite = write_suite(tmp_path, "no-mid.toml", **NO_MID)
    assert main(["check", str(suite)]) == 0
    captured = capsys.readouterr()
    assert "not testable here: early_emergence (needs checkpoints across training" in captured.out
    warned = [line for line in captured.err.splitlines()
              if line.startswith("  warning:") and "mid band" in line]
    assert {line.split()[1] for line in warned} == BAND_CLAIMS
    assert "add one of 1-2 to [patch] layers" in warned[0]
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_the_plugin_collects_no_case_without_data(claimed):
    _, base, _, stdout = claimed
    records = json.loads((base / "out" / "verdicts.json").read_text())
    claims_run = {r["claim_id"] for r in records}
    assert not {"early_emergence", "stability", "phase_two", "unseen_language"} & claims_run
    assert "test_early_emergence.py" not in stdout  # nothing collected, not even a skip
    assert "not testable here: early_emergence (needs checkpoints across training" in stdout
    band = [r for r in records if r["claim_id"] in BAND_CLAIMS]
    assert band and {r["verdict"] for r in band} == {"inconclusive"}
    assert all(r["reading"].startswith("untestable: the mid band") for r in band)
    assert claims_run == BAND_CLAIMS


@pytest.mark.slow
def test_inconclusive_fail_fails_on_an_untestable_claim(claimed):
    suite, base, cache, _ = claimed
    done = _claims(suite, base / "store", base / "strict", "--no-compute", "--inconclusive",
                   "fail", cache=cache)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "untestable: the mid band" in done.stdout


@pytest.mark.slow
def test_the_api_on_the_stored_table_agrees_with_the_plugin(claimed):
    _, base, _, _ = claimed
    table = api.verdicts(load_store(base / "store"), design=Design())
    assert "early_emergence" not in set(table["claim_id"])
    plugin = json.loads((base / "out" / "verdicts.json").read_text())
    assert set(table["case"] + "/" + table["claim_id"]) == {
        f"{r['case']}/{r['claim_id']}" for r in plugin}
    assert set(table["reading"]) == {r["reading"] for r in plugin}

"""Results into W&B: the values per step computed by hand, then an offline run read back.

The offline run is read back from its transaction log ``run-<id>.wandb`` (what ``wandb sync``
uploads): LevelDB's log format (32 KiB blocks of records, each a 7-byte header: CRC32, length,
type full/first/middle/last) after W&B's 7-byte file header (``:W&B``, magic 0xBEE1, version),
each record a ``wandb.proto.wandb_internal_pb2.Record``. wandb 0.31 has no Python reader of its
own (the old ``wandb.sdk.internal.datastore`` moved into the Go core) and an offline run writes
no ``wandb-summary.json``, so the test reads the log itself.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conceptpatch import tracking
from conceptpatch.cli import main
from conceptpatch.results import Store, conform

N_LAYERS = 8  # bands by depth: 0-1 early, 2-4 mid, 5 in none (0.625), 6-7 late
LAYERS = (1, 2, 3, 5, 6)
TRIALS = 4
CHECKPOINTS = (("c0", 0, 0, 1), ("c10", 10, 1000, 2))  # name, step, tokens, phase
#: exact answers among the TRIALS trials of output language fr (seen) per (checkpoint,
#: setting, layer); cy (unseen) answers and layer 5 (no band) are always exact, so that any
#: rate that counted them would come out higher.
EXACT = {
    ("c0", "seen", 1): 1, ("c0", "seen", 2): 0, ("c0", "seen", 3): 2, ("c0", "seen", 6): 3,
    ("c0", "en_en", 1): 0, ("c0", "en_en", 2): 4, ("c0", "en_en", 3): 4, ("c0", "en_en", 6): 1,
    ("c0", "unpatched", -1): 1,
    ("c10", "seen", 1): 2, ("c10", "seen", 2): 3, ("c10", "seen", 3): 4, ("c10", "seen", 6): 0,
    ("c10", "en_en", 1): 4, ("c10", "en_en", 2): 1, ("c10", "en_en", 3): 1, ("c10", "en_en", 6): 2,
    ("c10", "unpatched", -1): 0,
}
EXPECTED = {
    0: {"tokens": 0.0, "phase": 1.0, "exact/unpatched": 0.25,
        "exact/seen/early": 0.25, "exact/seen/mid": 0.25, "exact/seen/late": 0.75,
        "exact/en_en/early": 0.0, "exact/en_en/mid": 1.0, "exact/en_en/late": 0.25},
    10: {"tokens": 1000.0, "phase": 2.0, "exact/unpatched": 0.0,
         "exact/seen/early": 0.5, "exact/seen/mid": 0.875, "exact/seen/late": 0.0,
         "exact/en_en/early": 1.0, "exact/en_en/mid": 0.25, "exact/en_en/late": 0.5},
}
VERDICTS = [
    {"claim_id": "concept_induction", "case": "seen-fr", "verdict": "supported", "effect": 0.4,
     "ci_low": 0.2, "ci_high": None, "pvalue": 0.001, "raw_pvalue": 0.001, "n": 8,
     "reading": "consistent with the paper's effect", "evidence": {"layer": 3},
     "suite_hash": "h1", "schema_version": 1},
    {"claim_id": "layer_sensitivity", "case": "seen", "verdict": "refuted", "effect": 0.0,
     "n": 8, "suite_hash": "h1", "schema_version": 1},
    {"claim_id": "regression", "case": "seen-fr", "verdict": "inconclusive", "n": 8,
     "evidence": {"new": "c0", "earlier": []}, "suite_hash": "h1", "schema_version": 1},
]


def _rows() -> pd.DataFrame:
    rows = []
    for name, step, tokens, phase in CHECKPOINTS:
        for setting in ("seen", "en_en", "unpatched"):
            for layer in (-1,) if setting == "unpatched" else LAYERS:
                for out, seen in (("fr", True), ("cy", False)):
                    hits = EXACT.get((name, setting, layer), TRIALS) if seen else TRIALS
                    for trial in range(TRIALS):
                        rows.append({
                            "checkpoint": name, "step": step, "tokens": tokens, "phase": phase,
                            "layer": layer, "n_layers": N_LAYERS, "position": "last",
                            "setting": setting, "source_pairs": "", "input_lang": "en",
                            "output_lang": out, "output_seen": seen, "concept": f"k{trial}",
                            "target_concept": "t", "pos": pd.NA, "trial": trial,
                            "output": "x", "category": "exact" if trial < hits else "copy",
                            "p_concept": 0.5, "seed": 0, "suite_hash": "h1"})
    return conform(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return _rows()


def test_exact_rates_by_band_and_setting_per_step(results):
    assert tracking.exact_rates(results) == EXPECTED


def test_verdicts_are_numbers_at_the_step_of_their_checkpoint(results):
    rows = tracking.verdict_rows(results, VERDICTS)
    assert [(r["key"], r["value"], r["checkpoint"], r["step"]) for r in rows] == [
        ("verdict/concept_induction[seen-fr]", 1, "c10", 10),
        ("verdict/layer_sensitivity[seen]", -1, "c10", 10),
        ("verdict/regression[seen-fr]", 0, "c0", 0),  # the gate's new checkpoint
    ]
    values = tracking.values_by_step(results, VERDICTS)
    assert list(values) == [0, 10]
    assert values[0] == {**EXPECTED[0], "verdict/regression[seen-fr]": 0.0}
    assert values[10] == {**EXPECTED[10], "verdict/concept_induction[seen-fr]": 1.0,
                          "verdict/layer_sensitivity[seen]": -1.0}


def test_a_band_without_computed_layers_is_not_logged(results):
    only_mid = results[results["layer"].isin([-1, 2, 3])]
    assert set(tracking.exact_rates(only_mid)[0]) == {
        "tokens", "phase", "exact/unpatched", "exact/seen/mid", "exact/en_en/mid"}


def test_clashing_steps_unknown_verdicts_and_absent_checkpoints_are_one_line_errors(results):
    clash = results.assign(step=0)
    with pytest.raises(tracking.TrackerError, match=r"both at step 0: .* own step"):
        tracking.exact_rates(clash)
    with pytest.raises(tracking.TrackerError, match=r"'maybe' .* is not one of"):
        tracking.verdict_rows(results, [{**VERDICTS[0], "verdict": "maybe"}])
    gate = {**VERDICTS[2], "evidence": {"new": "c99"}}
    with pytest.raises(tracking.TrackerError, match="'c99', which the store lacks"):
        tracking.verdict_rows(results, [gate])


def test_importing_tracking_needs_neither_wandb_nor_torch():
    code = ("import sys, conceptpatch.tracking; "
            "print(sorted(m for m in ('wandb', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_wandb_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(tracking.TrackerError, match=r'pip install -e "\.\[wandb\]"'):
        tracking.log_to_wandb({0: {"a": 1.0}}, project="p", dir=tmp_path, mode="offline")
    assert not any(tmp_path.iterdir())


# ---- an offline W&B run, read back ----------------------------------------------------------


def _records(path: Path) -> list[Any]:
    """The protobuf records of a W&B transaction log (module docstring)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B"
    pos, buf, out = 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 0:
            continue
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):  # full, last
            record = pb.Record()
            record.ParseFromString(buf)
            out.append(record)
    return out


def _history(run: Path) -> dict[int, dict[str, Any]]:
    """Each logged step's values, as the run's history records hold them."""
    (log,) = run.glob("run-*.wandb")
    out = {}
    for record in _records(log):
        if record.WhichOneof("record_type") == "history":
            items = {"/".join(i.nested_key) or i.key: json.loads(i.value_json)
                     for i in record.history.item}
            out[record.history.step.num] = items
    return out


def _logged(history: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The values conceptpatch logged (W&B's own ``_step``, ``_runtime`` ... and the table's
    reference dropped)."""
    return {s: {k: v for k, v in items.items() if not k.startswith(("_", "verdicts/"))}
            for s, items in history.items()}


@pytest.fixture
def offline(monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for key in ("WANDB_MODE", "WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.delenv(key, raising=False)


def test_an_offline_run_holds_every_value_at_its_step(results, tmp_path, offline):
    values = tracking.values_by_step(results, VERDICTS)
    verdicts = tracking.verdict_rows(results, VERDICTS)
    run = tracking.log_to_wandb(values, project="cp-test", run_name="tiny", dir=tmp_path,
                                mode="offline", verdicts=verdicts, config={"suite": "tiny"},
                                close=True)
    assert run.parent == tmp_path / "wandb" and run.name.startswith("offline-run-")
    history = _history(run)
    assert list(history) == [0, 10]
    assert all(items["_step"] == step for step, items in history.items())
    assert _logged(history) == values
    # the verdict table: logged with the latest verdict step, its rows in the run's files
    assert history[10]["verdicts/_type"] == "table-file"
    table = json.loads((run / "files" / history[10]["verdicts/path"]).read_text())
    assert table["columns"] == list(tracking.TABLE_FIELDS)
    got = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert [(r["claim_id"], r["case"], r["verdict"], r["value"], r["step"]) for r in got] == [
        ("concept_induction", "seen-fr", "supported", 1, 10),
        ("layer_sensitivity", "seen", "refuted", -1, 10),
        ("regression", "seen-fr", "inconclusive", 0, 0)]
    assert "verdicts" not in history[0]
    # W&B's own files went under dir too: its core's log, the table's artifact staging
    assert list((tmp_path / "wandb" / "cache").rglob("core-debug-*.log"))
    assert (tmp_path / "wandb" / "data" / "artifacts" / "staging").is_dir()


def test_the_track_command_logs_a_store_and_its_verdicts(results, tmp_path, offline, capsys,
                                                         monkeypatch):
    store = Store(tmp_path / "store").open()
    for (name, setting), unit in results.groupby(["checkpoint", "setting"]):
        store.write(str(name), str(setting), unit, {"suite_hash": "h1"})
    report = tmp_path / "report"
    report.mkdir()
    (report / "verdicts.json").write_text(json.dumps(VERDICTS[:2]))
    monkeypatch.setenv("WANDB_MODE", "offline")  # W&B's own switch works as --offline does
    assert main(["track", str(store.root), "--verdicts", str(report / "verdicts.json"),
                 "--project", "cp-test"]) == 0
    (run,) = (report / "wandb").glob("offline-run-*")  # default --dir: the verdicts' folder
    assert f"{run}" in capsys.readouterr().out
    assert _logged(_history(run)) == {
        0: EXPECTED[0], 10: {**EXPECTED[10], "verdict/concept_induction[seen-fr]": 1,
                             "verdict/layer_sensitivity[seen]": -1}}
    # verdicts of another design are refused before anything is logged
    (report / "other.json").write_text(json.dumps([{**VERDICTS[0], "suite_hash": "h2"}]))
    assert main(["track", str(store.root), "--verdicts", str(report / "other.json"),
                 "--offline", "--dir", str(tmp_path / "other")]) == 2
    assert "decided on design h2, the store holds h1" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()

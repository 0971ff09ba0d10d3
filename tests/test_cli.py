"""The CLI: `check` summarises a valid suite; usage errors are one line with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _tiny import write_suite
from conceptpatch.cli import main


def test_check_summarises_a_valid_suite(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tmp_path / "cache"))
    assert main(["check", str(write_suite(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "1 checkpoint(s), 2 unit(s)" in out and "trials per unit: 6" in out


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "\n" not in err and err.startswith("conceptpatch: error:")


def test_console_script_bad_suite_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    proc = subprocess.run(
        [sys.executable, "-m", "conceptpatch.cli", "check", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "not valid TOML" in proc.stderr


def test_check_prints_the_power_the_trial_count_gives(tmp_path, capsys, monkeypatch):
    from conceptpatch.claims.calibration import planned_power

    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tmp_path / "cache"))
    assert main(["check", str(write_suite(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "trials per output language (the paper" in out and "not simulated" in out
    at_100, at_60 = planned_power(100), planned_power(60)
    assert set(at_100) >= {"concept_induction", "layer_sensitivity", "early_emergence"}
    assert at_100["concept_induction"] >= 0.8 and at_60["phase_two"] <= at_100["phase_two"]

"""`conceptpatch run` overrides (--device, --dtype, --trials, --layers, --settings) and
--dry-run: the suite as if its TOML said so, validated the same way; a dry run loads nothing."""

from __future__ import annotations

import pytest
from _tiny import write_suite
from conceptpatch import compute
from conceptpatch.cli import main
from conceptpatch.results import load_store


@pytest.fixture
def no_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a dry run loaded a model")

    monkeypatch.setattr(compute, "load_checkpoint", refuse)


def test_dry_run_lists_units_with_the_overrides_and_loads_nothing(tmp_path, capsys, no_load,
                                                                   tiny_suite_env):
    suite = write_suite(tmp_path)
    code = main(["run", str(suite), "--store", str(tmp_path / "store"), "--dry-run",
                 "--trials", "3", "--layers", "0,1", "--settings", "seen,unpatched"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.startswith("  compute")]
    assert len(lines) == 2 and "/seen: " in lines[0] and "/unpatched: " in lines[1]
    assert "x 2 layers patched generations" in lines[0]
    assert "2 unit(s) to compute; nothing was loaded" in out


def test_a_finished_unit_shows_as_done(tmp_path, capsys, tiny_suite_env):
    suite = write_suite(tmp_path)
    store = tmp_path / "store"
    args = ["--trials", "2", "--layers", "0", "--settings", "unpatched"]
    assert main(["run", str(suite), "--store", str(store), "--quiet", *args]) == 0
    capsys.readouterr()
    assert main(["run", str(suite), "--store", str(store), "--dry-run", *args]) == 0
    out = capsys.readouterr().out
    assert "  done    " in out and "0 unit(s) to compute" in out
    assert main(["run", str(suite), "--store", str(store), "--dry-run", "--trials", "3",
                 "--layers", "0", "--settings", "unpatched"]) == 2
    err = capsys.readouterr().err  # other trials: another design, refused before any compute
    assert "another design" in err and "trials 2 -> 3" in err


@pytest.mark.parametrize(("flags", "says"), [
    (["--device", "gpu"], 'did you mean "cuda"'),
    (["--dtype", "float8"], "float8"),
    (["--layers", "0,x"], "comma-separated integers"),
    (["--settings", "sen"], "did you mean 'seen'"),
    (["--trials", "0"], "trials"),
])
def test_a_bad_override_is_one_line_naming_the_fix(tmp_path, capsys, flags, says, no_load):
    suite = write_suite(tmp_path)
    try:
        code = main(["run", str(suite), "--dry-run", *flags])
    except SystemExit as exit_:  # argparse's own type errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1, err


def test_the_report_command_says_what_its_page_holds(tmp_path, capsys, tiny_suite_env):
    """Without verdicts the page says no claim was tested; with verdicts.json it shows them."""
    import json

    suite = write_suite(tmp_path)
    store = tmp_path / "store"
    assert main(["run", str(suite), "--store", str(store), "--quiet", "--trials", "2",
                 "--layers", "0", "--settings", "seen,unpatched"]) == 0
    assert main(["report", str(store), "--out", str(tmp_path / "bare")]) == 0
    assert "results only, no claims tested" in capsys.readouterr().out
    assert "results (no claims tested)" in (tmp_path / "bare" / "index.html").read_text()
    digest = str(load_store(store)["suite_hash"].iloc[0])
    record = {"claim_id": "layer_sensitivity", "case": "seen", "verdict": "inconclusive",
              "effect": 0.1, "ci_low": 0.0, "ci_high": 0.2, "pvalue": 0.5, "n": 2,
              "message": "m", "schema_version": 1, "suite_hash": digest}
    (tmp_path / "verdicts.json").write_text(json.dumps([record]))
    assert main(["report", str(store), "--out", str(tmp_path / "full"), "--verdicts",
                 str(tmp_path / "verdicts.json")]) == 0
    assert "1 verdict(s)" in capsys.readouterr().out
    assert "claim report: store" in (tmp_path / "full" / "index.html").read_text()
    assert main(["report", str(store), "--verdicts", str(tmp_path / "none.json")]) == 2
    assert "--verdicts" in capsys.readouterr().err


def test_check_with_a_store_lists_units_done_and_to_compute(tmp_path, capsys, tiny_suite_env):
    suite = write_suite(tmp_path)
    store = tmp_path / "store"
    assert main(["check", str(suite), "--store", str(store)]) == 0
    before = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert sum(line.startswith("  compute") for line in before) >= 2
    assert main(["run", str(suite), "--store", str(store), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["check", str(suite), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "0 unit(s) to compute" in out and "  compute" not in out and "  done" in out


def test_an_unknown_checkpoint_name_gets_a_did_you_mean(tmp_path, capsys, no_load):
    suite = write_suite(tmp_path)
    assert main(["run", str(suite), "--dry-run", "--checkpoint", "random-lama"]) == 2
    assert "did you mean 'random-llama'?" in capsys.readouterr().err

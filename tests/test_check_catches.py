"""`check` and `run --dry-run` catch what `run` would die of; messages blame the right thing.

Each input here goes through the real CLI entry and must end in one line on stderr (exit 2)
that names the problem and the fix, with nothing written: no store, no report, no code run.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
from _tiny import dump_toml, suite_data, write_suite
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite
from conceptpatch.lexicons import Lexicon
from conceptpatch.sources.random import build_tiny

#: Every test here runs against the session's tiny-suite cache, on one torch thread.
pytestmark = pytest.mark.usefixtures("tiny_suite_env")

SUITES = sorted((Path(__file__).parents[1] / "suites").glob("*.toml"))
#: Code files a custom-code checkpoint ships: running any of them leaves this marker.
MARKER = "code-ran.txt"


def _cli(capsys, *argv: str) -> tuple[int, str]:
    """Run the CLI in-process: (exit status, stderr), the error being exactly one line."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    err = capsys.readouterr().err.strip()
    if code != 0:
        assert len(err.splitlines()) == 1, err
        assert err.startswith("conceptpatch: error: "), err
    return code, err


@pytest.fixture(scope="module")
def model4(tmp_path_factory: pytest.TempPathFactory, tiny_lexicon: Lexicon) -> Path:
    """A saved tiny random Llama of 4 layers (safetensors, config.json, tokenizer files)."""
    return build_tiny("llama", tiny_lexicon, tmp_path_factory.mktemp("m") / "m4", 4, 32)


def _copy(model: Path, target: Path) -> Path:
    shutil.copytree(model, target)
    return target


def _local_suite(tmp: Path, folder: Path, **sections) -> Path:
    """The tiny suite over one local checkpoint folder."""
    data = suite_data(**sections)
    data["model"] = {"checkpoints": [{"name": "c0", "path": str(folder)}], "device": "cpu"}
    path = tmp / "s.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def _code_file(folder: Path, name: str) -> None:
    """A module that, if ever imported, leaves `MARKER` beside itself."""
    (folder / name).write_text(f"open({str(folder / MARKER)!r}, 'w').write('ran')\n")


def _both(capsys, suite: Path, store: Path) -> list[str]:
    """`check` and `run` of ``suite``: both refuse (exit 2) and no store is made."""
    lines = []
    for argv in (["check", str(suite)], ["run", str(suite), "--store", str(store), "--quiet"]):
        code, err = _cli(capsys, *argv)
        assert code == 2, err
        lines.append(err)
    assert not store.exists()
    return lines


def test_a_folder_without_config_json(tmp_path, capsys, model4):
    folder = _copy(model4, tmp_path / "noconf")
    (folder / "config.json").unlink()
    for err in _both(capsys, _local_suite(tmp_path, folder), tmp_path / "store"):
        assert str(folder) in err and "no config.json" in err
        assert "copy the checkpoint's config.json" in err and "internal error" not in err


@pytest.mark.parametrize("layers", ["0,99", "-5"])
def test_dry_run_refuses_layers_out_of_range(tmp_path, capsys, model4, layers):
    suite, store = _local_suite(tmp_path, model4), tmp_path / "store"
    code, err = _cli(capsys, "run", str(suite), "--dry-run", "--layers", layers,
                     "--store", str(store))
    assert code == 2 and "out of range for a model with 4 layers" in err
    assert "use 0..3" in err and not store.exists()


def test_dry_run_of_a_random_suite_refuses_layers_before_it_is_built(tmp_path, capsys):
    suite = write_suite(tmp_path, model={"random_layers": 3, "random_hidden": 40})
    code, err = _cli(capsys, "run", str(suite), "--dry-run", "--layers", "0,7")
    assert code == 2 and "out of range for a model with 3 layers: use 0..2" in err


def test_a_model_type_that_needs_custom_code(tmp_path, capsys, model4):
    folder = _copy(model4, tmp_path / "custom")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "evilnet"
    config["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig",
                          "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (folder / "config.json").write_text(json.dumps(config))
    for name in ("configuration_evil.py", "modeling_evil.py"):
        _code_file(folder, name)
    for err in _both(capsys, _local_suite(tmp_path, folder), tmp_path / "store"):
        assert "'evilnet' needs custom code" in err
        assert "set [model] trust_remote_code = true" in err and "only if you trust" in err
    assert not (folder / MARKER).exists()


def test_a_tokenizer_that_needs_custom_code(tmp_path, capsys, model4):
    folder = _copy(model4, tmp_path / "customtok")
    (folder / "tokenizer.json").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "EvilTokenizer"
    config["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    _code_file(folder, "tokenization_evil.py")
    for err in _both(capsys, _local_suite(tmp_path, folder), tmp_path / "store"):
        assert f"the tokenizer at {str(folder)!r} needs custom code" in err
        assert "no tokenizer at" not in err and "trust_remote_code = true" in err
    assert not (folder / MARKER).exists()


@pytest.mark.parametrize(("option", "value"), [("--trials", "0"), ("--settings", "sen")])
def test_a_bad_override_names_the_option_not_the_suite_file(tmp_path, capsys, option, value):
    suite, store = write_suite(tmp_path), tmp_path / "store"
    code, err = _cli(capsys, "run", str(suite), option, value, "--store", str(store))
    assert code == 2 and f"error: {option} {value}: " in err
    assert "suite file" not in err and not store.exists()


def test_trials_zero_names_the_range_and_the_option(tmp_path, capsys):
    code, err = _cli(capsys, "run", str(write_suite(tmp_path)), "--trials", "0", "--dry-run")
    assert code == 2 and "out of range 1..10000000: fix --trials" in err


def test_cp_alpha_out_of_range_names_the_range(tmp_path, capsys):
    suite, store = write_suite(tmp_path), tmp_path / "store"
    for value in ("1.5", "abc"):
        code, err = _cli(capsys, "claims", str(suite), "--store", str(store), "--report",
                         str(tmp_path / "report"), "--", "--cp-alpha", value)
        assert code == 2, err
        assert f"--cp-alpha {value}: must lie strictly between 0 and 1" in err
    assert not store.exists() and not (tmp_path / "report").exists()


def test_pytest_shows_the_cp_alpha_range():
    """pytest prints an ArgumentTypeError's message as is (a ValueError as "invalid value")."""
    from conceptpatch.pytest_plugin import alpha_arg

    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--cp-alpha", type=alpha_arg)
    with pytest.raises(argparse.ArgumentError, match=r"--cp-alpha 1\.5: must lie strictly "
                                                     r"between 0 and 1"):
        parser.parse_args(["--cp-alpha", "1.5"])
    assert parser.parse_args(["--cp-alpha", "0.01"]).cp_alpha == 0.01


def _small_lexicon(tmp: Path, encoding: str = "utf-8") -> Path:
    """A long CSV of 8 concepts in en, fr, de (56 ordered pairs of distinct concepts)."""
    words = {"dog": ("dog", "chien", "Hund"), "cat": ("cat", "chat", "Katze"),
             "sun": ("sun", "soleil", "Sonne"), "moon": ("moon", "lune", "Mond"),
             "tree": ("tree", "arbre", "Baum"), "fish": ("fish", "poisson", "Fisch"),
             "book": ("book", "livre", "Buch"), "key": ("key", "clé", "Schlüssel")}
    rows = ["concept,language,word"] + [f"{c},{code},{w}" for c, cell in words.items()
                                        for code, w in zip(("en", "fr", "de"), cell, strict=True)]
    path = tmp / "lexicon.csv"
    path.write_text("\n".join(rows) + "\n", encoding=encoding)
    return path


@pytest.mark.parametrize("pairing", ["any", "token_disjoint"])
def test_too_few_pairings_never_suggests_the_pairing_already_set(tmp_path, capsys, pairing):
    code, err = _cli(capsys, "check", str(_lexicon_suite(tmp_path, trials=100, pairing=pairing)))
    assert code == 2 and "only 56 of sample.trials = 100 pairings" in err
    assert "lower sample.trials (or --trials) to 56 or less" in err
    assert 'pairing = "any"' not in err  # no pairing gives more: it would not help


def _lexicon_suite(tmp: Path, encoding: str = "utf-8", **sample) -> Path:
    """The tiny suite over `_small_lexicon` (written with ``encoding``)."""
    _small_lexicon(tmp, encoding)
    data = suite_data(sample=sample)
    data["lexicon"] = {"path": "lexicon.csv"}
    path = tmp / "s.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def test_a_lexicon_csv_with_a_byte_order_mark_reads(tmp_path, capsys):
    """Spreadsheets' "CSV UTF-8" export starts with a BOM; its header is still `concept`."""
    suite = _lexicon_suite(tmp_path, "utf-8-sig", trials=2)
    assert (tmp_path / "lexicon.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert main(["check", str(suite)]) == 0, capsys.readouterr().err
    assert "8 complete concepts" in capsys.readouterr().out


def test_a_suite_file_with_a_byte_order_mark_reads(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(dump_toml(suite_data()), encoding="utf-8-sig")
    code, err = _cli(capsys, "check", str(path))
    assert code == 0, err


@pytest.mark.parametrize("name", ["../../x/escape", "/tmp/conceptpatch-escape", "", "..",
                                  ".hidden", "a/b", "a\\b", "x\ny"])
def test_a_suite_name_that_escapes_is_refused(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    suite = tmp_path / "s.toml"
    suite.write_text(dump_toml(suite_data(name=name)), encoding="utf-8")
    for argv in (["check", str(suite)], ["run", str(suite), "--quiet"],
                 ["claims", str(suite)]):
        code, err = _cli(capsys, *argv)
        assert code == 2, err
        assert "is not a safe folder name" in err
        assert "use letters, digits, inner spaces and . _ - + ( )" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]  # no reports/, nothing
    assert not Path("/tmp/conceptpatch-escape").exists()


def test_a_file_name_that_gives_no_safe_name_says_to_set_one(tmp_path, capsys):
    path = tmp_path / "...toml"  # stem ".."
    path.write_text(dump_toml({k: v for k, v in suite_data().items() if k != "name"}))
    code, err = _cli(capsys, "check", str(path))
    assert code == 2 and "the file name gives name '..'" in err and 'set name = "..."' in err


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_every_shipped_suite_name_is_safe(path):
    assert load_suite(path).name == path.stem

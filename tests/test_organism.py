"""Tests of the organism: recipes, curriculum guarantees, tokenizer, cache layout, determinism."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import multiprocessing as mp
import re
from collections import Counter
from pathlib import Path

import pytest
from conceptpatch.errors import ConceptPatchError
from conceptpatch.organism import RECIPES, ensure_organism, get_recipe, organism_dir
from conceptpatch.organism.cache import cli_train, default_root
from conceptpatch.organism.curriculum import (
    ENGLISH,
    build_curriculum,
    phase_documents,
    translation_line,
)
from conceptpatch.organism.train import checkpoint_steps, phase_corpus, tokenizer_for
from safetensors.torch import load_file

LINE = re.compile(r'^(?P<a>[^:\n]+): "(?P<x>[^"\n]+)" - (?P<b>[^:\n]+): "(?P<y>[^"\n]+)"$')
WORD = re.compile(r"[^\W\d_]+")


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("organism-cache")


@pytest.fixture(scope="module")
def tiny(tiny_root: Path) -> Path:
    return ensure_organism("tiny", 0, root=tiny_root, progress=False)


def _docs(variant: str, phase: int, n: int, seed: int = 0) -> list[tuple[str, str]]:
    recipe = get_recipe(variant)
    curriculum = build_curriculum(recipe, seed)
    return list(itertools.islice(phase_documents(curriculum, recipe, seed, phase), n))


def _pairs(text: str) -> list[tuple[str, str, str, str]]:
    out = []
    for line in text.split("\n"):
        match = LINE.match(line)
        if match:
            out.append((match["a"], match["x"], match["b"], match["y"]))
    return out


def test_unknown_variant_names_the_valid_ones() -> None:
    with pytest.raises(ConceptPatchError, match="no-parallel"):
        get_recipe("defualt")
    with pytest.raises(ConceptPatchError):
        organism_dir("nope", 0)


def test_variants_share_the_token_budget() -> None:
    assert {"default", "tiny", "no-parallel", "no-phase-two"} <= set(RECIPES)
    budgets = {name: r.tokens for name, r in RECIPES.items() if name != "tiny"}
    assert len(set(budgets.values())) == 1, budgets
    assert RECIPES["no-phase-two"].phase_two == RECIPES["default"].phase_one
    assert RECIPES["no-parallel"].phase_one.pivot == RECIPES["no-parallel"].phase_two.pivot == 0


def test_checkpoints_are_log_spaced_over_both_phases() -> None:
    recipe = RECIPES["default"]
    steps = checkpoint_steps(recipe)
    assert len(steps) >= 10
    assert steps[-1] == recipe.steps
    assert recipe.phase_one_steps in steps
    assert steps[2] < recipe.steps / 10, "the first checkpoints must be early"
    gaps = [b - a for a, b in itertools.pairwise(steps[: recipe.n_checkpoints_one])]
    assert gaps == sorted(gaps)
    assert len(checkpoint_steps(RECIPES["tiny"])) >= 4


def test_curriculum_is_deterministic_and_has_no_cognates() -> None:
    recipe = RECIPES["default"]
    a, b = build_curriculum(recipe, 0), build_curriculum(recipe, 0)
    assert a == b
    assert build_curriculum(recipe, 1).words != a.words
    assert len(a.seen) == recipe.n_synthetic_seen + 1 and len(a.unseen) == 1
    assert a.languages[0].code == ENGLISH
    forms = [a.word(c, lang.code) for c in a.concepts for lang in a.languages]
    assert len(forms) == len(set(forms)), "a word form is shared by two concepts or languages"
    assert len({lang.name for lang in a.languages}) == len(a.languages)
    assert len(set(a.topic_of.values())) == recipe.n_topics
    assert a.heldout and a.heldout < set(a.concepts)


def test_only_the_whole_synthetic_word_names_its_concept() -> None:
    """Words come from a small syllable inventory, so a word's tokens before its last one are
    shared by several words (free-form syllables made them unique: the patched last token then
    lost to the word's earlier tokens)."""
    recipe = RECIPES["default"]
    curriculum = build_curriculum(recipe, 0)
    tokenizer = tokenizer_for(curriculum, recipe, 0)
    for lang in curriculum.seen:
        if lang.code == ENGLISH:
            continue
        quoted = [f': "{curriculum.word(c, lang.code)}"' for c in curriculum.concepts]
        tokens = [ids[1:-1] for ids in tokenizer(quoted, add_special_tokens=False).input_ids]
        assert sum(len(t) > 1 for t in tokens) > 0.9 * len(tokens), lang.code
        prefixes = Counter(tuple(t[:-1]) for t in tokens)
        sharing = sum(prefixes[tuple(t[:-1])] for t in tokens) / len(tokens)
        assert sharing >= 2, f"{lang.code}: a word's first tokens name it alone ({sharing:.1f})"


def test_an_exhausted_syllable_inventory_is_an_error_not_a_hang() -> None:
    recipe = dataclasses.replace(
        RECIPES["default"], syllables_per_language=3, word_syllables=(2, 2)
    )
    with pytest.raises(ConceptPatchError, match="raise syllables_per_language"):
        build_curriculum(recipe, 0)
    too_many = dataclasses.replace(RECIPES["default"], syllables_per_language=10_000)
    with pytest.raises(ConceptPatchError, match="lower syllables_per_language"):
        build_curriculum(too_many, 0)


@pytest.mark.parametrize("phase", [1, 2])
def test_unseen_language_never_in_training_text(phase: int) -> None:
    curriculum = build_curriculum(RECIPES["default"], 0)
    unseen = curriculum.unseen[0]
    words = {curriculum.word(c, unseen.code) for c in curriculum.concepts}
    for _, text in _docs("default", phase, 3000):
        assert unseen.name not in text
        assert not words & set(WORD.findall(text))


@pytest.mark.parametrize("phase", [1, 2])
def test_heldout_concepts_never_in_translation_lines(phase: int) -> None:
    curriculum = build_curriculum(RECIPES["default"], 0)
    held = {curriculum.word(c, lang.code) for c in curriculum.heldout for lang in curriculum.seen}
    mono_words: set[str] = set()
    for kind, text in _docs("default", phase, 3000):
        if kind == "monolingual":
            mono_words.update(WORD.findall(text))
            continue
        pairs = _pairs(text)
        assert len(pairs) == len(text.split("\n")), "a translation line is not in prompt format"
        for _, x, _, y in pairs:
            assert x not in held and y not in held
    assert held & mono_words, "held-out concepts still occur in monolingual documents"


def test_phase_two_adds_non_english_pairs_and_phase_one_has_none() -> None:
    names = {lang.name for lang in build_curriculum(RECIPES["default"], 0).seen}
    one = [p for kind, t in _docs("default", 1, 3000) if kind != "monolingual" for p in _pairs(t)]
    two = [p for kind, t in _docs("default", 2, 3000) if kind != "monolingual" for p in _pairs(t)]
    assert one and all("English" in (a, b) for a, _, b, _ in one)
    assert all(a in names and b in names for a, _, b, _ in one + two)
    assert any("English" not in (a, b) for a, _, b, _ in two)
    kinds = {kind for kind, _ in _docs("no-phase-two", 2, 2000)}
    assert "multiway" not in kinds


def test_no_parallel_has_no_translation_lines() -> None:
    for phase in (1, 2):
        for kind, text in _docs("no-parallel", phase, 2000):
            assert kind == "monolingual" and '"' not in text


def test_translation_line_is_the_prompt_format() -> None:
    curriculum = build_curriculum(RECIPES["default"], 0)
    code = curriculum.seen[1].code
    line = translation_line(curriculum, "dog", ENGLISH, code)
    assert line == f'English: "dog" - {curriculum.seen[1].name}: "{curriculum.word("dog", code)}"'


def test_tiny_training_corpus_respects_the_curriculum() -> None:
    recipe = RECIPES["tiny"]
    curriculum = build_curriculum(recipe, 0)
    tokenizer = tokenizer_for(curriculum, recipe, 0)
    unseen = {curriculum.word(c, lang.code) for c in curriculum.concepts
              for lang in curriculum.unseen}
    for phase in (1, 2):
        corpus = phase_corpus(curriculum, recipe, 0, phase, tokenizer, 16)
        assert corpus.blocks.shape == (16, recipe.seq_len)
        for text in corpus.documents:
            assert not unseen & set(WORD.findall(text))
    # a synthetic word spans several tokens and tokenizes alike after a quote and a space
    word = curriculum.word(curriculum.concepts[0], curriculum.seen[1].code)
    ids = tokenizer(word, add_special_tokens=False).input_ids
    assert len(ids) >= 2
    assert tokenizer(f'x: "{word}"', add_special_tokens=False).input_ids[-len(ids) - 1:-1] == ids
    assert tokenizer(f"x {word}.", add_special_tokens=False).input_ids[-len(ids) - 1:-1] == ids


def test_tiny_layout(tiny: Path, tiny_root: Path) -> None:
    from transformers import AutoTokenizer, LlamaForCausalLM

    assert tiny.parent == tiny_root
    assert re.fullmatch(r"tiny-seed0-[0-9a-f]{10}", tiny.name)
    manifest = json.loads((tiny / "manifest.json").read_text())
    assert manifest["variant"] == "tiny" and manifest["seed"] == 0
    assert manifest["recipe"]["steps"] == RECIPES["tiny"].steps
    assert [lang["seen"] for lang in manifest["languages"]].count(False) == 1
    assert manifest["heldout_concepts"] and manifest["train_seconds"] > 0
    ckpts = manifest["checkpoints"]
    assert len(ckpts) >= 4 and {c["phase"] for c in ckpts} == {1, 2}
    assert [c["step"] for c in ckpts] == sorted(c["step"] for c in ckpts)
    for c in ckpts:
        path = tiny / c["path"]
        assert c["name"] == f"step_{c['step']:06d}" == path.name
        assert c["tokens"] == c["step"] * RECIPES["tiny"].batch_size * RECIPES["tiny"].seq_len
        info = json.loads((path / "conceptpatch.json").read_text())
        assert (info["step"], info["tokens"], info["phase"]) == (c["step"], c["tokens"], c["phase"])
        assert (path / "model.safetensors").is_file()
    last = tiny / ckpts[-1]["path"]
    tokenizer = AutoTokenizer.from_pretrained(last)
    model = LlamaForCausalLM.from_pretrained(last)
    assert model.config.num_hidden_layers == RECIPES["tiny"].n_layers
    assert tokenizer("a").input_ids[0] == tokenizer.bos_token_id
    with open(tiny / "lexicon.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {"concept", "language", "word"} <= set(rows[0])
    codes = {lang["code"] for lang in manifest["languages"]}
    assert {r["language"] for r in rows} == codes
    assert len(rows) == len(codes) * len({r["concept"] for r in rows})


def test_tiny_lexicon_loads_with_the_engine(tiny: Path) -> None:
    lexicon_mod = pytest.importorskip("conceptpatch.lexicons")
    manifest = json.loads((tiny / "manifest.json").read_text())
    names = {lang["code"]: lang["name"] for lang in manifest["languages"]}
    lexicon = lexicon_mod.load_long_csv(tiny / "lexicon.csv", names=names)
    assert {lang.code for lang in lexicon.languages} == set(names)
    assert lexicon.reference("dog", "en") == "dog"


def test_cached_organism_is_reused(tiny: Path, tiny_root: Path) -> None:
    stamp = (tiny / "manifest.json").stat().st_mtime_ns
    assert ensure_organism("tiny", 0, root=tiny_root, progress=False) == tiny
    assert (tiny / "manifest.json").stat().st_mtime_ns == stamp
    assert not [p for p in tiny_root.iterdir() if p.name.startswith(".")], "temp dir left behind"


def test_default_root_follows_the_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tmp_path))
    assert default_root() == tmp_path / "organism"
    assert organism_dir("tiny", 3).parent == tmp_path / "organism"
    assert organism_dir("tiny", 3) != organism_dir("tiny", 4)
    assert organism_dir("tiny", 3) != organism_dir("no-parallel", 3)


def test_tiny_trains_deterministically(tiny: Path, tmp_path: Path) -> None:
    again = cli_train("tiny", 0, tmp_path / "again", progress=False)
    first = json.loads((tiny / "manifest.json").read_text())["checkpoints"]
    second = json.loads((again / "manifest.json").read_text())["checkpoints"]
    assert [c["name"] for c in first] == [c["name"] for c in second]
    for a, b in zip(first, second, strict=True):
        left = (tiny / a["path"] / "model.safetensors").read_bytes()
        right = (again / b["path"] / "model.safetensors").read_bytes()
        assert left == right, f"weights differ at {a['name']}"
        left_tok = (tiny / a["path"] / "tokenizer.json").read_text()
        assert left_tok == (again / b["path"] / "tokenizer.json").read_text()
    weights = load_file(tiny / first[0]["path"] / "model.safetensors")
    later = load_file(tiny / first[-1]["path"] / "model.safetensors")
    assert any(not weights[k].equal(later[k]) for k in weights), "training did not move weights"


def _ensure(root: str) -> str:
    return str(ensure_organism("tiny", 1, root=Path(root), progress=False))


@pytest.mark.slow
def test_two_processes_train_once(tmp_path: Path) -> None:
    with mp.get_context("spawn").Pool(2) as pool:
        a, b = pool.map(_ensure, [str(tmp_path)] * 2)
    assert a == b
    dirs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert [p.name for p in dirs] == [Path(a).name]


def test_training_runs_with_kernels_every_cpu_runs_alike(tmp_path, monkeypatch):
    """The organism trains in a child under `PORTABLE_ENV`, whatever the caller's kernels: the
    same weights with and without a machine-specific ATen capability in the caller's env."""
    from conceptpatch.organism.portable import PORTABLE_ENV, portable_env

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert all(portable_env()[k] == v for k, v in PORTABLE_ENV.items())
    pinned = cli_train("tiny", 0, tmp_path / "pinned", progress=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    plain = cli_train("tiny", 0, tmp_path / "plain", progress=False)
    weights = sorted(p.relative_to(pinned) for p in pinned.rglob("*.safetensors"))
    assert weights
    for rel in weights:
        assert (pinned / rel).read_bytes() == (plain / rel).read_bytes()

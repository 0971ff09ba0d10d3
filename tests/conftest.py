"""Shared fixtures of the engine tests: a tiny lexicon, tiny random models of four architectures.

Models are built once per session into a temporary folder with
`conceptpatch.sources.random.build_tiny` and loaded in float64 through
`conceptpatch.engine.checkpoints.load_checkpoint`, so float noise never flips an argmax; the
conceptpatch cache points at a temporary folder so no test touches the user's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conceptpatch.engine.checkpoints import LoadedModel, load_checkpoint
from conceptpatch.lexicons import Lexicon, load_long_csv
from conceptpatch.paths import ENV_CACHE
from conceptpatch.prompts import Pair, Prompt, build_prompt, sample_examples
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.random import build_tiny

#: Architectures the engine tests build tiny random models of.
TINY_ARCHITECTURES = ("llama", "gpt2", "gpt_neox", "olmo2")

#: concept -> {language: words (reference first)}; a few cells carry synonyms.
TINY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "dog": {"en": ("dog", "hound"), "fr": ("chien", "toutou"), "de": ("Hund",), "ru": ("собака",)},
    "cat": {"en": ("cat",), "fr": ("chat",), "de": ("Katze",), "ru": ("кошка",)},
    "house": {"en": ("house",), "fr": ("maison",), "de": ("Haus",), "ru": ("дом",)},
    "tree": {"en": ("tree",), "fr": ("arbre",), "de": ("Baum",), "ru": ("дерево",)},
    "water": {"en": ("water",), "fr": ("eau",), "de": ("Wasser",), "ru": ("вода",)},
    "sun": {"en": ("sun",), "fr": ("soleil",), "de": ("Sonne",), "ru": ("солнце",)},
    "moon": {"en": ("moon",), "fr": ("lune",), "de": ("Mond",), "ru": ("луна",)},
    "book": {"en": ("book",), "fr": ("livre",), "de": ("Buch",), "ru": ("книга",)},
    "apple": {"en": ("apple",), "fr": ("pomme",), "de": ("Apfel",), "ru": ("яблоко",)},
    "bird": {"en": ("bird",), "fr": ("oiseau",), "de": ("Vogel",), "ru": ("птица",)},
    "fish": {"en": ("fish",), "fr": ("poisson",), "de": ("Fisch",), "ru": ("рыба",)},
    "car": {"en": ("car", "automobile"), "fr": ("voiture",), "de": ("Auto",), "ru": ("машина",)},
    "hand": {"en": ("hand",), "fr": ("main",), "de": ("Hand",), "ru": ("рука",)},
    "fire": {"en": ("fire",), "fr": ("feu",), "de": ("Feuer",), "ru": ("огонь",)},
    "star": {"en": ("star",), "fr": ("étoile",), "de": ("Stern",), "ru": ("звезда",)},
    "key": {"en": ("key",), "fr": ("clé",), "de": ("Schlüssel",), "ru": ("ключ",)},
    "bread": {"en": ("bread",), "fr": ("pain",), "de": ("Brot",), "ru": ("хлеб",)},
    "horse": {"en": ("horse",), "fr": ("cheval",), "de": ("Pferd",), "ru": ("лошадь",)},
    "mouse": {"en": ("mouse",), "fr": ("souris",), "de": ("Maus",), "ru": ("мышь",)},
    "flower": {"en": ("flower",), "fr": ("fleur",), "de": ("Blume",), "ru": ("цветок",)},
}
TINY_CODES = ("en", "fr", "de", "ru")


@pytest.fixture(scope="session", autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory):
    """One torch thread (2 shared cores) and a private conceptpatch cache for the whole session."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_CACHE, str(tmp_path_factory.mktemp("conceptpatch-cache")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield
    torch.set_num_threads(threads)


def write_long_csv(path: Path, words: dict[str, dict[str, tuple[str, ...]]]) -> Path:
    """Write ``words`` as a long CSV (concept,language,word), reference rows first."""
    lines = ["concept,language,word"]
    for concept, row in words.items():
        for code, cell in row.items():
            lines.extend(f"{concept},{code},{word}" for word in cell)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_lexicon(tmp_path_factory: pytest.TempPathFactory) -> Lexicon:
    """A 20-concept lexicon in English, French, German and Russian, loaded from a long CSV."""
    path = write_long_csv(tmp_path_factory.mktemp("lexicon") / "tiny.csv", TINY_WORDS)
    return load_long_csv(path, name="tiny")


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory, tiny_lexicon: Lexicon) -> dict[str, Path]:
    """Saved tiny random checkpoints (3 layers, hidden 32), one per architecture."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        arch: build_tiny(arch, tiny_lexicon, root / arch, layers=3, hidden=32, seed=1)
        for arch in TINY_ARCHITECTURES
    }


@pytest.fixture(scope="session")
def tiny_models(tiny_dirs: dict[str, Path]) -> dict[str, LoadedModel]:
    """The tiny checkpoints loaded in float64 on CPU (left padding, as the engine sets)."""
    return {
        arch: load_checkpoint(Checkpoint(arch, path=str(path)), dtype="float64")
        for arch, path in tiny_dirs.items()
    }


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes ``arch`` runs once per tiny architecture."""
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", TINY_ARCHITECTURES)


@pytest.fixture(scope="session")
def make_prompts(tiny_lexicon: Lexicon) -> Callable[..., list[Prompt]]:
    """`random_prompts` over the tiny lexicon: ``make_prompts(seed, n, k=2, concepts=None)``."""
    return functools.partial(random_prompts, tiny_lexicon)


def random_prompts(
    lexicon: Lexicon, seed: int, n: int, k: int = 2, concepts: tuple[str, ...] | None = None
) -> list[Prompt]:
    """``n`` seeded k-shot prompts over random pairs of ``TINY_CODES`` (distinct languages)."""
    rng = np.random.default_rng(seed)
    pool = concepts or lexicon.concepts
    prompts = []
    for _ in range(n):
        a, b = rng.choice(len(TINY_CODES), size=2, replace=False)
        concept = pool[int(rng.integers(len(pool)))]
        examples = sample_examples(lexicon.concepts, k, [concept], rng)
        pair = Pair(TINY_CODES[int(a)], TINY_CODES[int(b)])
        prompts.append(build_prompt(lexicon, concept, pair, examples))
    return prompts


@pytest.fixture(scope="session")
def tiny_suite_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conceptpatch cache holding the tiny model of `_tiny.SUITE`, built once per session."""
    from _tiny import SUITE
    from conceptpatch.config.suite import parse_suite
    from conceptpatch.resolve import resolve

    root = tmp_path_factory.getbasetemp() / "conceptpatch-cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_CACHE, str(root))
        resolve(parse_suite(SUITE))
    return root


@pytest.fixture
def tiny_suite_env(tiny_suite_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``CONCEPTPATCH_CACHE`` at the tiny-suite cache and use one torch thread."""
    monkeypatch.setenv(ENV_CACHE, str(tiny_suite_cache))
    torch.set_num_threads(1)
    return tiny_suite_cache

"""Named organism recipes: every knob of curriculum, tokenizer, model and training, frozen.

Variants share one token budget (``steps * batch_size * seq_len``) except ``tiny``, so that the
controls differ from ``default`` in the data alone:

- ``default``: phase 1 = monolingual topic documents + English-pivoted translation documents;
  phase 2 (the last ``phase_two_fraction`` of the steps) adds multi-way parallel documents between
  non-English pairs, like the paper's second phase.
- ``no-parallel``: negative control, no translation line anywhere, only monolingual documents.
- ``no-phase-two``: phase two continues the phase-one mix (alignment vs more data).
- ``tiny``: a few-second organism for the library's tests (two phases, >= 4 checkpoints).

Default model: a 6-layer Llama, hidden 128 (about 1.6M parameters), 900 steps of 32 x 128
tokens (3.7M tokens), three quarters phase one; 120 concepts in 12 topics, words of 2-3
syllables from 16 per language, a 512-token BPE. What was measured on the way (seed 0, 40 trials
per output language, exact at the best layer of step 900, the paper's ``last`` position):

- 200 concepts, free-form syllables, 1024-token BPE (the first default, 100 trials): 0.14,
  layers 0-1 only.
- 200 concepts from a 16-syllable inventory, 512-token BPE: 0.04 (translation learnt later).
- 120 concepts, 16 syllables, 512 tokens (this default): 0.30 at layer 0, 0.17 at layer 1,
  0.02 from layer 2 on; translation ability appears between steps 180 and 435.
- the same with 3-syllable words from 8 syllables: 0.08; with 8 layers x 112: 0.20, falling
  to 0.04 at layer 3, and 20 minutes of training.

Issue 14's recipe search (the variants in `SEARCH`, each with its two controls; seed 0, step 900,
the paper's ``last`` position, setting ``seen``, 100 trials per seen output language; read depth
from the ``word``/``self`` patch, `conceptpatch.readdepth`; measured with
`conceptpatch.organism.search`; docs/organism.md has the table; the default: 0.30 / 0.17 / 0.02 / 0
from layers 0-3, reads at 2/6): the seven-format mix alone keeps the band at layers 0-1
(0.32 / 0.31 / 0.06); 30 cross-language homographs per language raise layers 2-3 to 0.14 / 0.06
and read at 3/6 with translation intact, and with the seven formats patch at 0.27 from layers 0,
1 and 2 and read at 4/6 -- but on seed 1 neither gain holds (layers 2-3: 0.04 / 0.02 and
0.04 / 0.02; homographs seed 2: 0.05 / 0.01, reads at 2/6), so neither became the default;
12 layers x 80 (with the seven formats) is undertrained in this budget (0.11 at layer 0, 0.05 at
layer 3 of 12).

The issue's prototype found 12 layers undertrained in this budget. ``threads = 1``: CPU float
reductions depend on the thread count, so it is fixed for determinism, and one thread is
several times faster than two on a machine whose cores are shared.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from conceptpatch.errors import ConceptPatchError


class UnknownVariantError(ConceptPatchError):
    """An organism variant name is not one of the built-in recipes."""


@dataclass(frozen=True)
class Mix:
    """Share of documents of each kind in one data phase (normalised when sampling)."""

    monolingual: float = 0.4
    pivot: float = 0.6
    multiway: float = 0.0


@dataclass(frozen=True)
class Recipe:
    """Everything that determines an organism's weights, given its seed."""

    # curriculum
    n_topics: int = 12
    words_per_topic: int = 10
    n_synthetic_seen: int = 4
    heldout_per_topic: int = 1
    syllables_per_language: int = 16
    word_syllables: tuple[int, int] = (2, 3)
    successors: int = 3
    walk_stay: float = 0.85
    sentence_words: tuple[int, int] = (4, 8)
    doc_sentences: tuple[int, int] = (2, 5)
    doc_lines: tuple[int, int] = (4, 9)
    phase_one: Mix = field(default_factory=lambda: Mix(0.4, 0.6, 0.0))
    phase_two: Mix = field(default_factory=lambda: Mix(0.3, 0.25, 0.45))
    formats: tuple[str, ...] = ("line",)  # renderings of translation documents (curriculum.FORMATS)
    homographs: int = 0  # concepts per seen synthetic language given another language's form
    # tokenizer
    vocab_size: int = 512
    tokenizer_docs: int = 20000
    # model
    n_layers: int = 6
    hidden_size: int = 128
    intermediate_size: int = 512
    n_heads: int = 4
    # training
    seq_len: int = 128
    batch_size: int = 32
    steps: int = 900
    phase_two_fraction: float = 0.25
    lr: float = 3e-3
    warmup_steps: int = 45
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    n_checkpoints_one: int = 9
    n_checkpoints_two: int = 3
    first_checkpoint: int = 20
    threads: int = 1

    @property
    def tokens(self) -> int:
        """Training tokens: steps x batch x sequence length (the budget variants share)."""
        return self.steps * self.batch_size * self.seq_len

    @property
    def phase_one_steps(self) -> int:
        """Steps of phase one; the rest belong to phase two."""
        return self.steps - round(self.steps * self.phase_two_fraction)

    def to_dict(self) -> dict:
        """Plain JSON-able form (for the manifest and the recipe hash)."""
        return dataclasses.asdict(self)


def no_parallel(recipe: Recipe) -> Recipe:
    """The negative control of a recipe: the same budget, no translation document at all."""
    return dataclasses.replace(recipe, phase_one=Mix(1.0, 0.0, 0.0), phase_two=Mix(1.0, 0.0, 0.0))


def no_phase_two(recipe: Recipe) -> Recipe:
    """The phase-two control of a recipe: phase two continues the phase-one mix."""
    return dataclasses.replace(recipe, phase_two=recipe.phase_one)


#: Every translation format but code-switching (the organism notes' seven-format control).
SEVEN_FORMATS = ("line", "glossary", "list", "bracket", "prose", "parallel", "bilingual")

DEFAULT = Recipe()

#: Variants of the recipe search (issue 14), each with its two controls (``<name>-no-parallel``,
#: ``<name>-no-phase-two``): the same change applied to the control recipes.
SEARCH: dict[str, Recipe] = {
    "formats7": dataclasses.replace(DEFAULT, formats=SEVEN_FORMATS),
    "formats8": dataclasses.replace(DEFAULT, formats=(*SEVEN_FORMATS, "switch")),
    "homographs": dataclasses.replace(DEFAULT, homographs=30),
    "deep12": dataclasses.replace(
        DEFAULT, n_layers=12, hidden_size=80, intermediate_size=320, warmup_steps=90
    ),
}
#: Sentence-level translation only beside the prompt's lines (parallel sentences, bilingual
#: passages, code-switching): the word must be found by its place in an aligned sentence.
SEARCH["sentences"] = dataclasses.replace(
    DEFAULT, formats=("line", "parallel", "bilingual", "switch")
)
SEARCH["formats7-homographs"] = dataclasses.replace(SEARCH["formats7"], homographs=30)
SEARCH["formats7-deep12"] = dataclasses.replace(
    SEARCH["deep12"], formats=SEVEN_FORMATS
)

RECIPES: dict[str, Recipe] = {
    "default": DEFAULT,
    "no-parallel": no_parallel(DEFAULT),
    "no-phase-two": no_phase_two(DEFAULT),
    "tiny": dataclasses.replace(
        DEFAULT,
        n_topics=4,
        words_per_topic=10,
        n_synthetic_seen=2,
        vocab_size=400,
        tokenizer_docs=1500,
        n_layers=2,
        hidden_size=32,
        intermediate_size=64,
        n_heads=2,
        seq_len=64,
        batch_size=8,
        steps=60,
        warmup_steps=5,
        n_checkpoints_one=3,
        n_checkpoints_two=2,
        first_checkpoint=5,
    ),
}
for _name, _recipe in SEARCH.items():
    RECIPES[_name] = _recipe
    RECIPES[f"{_name}-no-parallel"] = no_parallel(_recipe)
    RECIPES[f"{_name}-no-phase-two"] = no_phase_two(_recipe)


def get_recipe(variant: str) -> Recipe:
    """The recipe of a named variant; raises `UnknownVariantError` naming the valid ones."""
    try:
        return RECIPES[variant]
    except KeyError:
        import difflib

        valid = ", ".join(sorted(RECIPES))
        close = difflib.get_close_matches(str(variant), list(RECIPES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownVariantError(
            f"unknown organism variant {variant!r}{hint}: use one of {valid}"
        ) from None

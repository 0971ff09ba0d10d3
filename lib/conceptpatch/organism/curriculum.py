"""The organism's curriculum: synthetic languages, a concept graph, the documents of both phases.

Design choices (and why):

- **Synthetic languages** beside English. Real CLDR words share forms across European languages
  (cognates), which makes ``copy`` and ``exact`` the same answer; generated word forms have no
  cognates, and each language gets its own phonotactics and a native-looking display name, so
  languages are told apart by form alone. Codes come from ISO 639-2's private-use range
  ``qaa``-``qtz``.
- **Words from a small syllable inventory** (``syllables_per_language``, 16 by default): every
  syllable, and so every sub-word token, starts or ends many words, and only the whole word names
  a concept. Free-form syllables made the first tokens of a word identify it on their own, so a
  reader could take the word from them and the paper's last-token patch left the word in place.
- **Concepts in topical clusters** (built-in English nouns, ten per topic), linked by a
  language-independent **concept graph**: every concept has a few fixed successors in its topic.
  Monolingual documents are random walks on that graph rendered in one language, so the word's
  last token must predict concept-level content (which concept comes next) in every language;
  the same graph in every language is what makes a shared concept space pay off.
- **Translation documents** are lines in exactly the prompt format of the contract
  (``Name: "word" - Name: "word"``), one language pair per document, like a few-shot prompt.
  Phase one pivots through English in both directions; phase two adds non-English pairs
  (multi-way parallel data, like the paper's second phase). Some concepts (``heldout``) never
  occur in any translation line, only in monolingual documents.
- **One unseen language**: its words are generated but never occur in training text (its name
  never does either), so patching into it tests the paper's unseen-language claim.
- **Translation formats** (``Recipe.formats``, the recipe search of issue 14): by default every
  translation document is prompt-format lines; a recipe may render each document in one of several
  `FORMATS` instead (glossary entries, word lists, bracketed pairs, prose, parallel sentences,
  bilingual passages, code-switched sentences), so translation is learnt in many surface forms.
  A one-format recipe draws nothing extra from the stream, so the default's documents are
  unchanged.
- **Cross-language homographs** (``Recipe.homographs``): a recipe may give some concepts of a seen
  synthetic language the word form of an unrelated concept (another topic) of another seen
  language, so which concept a form names is known only with its language from the context.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conceptpatch.errors import ConceptPatchError
from conceptpatch.organism.recipes import Mix, Recipe
from conceptpatch.organism.words import TOPICS

ENGLISH = "en"
LINE_TEMPLATE = '{input_name}: "{input_word}" - {output_name}: "{output_word}"'

_CONSONANTS = ("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "w",
               "j", "sh", "th", "ch", "kh", "ts")
_VOWELS = ("a", "e", "i", "o", "u", "y", "á", "é", "ó", "ö", "ü", "ai", "ou", "ei")
_STRUCTURES = ("CV", "CVC", "V", "VC", "CCV")
_MAX_DRAWS = 10_000  # attempts at a new word form before the inventory counts as exhausted


@dataclass(frozen=True)
class OrganismLanguage:
    """A language of the organism: code, native display name, and whether training sees it."""

    code: str
    name: str
    seen: bool


@dataclass(frozen=True)
class Curriculum:
    """Languages, concepts, word forms and concept graph of one organism (a pure function of
    recipe and seed)."""

    languages: tuple[OrganismLanguage, ...]
    concepts: tuple[str, ...]
    topic_of: dict[str, str]
    words: dict[tuple[str, str], str]
    successors: dict[str, tuple[str, ...]]
    heldout: frozenset[str]

    @property
    def seen(self) -> tuple[OrganismLanguage, ...]:
        """The languages that occur in training text."""
        return tuple(lang for lang in self.languages if lang.seen)

    @property
    def unseen(self) -> tuple[OrganismLanguage, ...]:
        """The languages whose words never occur in training text."""
        return tuple(lang for lang in self.languages if not lang.seen)

    @property
    def topics(self) -> dict[str, tuple[str, ...]]:
        """Topic -> its concepts, in concept order."""
        out: dict[str, list[str]] = {}
        for concept in self.concepts:
            out.setdefault(self.topic_of[concept], []).append(concept)
        return {topic: tuple(cs) for topic, cs in out.items()}

    @property
    def translatable(self) -> tuple[str, ...]:
        """Concepts that occur in translation lines (all but the held-out ones)."""
        return tuple(c for c in self.concepts if c not in self.heldout)

    def word(self, concept: str, code: str) -> str:
        """The (only, reference) word of a concept in a language."""
        return self.words[concept, code]

    def language(self, code: str) -> OrganismLanguage:
        """The language with this code."""
        return next(lang for lang in self.languages if lang.code == code)


class _Phonology:
    """A seeded sound system: consonants, vowels and syllable shapes of one language, and a small
    inventory of syllables from which the language builds its words."""

    def __init__(self, rng: random.Random, n_syllables: int) -> None:
        self.consonants = rng.sample(_CONSONANTS, rng.randint(7, 10))
        self.vowels = rng.sample(_VOWELS, rng.randint(3, 5))
        self.structures = rng.sample(_STRUCTURES, 3)
        self.rng = rng
        inventory: set[str] = set()
        for _ in range(_MAX_DRAWS):
            if len(inventory) == n_syllables:
                break
            syllable = self.syllable()
            if len(syllable) >= 2:
                inventory.add(syllable)
        else:
            raise ConceptPatchError(
                f"organism recipe: a language's sounds give {len(inventory)} distinct syllables,"
                f" not {n_syllables}: lower syllables_per_language"
            )
        self.inventory = sorted(inventory)

    def syllable(self) -> str:
        shape = self.rng.choice(self.structures)
        return "".join(
            self.rng.choice(self.consonants if ch == "C" else self.vowels) for ch in shape
        )

    def word(self, n_syllables: int) -> str:
        """A word of n syllables drawn from the inventory (so each syllable is shared by many
        words and only the whole word, read at its last token, names one concept)."""
        return "".join(self.rng.choice(self.inventory) for _ in range(n_syllables))


def _private_codes(n: int) -> list[str]:
    """ISO 639-2 private-use codes qaa, qab, ...: synthetic languages are nobody's real code."""
    return [f"q{chr(ord('a') + i // 26)}{chr(ord('a') + i % 26)}" for i in range(n)]


def build_curriculum(recipe: Recipe, seed: int) -> Curriculum:
    """The curriculum of an organism: deterministic in (recipe, seed)."""
    rng = random.Random(f"conceptpatch-organism-{seed}")
    topic_names = list(TOPICS)[: recipe.n_topics]
    concepts: list[str] = []
    topic_of: dict[str, str] = {}
    for topic in topic_names:
        for concept in TOPICS[topic][: recipe.words_per_topic]:
            concepts.append(concept)
            topic_of[concept] = topic
    taken = set(concepts) | {w for ws in TOPICS.values() for w in ws}
    n_synth = recipe.n_synthetic_seen + 1
    languages = [OrganismLanguage(ENGLISH, "English", True)]
    words = {(c, ENGLISH): c for c in concepts}
    taken_names = {"English"}
    for i, code in enumerate(_private_codes(n_synth)):
        phon = _Phonology(random.Random(f"conceptpatch-organism-{seed}-lang-{i}"),
                          recipe.syllables_per_language)
        name = ""
        while not name or name in taken_names or len(name) < 5:
            name = (phon.word(2) + rng.choice(("i", "a", "an", "ish", "ese"))).capitalize()
        taken_names.add(name)
        languages.append(OrganismLanguage(code, name, seen=i < recipe.n_synthetic_seen))
        for concept in concepts:
            form = ""
            for _ in range(_MAX_DRAWS):
                form = phon.word(phon.rng.randint(*recipe.word_syllables))
                if form not in taken and len(form) >= 4:
                    break
            else:
                raise ConceptPatchError(
                    f"organism recipe: {recipe.syllables_per_language} syllables in words of"
                    f" {recipe.word_syllables} syllables cannot give {len(concepts)} distinct"
                    " words per language: raise syllables_per_language or word_syllables"
                )
            taken.add(form)
            words[concept, code] = form
    if recipe.homographs:
        _add_homographs(recipe, seed, concepts, topic_of, languages, words)
    successors = {}
    heldout: set[str] = set()
    for topic in topic_names:
        members = [c for c in concepts if topic_of[c] == topic]
        for concept in members:
            others = [c for c in members if c != concept]
            successors[concept] = tuple(rng.sample(others, min(recipe.successors, len(others))))
        heldout.update(rng.sample(members, recipe.heldout_per_topic))
    return Curriculum(
        languages=tuple(languages),
        concepts=tuple(concepts),
        topic_of=topic_of,
        words=words,
        successors=successors,
        heldout=frozenset(heldout),
    )


def _add_homographs(recipe: Recipe, seed: int, concepts: list[str], topic_of: dict[str, str],
                   languages: list[OrganismLanguage], words: dict[tuple[str, str], str]) -> None:
    """Give ``recipe.homographs`` concepts of each seen synthetic language (but the first) the
    form of an unrelated concept (another topic) of an earlier seen synthetic language; in place.

    Its own seeded stream, so a recipe without homographs draws nothing from it. Forms stay unique
    within a language, and a form is shared by two languages at most.
    """
    rng = random.Random(f"conceptpatch-organism-{seed}-homographs")
    synth = [lang.code for lang in languages if lang.seen and lang.code != ENGLISH]
    shared: set[str] = set()
    for i, code in enumerate(synth[1:], start=1):
        own = {words[c, code] for c in concepts}
        for concept in rng.sample(concepts, min(recipe.homographs, len(concepts))):
            other = rng.choice(synth[:i])
            options = [c for c in concepts
                       if topic_of[c] != topic_of[concept] and words[c, other] not in own
                       and words[c, other] not in shared]
            if not options or words[concept, code] in shared:
                continue
            form = words[rng.choice(options), other]
            shared.update((form, words[concept, code]))
            own.discard(words[concept, code])
            own.add(form)
            words[concept, code] = form


def translation_line(curriculum: Curriculum, concept: str, src: str, dst: str) -> str:
    """One line in the contract's prompt format, translating a concept from src to dst."""
    return LINE_TEMPLATE.format(
        input_name=curriculum.language(src).name,
        input_word=curriculum.word(concept, src),
        output_name=curriculum.language(dst).name,
        output_word=curriculum.word(concept, dst),
    )


def monolingual_document(curriculum: Curriculum, recipe: Recipe, rng: random.Random,
                         code: str) -> str:
    """Sentences of one topic in one language: random walks on the concept graph."""
    topic = rng.choice(sorted(curriculum.topics))
    members = curriculum.topics[topic]
    sentences = []
    for _ in range(rng.randint(*recipe.doc_sentences)):
        concept = rng.choice(members)
        walk = [concept]
        for _ in range(rng.randint(*recipe.sentence_words) - 1):
            if rng.random() < recipe.walk_stay:
                concept = rng.choice(curriculum.successors[concept])
            else:
                concept = rng.choice(members)
            walk.append(concept)
        sentences.append(" ".join(curriculum.word(c, code) for c in walk) + ".")
    return " ".join(sentences)


def translation_document(curriculum: Curriculum, recipe: Recipe, rng: random.Random,
                         src: str, dst: str) -> str:
    """A translation document of one language pair, over concepts that are not held out: lines
    in the prompt format, or one of the recipe's `FORMATS` drawn per document."""
    if len(recipe.formats) > 1 or recipe.formats[0] != "line":
        fmt = recipe.formats[0] if len(recipe.formats) == 1 else rng.choice(recipe.formats)
        return _RENDERERS[fmt](curriculum, recipe, rng, src, dst)
    pool = curriculum.translatable
    n = rng.randint(*recipe.doc_lines)
    return "\n".join(translation_line(curriculum, c, src, dst) for c in rng.sample(pool, n))


_PROSE = (
    'the {a} word "{x}" means "{y}" in {b}.',
    'in {b}, "{x}" is "{y}".',
    '"{x}" ({a}) translates to "{y}" ({b}).',
    '{b} for "{x}" is "{y}".',
)


def _word_pairs(curriculum: Curriculum, recipe: Recipe, rng: random.Random, src: str,
                dst: str) -> tuple[str, str, list[tuple[str, str]]]:
    """Names of src and dst, and (src word, dst word) of a document's translatable concepts."""
    concepts = rng.sample(curriculum.translatable, rng.randint(*recipe.doc_lines))
    return (curriculum.language(src).name, curriculum.language(dst).name,
            [(curriculum.word(c, src), curriculum.word(c, dst)) for c in concepts])


def _walks(curriculum: Curriculum, recipe: Recipe, rng: random.Random) -> list[list[str]]:
    """Sentences of one topic as concept-graph walks over translatable concepts only."""
    topic = rng.choice(sorted(curriculum.topics))
    members = [c for c in curriculum.topics[topic] if c not in curriculum.heldout]
    out = []
    for _ in range(rng.randint(*recipe.doc_sentences)):
        concept = rng.choice(members)
        walk = [concept]
        for _ in range(rng.randint(*recipe.sentence_words) - 1):
            nexts = [c for c in curriculum.successors[concept] if c not in curriculum.heldout]
            concept = rng.choice(nexts if nexts and rng.random() < recipe.walk_stay else members)
            walk.append(concept)
        out.append(walk)
    return out


def _sentence(curriculum: Curriculum, walk: list[str], code: str) -> str:
    return " ".join(curriculum.word(c, code) for c in walk) + "."


def _glossary(curriculum: Curriculum, recipe: Recipe, rng: random.Random, src: str,
              dst: str) -> str:
    a, b, pairs = _word_pairs(curriculum, recipe, rng, src, dst)
    sep = rng.choice((" = ", " - ", ": "))
    return "\n".join(f"{x} ({a}){sep}{y} ({b})" for x, y in pairs)


def _list(curriculum: Curriculum, recipe: Recipe, rng: random.Random, src: str, dst: str) -> str:
    a, b, pairs = _word_pairs(curriculum, recipe, rng, src, dst)
    return "\n".join([f"{a} / {b}", *(f"{x} | {y}" for x, y in pairs)])


def _bracket(curriculum: Curriculum, recipe: Recipe, rng: random.Random, src: str,
             dst: str) -> str:
    a, b, pairs = _word_pairs(curriculum, recipe, rng, src, dst)
    return " ".join(f"[{a} {x} = {b} {y}]" for x, y in pairs)


def _prose(curriculum: Curriculum, recipe: Recipe, rng: random.Random, src: str,
           dst: str) -> str:
    a, b, pairs = _word_pairs(curriculum, recipe, rng, src, dst)
    return " ".join(rng.choice(_PROSE).format(a=a, b=b, x=x, y=y) for x, y in pairs)


def _parallel(curriculum: Curriculum, recipe: Recipe, rng: random.Random, src: str,
              dst: str) -> str:
    return "\n".join(f"{_sentence(curriculum, w, src)} / {_sentence(curriculum, w, dst)}"
                     for w in _walks(curriculum, recipe, rng))


def _bilingual(curriculum: Curriculum, recipe: Recipe, rng: random.Random, src: str,
               dst: str) -> str:
    walks = _walks(curriculum, recipe, rng)
    return "\n".join(
        f"[{curriculum.language(code).name}] " + " ".join(_sentence(curriculum, w, code)
                                                          for w in walks)
        for code in (src, dst)
    )


def _switch(curriculum: Curriculum, recipe: Recipe, rng: random.Random, src: str,
            dst: str) -> str:
    """Code-switched sentences: each word of a walk in src or dst at random."""
    return " ".join(
        " ".join(curriculum.word(c, rng.choice((src, dst))) for c in w) + "."
        for w in _walks(curriculum, recipe, rng)
    )


def _lines(curriculum: Curriculum, recipe: Recipe, rng: random.Random, src: str,
           dst: str) -> str:
    n = rng.randint(*recipe.doc_lines)
    return "\n".join(translation_line(curriculum, c, src, dst)
                     for c in rng.sample(curriculum.translatable, n))


_RENDERERS = {
    "line": _lines,
    "glossary": _glossary,
    "list": _list,
    "bracket": _bracket,
    "prose": _prose,
    "parallel": _parallel,
    "bilingual": _bilingual,
    "switch": _switch,
}
#: Renderings of a translation document; ``line`` is the prompt's own line format.
FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def sample_document(curriculum: Curriculum, recipe: Recipe, rng: random.Random,
                    mix: Mix) -> tuple[str, str]:
    """One document of a phase's mix: (kind, text), kind in monolingual/pivot/multiway."""
    seen = [lang.code for lang in curriculum.seen]
    others = [c for c in seen if c != ENGLISH]
    kinds = [k for k, w in (("monolingual", mix.monolingual), ("pivot", mix.pivot),
                            ("multiway", mix.multiway)) if w > 0]
    weights = [getattr(mix, k) for k in kinds]
    kind = rng.choices(kinds, weights)[0]
    if kind == "monolingual":
        return kind, monolingual_document(curriculum, recipe, rng, rng.choice(seen))
    if kind == "pivot":
        x = rng.choice(others)
        src, dst = (ENGLISH, x) if rng.random() < 0.5 else (x, ENGLISH)
        return kind, translation_document(curriculum, recipe, rng, src, dst)
    src, dst = rng.sample(others, 2)
    return kind, translation_document(curriculum, recipe, rng, src, dst)


def phase_documents(curriculum: Curriculum, recipe: Recipe, seed: int,
                    phase: int) -> Iterator[tuple[str, str]]:
    """Endless deterministic stream of (kind, text) documents of phase 1 or 2."""
    rng = random.Random(f"conceptpatch-organism-{seed}-phase-{phase}")
    mix = recipe.phase_one if phase == 1 else recipe.phase_two
    while True:
        yield sample_document(curriculum, recipe, rng, mix)


def write_lexicon(curriculum: Curriculum, path: Path) -> None:
    """Long CSV ``concept,language,word,topic`` over all languages, the unseen one included."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["concept", "language", "word", "topic"])
        for concept in curriculum.concepts:
            for lang in curriculum.languages:
                writer.writerow([concept, lang.code, curriculum.word(concept, lang.code),
                                 curriculum.topic_of[concept]])

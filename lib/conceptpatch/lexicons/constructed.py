"""A constructed language: seeded syllable words for every concept, unseen by any model.

The paper's unseen languages are real languages absent from training; a pretrained model has seen
almost every language a lexicon covers. A constructed language has never been in anyone's training
text: each concept gets a pronounceable word of two or three common Latin syllables (``CV`` or
``CVC`` over lowercase ASCII), which every tokenizer with Latin text splits into pieces it knows,
so a failure to patch into it is about alignment, not about unknown tokens (`unknown_pieces` says
when a tokenizer still has none). Codes come from ISO 639's private-use range ``qaa``-``qtz``, so
the language can never be mistaken for a real one. A departure from the paper, which the report
says (`conceptpatch.provenance.departures`).

Words are deterministic and word by word: a concept's word is the first of its own candidates (a
hash of seed and concept) that no concept ranked before it took and that is no word of the lexicon
(any language, case-folded). Ranks are hashes too, so adding concepts changes an existing word only
when a new concept outranks it for the same word (about one pair of concepts in a million) or
brings a real word equal to it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from conceptpatch.errors import ConceptPatchError, LexiconError
from conceptpatch.lexicons.core import Lexicon, language, unpromptable

__all__ = [
    "DEFAULT_CODE",
    "PRIVATE_USE",
    "SYLLABLES",
    "Constructed",
    "constructed_name",
    "constructed_words",
    "name_problem",
    "unknown_pieces",
    "with_constructed",
]

#: ISO 639-2's private-use codes: no real language has one.
PRIVATE_USE = re.compile(r"q[a-t][a-z]")
#: The code a suite's constructed language gets when it names none ("constructed language").
DEFAULT_CODE = "qcl"
_ONSETS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_CODAS = "klmnrst"
#: Every syllable a word is made of: CV and CVC over common lowercase ASCII letters (560).
SYLLABLES: tuple[str, ...] = tuple(
    [c + v for c in _ONSETS for v in _VOWELS]
    + [c + v + k for c in _ONSETS for v in _VOWELS for k in _CODAS]
)
#: The shortest word: CV-CV words of four letters are too often real words (casa, gato, mano).
MIN_LETTERS = 5
_SUFFIXES = ("ish", "ic", "an", "ese")
_MAX_TRIES = 1000  # candidates per word before the inventory counts as exhausted (never, in use)


@dataclass(frozen=True)
class Constructed:
    """A suite's constructed language: private-use code, display name (written in prompts), seed."""

    code: str
    name: str
    seed: int

    def describe(self) -> str:
        """One line for ``check`` and the report's departures."""
        return (f"the unseen language {self.code} ({self.name}) is constructed (seed {self.seed},"
                " syllable words never in any training text), not a real language absent from"
                " training as in the paper")


def _digest(*parts: object) -> bytes:
    text = "\x1f".join(["conceptpatch-constructed", *map(str, parts)])
    return hashlib.sha256(text.encode("utf-8")).digest()


def _syllables(digest: bytes, count: int) -> list[str]:
    number = int.from_bytes(digest[1:], "big")
    out = []
    for _ in range(count):
        number, index = divmod(number, len(SYLLABLES))
        out.append(SYLLABLES[index])
    return out


def _candidates(seed: int, concept: str) -> Iterable[str]:
    """The words ``concept`` may get, best first: a function of (seed, concept) alone."""
    for attempt in range(_MAX_TRIES):
        digest = _digest(seed, "word", concept, attempt)
        word = "".join(_syllables(digest, 2 + digest[0] % 2))
        if len(word) >= MIN_LETTERS:
            yield word


def constructed_words(concepts: Sequence[str], seed: int, avoid: Iterable[str] = ()
                      ) -> dict[str, str]:
    """Concept -> its word: distinct, none in ``avoid`` (case-folded), each a function of (seed,
    concept) unless a concept ranked before it took the same word first."""
    banned = {w.casefold() for w in avoid}
    ranked = sorted(set(concepts), key=lambda c: (_digest(seed, "rank", c), c))
    words: dict[str, str] = {}
    for concept in ranked:
        word = next((w for w in _candidates(seed, concept) if w not in banned), None)
        if word is None:
            raise ConceptPatchError(f"constructed language (seed {seed}): no free word for"
                                    f" {concept!r} in {_MAX_TRIES} tries: choose another seed")
        banned.add(word)
        words[concept] = word
    return {c: words[c] for c in concepts}


def constructed_name(seed: int, taken: Iterable[str] = ()) -> str:
    """A display name derived from ``seed`` (e.g. "Kelmonish"), none of ``taken`` (case-folded)."""
    banned = {n.casefold() for n in taken}
    for attempt in range(_MAX_TRIES):
        digest = _digest(seed, "name", attempt)
        first, second = _syllables(digest, 2)
        name = (first[:2] + second + _SUFFIXES[digest[0] % len(_SUFFIXES)]).capitalize()
        if name.casefold() not in banned:
            return name
    raise ConceptPatchError(f"constructed language (seed {seed}): no free name: give one")


def with_constructed(lexicon: Lexicon, made: Constructed) -> Lexicon:
    """``lexicon`` with ``made``'s words for every concept (avoiding every word it holds)."""
    if made.code in lexicon.codes:
        raise LexiconError(
            f"constructed language code {made.code!r} is already a language of lexicon"
            f" {lexicon.name!r}: choose another private-use code (qaa-qtz) in [languages]"
            " constructed"
        )
    clash = [x.code for x in lexicon.languages if x.name.casefold() == made.name.casefold()]
    if clash:
        raise LexiconError(
            f"constructed language name {made.name!r} is the name of {clash[0]!r} in lexicon"
            f" {lexicon.name!r}: give [languages] constructed another name"
        )
    real = (w for row in lexicon.table.values() for words in row.values() for w in words)
    words = constructed_words(lexicon.concepts, made.seed, avoid=real)
    return Lexicon(
        name=lexicon.name,
        languages=(*lexicon.languages, language(made.code, made.name)),
        table={c: {**row, made.code: (words[c],)} for c, row in lexicon.table.items()},
        pos=lexicon.pos, exact=lexicon.exact,
        meta={**lexicon.meta, "constructed": {"code": made.code, "name": made.name,
                                              "seed": made.seed}},
    )


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a prompt's language name (None when it can)."""
    if not name or name.strip() != name:
        return "is empty or has surrounding spaces"
    if unpromptable(name) is not None or ":" in name:
        return "holds a quote, a colon or a control character, or is too long"
    return None


def unknown_pieces(tokenizer: Any, words: Iterable[str]) -> list[str]:
    """The words whose tokens include the tokenizer's unknown token (none for byte-level BPE and
    byte-fallback SentencePiece): the model would read them as "<unk>", not as pieces it knows."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        return []
    return [w for w in words if unk in tokenizer.encode(w, add_special_tokens=False)]

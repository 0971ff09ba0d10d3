"""The lexicon model every source builds: `Language`, `Lexicon` and the helpers loaders share."""

from __future__ import annotations

import csv
import functools
import logging
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import langcodes

from conceptpatch.errors import LexiconError

__all__ = [
    "DEFAULT_POS",
    "MAX_WORD_CHARS",
    "Language",
    "Lexicon",
    "build",
    "dropped_words",
    "language",
    "log",
    "normalise_word",
    "open_table",
    "promptable",
    "require_columns",
    "unpromptable",
]

#: The part of speech a suite keeps when it names none (the paper's nouns).
DEFAULT_POS = "nouns"

#: One logger for every source, under the name users (and tests) filter on.
log = logging.getLogger("conceptpatch.lexicons")


@dataclass(frozen=True, slots=True)
class Language:
    """An ISO 639 code with the language's native display name, as written in prompts."""

    code: str
    name: str


@functools.cache
def language(code: str, name: str | None = None) -> Language:
    """The `Language` for an ISO 639 code; the native display name comes from CLDR via langcodes.

    Raises `LexiconError` for a code that is not a valid language tag.
    """
    if not isinstance(code, str) or not code or not langcodes.tag_is_valid(code):
        raise LexiconError(
            f"unknown language code {code!r}: use an ISO 639 code such as 'en', 'fr' or 'yue'"
        )
    if name is None:
        native = langcodes.Language.get(code).display_name(code)
        name = native[:1].upper() + native[1:]
    return Language(code, name)


def normalise_word(word: str) -> str:
    """A word as lexicons store it: stripped, NFC-normalised."""
    return unicodedata.normalize("NFC", word.strip())


#: The longest word a prompt takes (characters); a longer one is dropped at load (see `promptable`).
MAX_WORD_CHARS = 100
#: Unicode categories a prompt word must not hold: control characters (line breaks, tabs, NUL,
#: escape) and line/paragraph separators. Format characters (Cf: ZWNJ, ZWJ) are kept: Persian
#: and emoji-like words need them.
_UNPROMPTABLE = frozenset({"Cc", "Zl", "Zp"})


def unpromptable(word: str) -> str | None:
    """Why the paper's prompt format cannot carry ``word`` (None when it can).

    A prompt line is ``Français: "livre" - Deutsch: "Buch"`` and answers are cut at the first
    double quote or line break: a word holding either (or another control character) would break
    its line and cut its own answer; a word over `MAX_WORD_CHARS` characters is no word of a
    word-translation task and can fill the model's context.
    """
    if '"' in word or any(unicodedata.category(ch) in _UNPROMPTABLE for ch in word):
        return "quote_or_control"
    if len(word) > MAX_WORD_CHARS:
        return "too_long"
    return None


def _kept_cell(words: tuple[str, ...], exact: int) -> tuple[tuple[str, ...], int]:
    """A cell's promptable words and how many of them are alternatives; an empty cell when every
    alternative went (a synonym is never promoted to reference)."""
    kept = tuple(w for w in words if unpromptable(w) is None)
    alternatives = sum(unpromptable(w) is None for w in words[:exact])
    return (kept, alternatives) if alternatives else ((), 0)


def promptable(lexicon: Lexicon) -> Lexicon:
    """``lexicon`` without the words a prompt cannot carry (`unpromptable`), counted in
    ``meta["dropped_words"]`` (reason -> words); ``lexicon`` itself when none is dropped.

    Dropping, not refusing: a user lexicon of thousands of rows is usable without its few bad
    words, as the paper's processing of Multi-SimLex drops rows with an empty translation (its
    prompt code interpolates words unescaped: the words it used hold no quote or line break). A
    cell left without its reference and alternatives is emptied, so the concept is incomplete
    in that language and `Lexicon.restrict` drops it, as it drops concepts with missing cells.
    """
    counts: dict[str, int] = {}
    for row in lexicon.table.values():
        for words in row.values():
            for word in words:
                reason = unpromptable(word)
                if reason is not None:
                    counts[reason] = counts.get(reason, 0) + 1
    if not counts:
        return lexicon
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    exact: dict[str, dict[str, int]] = {}
    for concept, row in lexicon.table.items():
        for code, words in row.items():
            kept, n = _kept_cell(words, lexicon.exact.get(concept, {}).get(code, 1))
            if kept:
                table.setdefault(concept, {})[code] = kept
                exact.setdefault(concept, {})[code] = n
    log.info("%s: dropped %s word(s) a prompt cannot carry", lexicon.name, counts)
    return Lexicon(
        name=lexicon.name, languages=lexicon.languages, table=table,
        pos={c: t for c, t in lexicon.pos.items() if c in table}, exact=exact,
        meta={**lexicon.meta, "dropped_words": counts},
    )


def dropped_words(lexicon: Lexicon) -> str:
    """The words `promptable` dropped, for a summary line ("" when none)."""
    counts = lexicon.meta.get("dropped_words") or {}
    if not counts:
        return ""
    quote = counts.get("quote_or_control", 0)
    long = counts.get("too_long", 0)
    return (f"dropped {quote + long} word(s) a prompt cannot carry ({quote} with a double quote,"
            f" line break or control character, {long} over {MAX_WORD_CHARS} characters)")


@dataclass(frozen=True)
class Lexicon:
    """Concepts x languages. ``table[concept][code]`` is a tuple of words, the first the reference.

    ``exact[concept][code]`` says how many leading words of a cell are alternatives that count as
    ``exact`` (1 where absent: the reference alone); the rest are synonyms. ``pos`` maps concepts
    to their part of speech (where the source has one); ``meta`` holds provenance and the counts of
    each loading step (``meta["steps"]``). Build one with the loaders of `conceptpatch.lexicons`;
    it is immutable once built.
    """

    name: str
    languages: tuple[Language, ...]
    table: Mapping[str, Mapping[str, tuple[str, ...]]] = field(repr=False)
    pos: Mapping[str, str] = field(default_factory=dict, repr=False)
    exact: Mapping[str, Mapping[str, int]] = field(default_factory=dict, repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        frozen = {c: MappingProxyType(dict(row)) for c, row in self.table.items()}
        object.__setattr__(self, "table", MappingProxyType(frozen))
        object.__setattr__(self, "pos", MappingProxyType(dict(self.pos)))
        exact = {c: MappingProxyType(dict(row)) for c, row in self.exact.items() if row}
        object.__setattr__(self, "exact", MappingProxyType(exact))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    @property
    def concepts(self) -> tuple[str, ...]:
        """All concepts, in the lexicon's order."""
        return tuple(self.table)

    @property
    def codes(self) -> tuple[str, ...]:
        """The ISO 639 codes of the lexicon's languages."""
        return tuple(lang.code for lang in self.languages)

    def language(self, code: str) -> Language:
        """The `Language` of ``code``; `LexiconError` if the lexicon lacks it."""
        for lang in self.languages:
            if lang.code == code:
                return lang
        raise LexiconError(
            f"language {code!r} is not in lexicon {self.name!r} (it has {', '.join(self.codes)}):"
            " choose one of those or use a lexicon that covers it"
        )

    def words(self, concept: str, code: str) -> tuple[str, ...]:
        """The words of ``concept`` in language ``code`` (reference first); empty if it has none."""
        try:
            row = self.table[concept]
        except KeyError:
            raise LexiconError(
                f"concept {concept!r} is not in lexicon {self.name!r}: check its spelling"
            ) from None
        return row.get(code, ())

    def reference(self, concept: str, code: str) -> str:
        """The reference word of ``concept`` in ``code``; `LexiconError` if the cell is empty."""
        words = self.words(concept, code)
        if not words:
            raise LexiconError(
                f"concept {concept!r} has no word in language {code!r} in lexicon {self.name!r}:"
                " add one or restrict the run to complete concepts"
            )
        return words[0]

    def exact_words(self, concept: str, code: str) -> tuple[str, ...]:
        """The words of ``concept`` in ``code`` that count as ``exact``: reference, alternatives."""
        words = self.words(concept, code)
        return words[: self.exact.get(concept, {}).get(code, 1)]

    def synonyms(self, concept: str, code: str) -> tuple[str, ...]:
        """The words of ``concept`` in ``code`` that count as ``synonym`` (after alternatives)."""
        words = self.words(concept, code)
        return words[self.exact.get(concept, {}).get(code, 1) :]

    def complete(self, codes: Iterable[str]) -> tuple[str, ...]:
        """Concepts that have a word in every language of ``codes``."""
        codes = tuple(codes)
        for code in codes:
            self.language(code)
        return tuple(c for c, row in self.table.items() if all(row.get(x) for x in codes))

    def restrict(self, codes: Sequence[str], pos: str | Sequence[str] | None = None) -> Lexicon:
        """A lexicon over ``codes`` with the concepts complete in all of them (and of ``pos``).

        ``pos`` is one part of speech or several; concepts without a tag are kept.
        """
        wanted = None if pos is None else {pos} if isinstance(pos, str) else set(pos)
        keep = [
            c
            for c in self.complete(codes)
            if wanted is None or c not in self.pos or self.pos[c] in wanted
        ]
        return Lexicon(
            name=self.name,
            languages=tuple(self.language(code) for code in codes),
            table={c: {x: self.table[c][x] for x in codes} for c in keep},
            pos={c: self.pos[c] for c in keep if c in self.pos},
            exact={
                c: {x: n for x, n in self.exact[c].items() if x in codes}
                for c in keep
                if c in self.exact
            },
            meta=self.meta,
        )

    def pos_counts(self) -> dict[str, int]:
        """Concepts per part of speech (untagged concepts under ``""``)."""
        out: dict[str, int] = {}
        for concept in self.table:
            tag = self.pos.get(concept, "")
            out[tag] = out.get(tag, 0) + 1
        return out


def build(
    name: str,
    rows: Iterable[tuple[str, str, str, str | None]],
    names: Mapping[str, str] | None = None,
) -> Lexicon:
    """A lexicon from (concept, language, word, pos) rows; repeated cells append synonyms.

    ``names`` overrides display names (e.g. for the organism's synthetic languages).
    """
    names = names or {}
    table: dict[str, dict[str, list[str]]] = {}
    pos: dict[str, str] = {}
    codes: dict[str, None] = {}
    for concept, code, word, part in rows:
        word = normalise_word(word)
        if not word:
            continue
        language(code, names.get(code))
        codes.setdefault(code)
        cell = table.setdefault(concept, {}).setdefault(code, [])
        if word not in cell:
            cell.append(word)
        if part:
            pos.setdefault(concept, part)
    if not table:
        raise LexiconError(f"lexicon {name!r} is empty: give it at least one concept with words")
    return Lexicon(
        name=name,
        languages=tuple(language(code, names.get(code)) for code in codes),
        table={c: {x: tuple(ws) for x, ws in row.items()} for c, row in table.items()},
        pos=pos,
    )


def open_table(path: Path, delimiter: str) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as f:  # BOM: "CSV UTF-8"
            reader = csv.DictReader(f, delimiter=delimiter)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except FileNotFoundError:
        raise LexiconError(f"lexicon file {str(path)!r} does not exist: check the path") from None
    except UnicodeDecodeError:
        raise LexiconError(
            f"lexicon file {str(path)!r} is not UTF-8: re-save it as UTF-8"
        ) from None


def require_columns(path: Path, header: list[str], needed: Iterable[str], fmt: str) -> None:
    missing = [c for c in needed if c not in header]
    if missing:
        raise LexiconError(
            f"lexicon file {str(path)!r} lacks column(s) {', '.join(missing)} of the {fmt} format"
            f" (it has {', '.join(header) or 'none'}): fix the header or choose another format"
        )

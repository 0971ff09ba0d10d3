"""Lexicons: concepts x languages, each cell a tuple of words (reference first, then synonyms).

Loaders read Multi-SimLex's ``translation.csv`` as it is distributed, concepticon concept lists
(long or wide, such as Multi-SimLex's ``Vulic-2020-2244``) and a plain long CSV. Two lexicons are
built in and offline: ``builtin_multisimlex()``, the Multi-SimLex concept list shipped with the
package (CC-BY 4.0, see ``conceptpatch/data/README.md``), and ``builtin_cldr()``, the CLDR short
names shipped by ``emoji``.

The first words of a cell are *alternatives*: each counts as an ``exact`` answer (the reference is
the first of them, the one prompts show). Multi-SimLex gives alternatives where one English word
was translated in several ways (merged rows of ``translation.csv``, the bracketed forms of the
concept list). Words after them are synonyms (scored ``synonym``): a long CSV's extra rows.
"""

from __future__ import annotations

import csv
import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import langcodes

from conceptpatch.errors import LexiconError

__all__ = [
    "BUILTINS",
    "CLDR_LANGUAGES",
    "CONCEPTICON_LANGUAGES",
    "DEFAULT_POS",
    "MULTISIMLEX_CODES",
    "MULTISIMLEX_LIST",
    "MULTISIMLEX_URL",
    "Language",
    "Lexicon",
    "builtin_cldr",
    "builtin_multisimlex",
    "language",
    "load_concepticon_tsv",
    "load_concepticon_wide",
    "load_lexicon",
    "load_long_csv",
    "load_multisimlex",
]

#: ISO 639-3 column prefixes of Multi-SimLex ``translation.csv`` -> the ISO 639 codes used here.
MULTISIMLEX_CODES: Mapping[str, str] = MappingProxyType(
    {
        "ENG": "en", "ARA": "ar", "CMN": "zh", "CYM": "cy", "EST": "et", "FIN": "fi",
        "FRA": "fr", "HEB": "he", "POL": "pl", "RUS": "ru", "SPA": "es", "SWA": "sw",
        "YUE": "yue",
    }
)  # fmt: skip

#: Where to get Multi-SimLex's ``translation.csv`` (not redistributed with conceptpatch).
MULTISIMLEX_URL = "https://multisimlex.com/"

#: The Multi-SimLex concept list shipped as package data (concepticon-data, CC-BY 4.0).
MULTISIMLEX_LIST = "Vulic-2020-2244.tsv"

#: Language columns of concepticon's wide concept lists -> ISO 639 codes (others via langcodes).
CONCEPTICON_LANGUAGES: Mapping[str, str] = MappingProxyType(
    {
        "ENGLISH": "en", "ARABIC": "ar", "CHINESE": "zh", "MANDARIN": "zh", "WELSH": "cy",
        "ESTONIAN": "et", "FINNISH": "fi", "FRENCH": "fr", "HEBREW": "he", "POLISH": "pl",
        "RUSSIAN": "ru", "SPANISH": "es", "CANTONESE": "yue", "SWAHILI": "sw", "GERMAN": "de",
    }
)  # fmt: skip

#: The part of speech a suite keeps when it names none (the paper's nouns).
DEFAULT_POS = "nouns"

#: Names of the built-in lexicons (``[lexicon] builtin``).
BUILTINS: tuple[str, ...] = ("cldr", "multisimlex")

log = logging.getLogger(__name__)

#: The languages in which ``emoji`` ships CLDR short names.
CLDR_LANGUAGES: tuple[str, ...] = (
    "en", "es", "fr", "de", "it", "pt", "ru", "zh", "ja", "ko", "tr", "ar", "fa", "id",
)  # fmt: skip


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


def _normalise_word(word: str) -> str:
    return unicodedata.normalize("NFC", word.strip())


@dataclass(frozen=True)
class Lexicon:
    """Concepts x languages. ``table[concept][code]`` is a tuple of words, the first the reference.

    ``exact[concept][code]`` says how many leading words of a cell are alternatives that count as
    ``exact`` (1 where absent: the reference alone); the rest are synonyms. ``pos`` maps concepts
    to their part of speech (where the source has one); ``meta`` holds provenance and the counts of
    each loading step (``meta["steps"]``). Build one with the loaders of this module; it is
    immutable once built.
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

    def language_counts(self) -> dict[str, int]:
        """Concepts with at least one word, per language."""
        return {code: sum(1 for row in self.table.values() if row.get(code)) for code in self.codes}


def _build(
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
        word = _normalise_word(word)
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


def _open_table(path: Path, delimiter: str) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with Path(path).open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except FileNotFoundError:
        raise LexiconError(f"lexicon file {str(path)!r} does not exist: check the path") from None
    except UnicodeDecodeError:
        raise LexiconError(
            f"lexicon file {str(path)!r} is not UTF-8: re-save it as UTF-8"
        ) from None


def _require(path: Path, header: list[str], needed: Iterable[str], fmt: str) -> None:
    missing = [c for c in needed if c not in header]
    if missing:
        raise LexiconError(
            f"lexicon file {str(path)!r} lacks column(s) {', '.join(missing)} of the {fmt} format"
            f" (it has {', '.join(header) or 'none'}): fix the header or choose another format"
        )


def load_long_csv(
    path: str | Path, name: str | None = None, names: Mapping[str, str] | None = None
) -> Lexicon:
    """Read a long CSV with columns ``concept,language,word`` (optional ``pos``).

    Several rows for one (concept, language) are several words: the first is the reference.
    ``names`` gives display names for codes that CLDR does not name (e.g. private-use codes).
    """
    path = Path(path)
    header, rows = _open_table(path, ",")
    _require(path, header, ("concept", "language", "word"), "long CSV (concept,language,word)")
    return _build(
        name or path.stem,
        ((r["concept"], r["language"], r["word"] or "", r.get("pos")) for r in rows),
        names,
    )


_CONCEPTICON_COLUMNS = {
    "concept": ("CONCEPTICON_GLOSS", "GLOSS", "Parameter_ID", "concept"),
    "language": ("LANGUAGE", "ISO639", "Language_ID", "language"),
    "word": ("FORM", "VALUE", "Form", "Value", "word"),
}


def load_concepticon_tsv(path: str | Path, name: str | None = None) -> Lexicon:
    """Read a concepticon concept list: long (one form per row) or wide (one column per language).

    Long lists have a gloss column (``CONCEPTICON_GLOSS``/``GLOSS``/``Parameter_ID``), an ISO 639
    language column (``LANGUAGE``/``ISO639``/``Language_ID``) and a form column
    (``FORM``/``VALUE``). Wide lists, such as Multi-SimLex's ``Vulic-2020-2244``, are read by
    `load_concepticon_wide`.
    """
    path = Path(path)
    header, rows = _open_table(path, "\t")
    if "GLOSS" in header and _wide_languages(header):
        return _wide(path, header, rows, name)
    chosen: dict[str, str] = {}
    for role, options in _CONCEPTICON_COLUMNS.items():
        found = next((c for c in options if c in header), None)
        if found is None:
            raise LexiconError(
                f"lexicon file {str(path)!r} has no {role} column (one of {', '.join(options)})"
                " and no language columns (ENGLISH, FRENCH, ...): rename its header or convert"
                " it to the long CSV format"
            )
        chosen[role] = found
    pos = "POS" if "POS" in header else None
    return _build(
        name or path.stem,
        (
            (
                r[chosen["concept"]],
                r[chosen["language"]].lower(),
                r[chosen["word"]] or "",
                (r[pos] or None) if pos else None,
            )
            for r in rows
        ),
    )


def _wide_languages(header: Sequence[str]) -> dict[str, str]:
    """Language columns of a wide concept list -> ISO 639 codes.

    A column is a language when it is a known language name or has a ``<NAME>_IN_SOURCE`` twin.
    """
    out: dict[str, str] = {}
    for col in header:
        if col in CONCEPTICON_LANGUAGES:
            out[col] = CONCEPTICON_LANGUAGES[col]
        elif f"{col}_IN_SOURCE" in header:
            try:
                out[col] = langcodes.find(col.title()).language
            except LookupError:
                continue
    return out


_ALTERNATIVES = re.compile(r"^(?P<ref>[^()]+?)\s*\((?P<alts>.+)\)\s*$")


def _alternatives(cell: str) -> list[str]:
    """``"enseignant (professeur)"`` -> enseignant, professeur; ``"a (b/c)"`` -> a, b, c."""
    cell = _normalise_word(cell)
    match = _ALTERNATIVES.match(cell)
    if not match:
        return [cell] if cell else []
    words = [match["ref"], *match["alts"].split("/")]
    return list(dict.fromkeys(w for w in (_normalise_word(x) for x in words) if w))


def _occurrences(forms: str, candidates: Sequence[str]) -> list[str] | None:
    """Split an ``*_IN_SOURCE`` cell (forms joined by spaces) into ``candidates``, longest first.

    None when the cell cannot be split that way (then errata cannot be placed).
    """
    tokens = _normalise_word(forms).split()
    by_length = sorted(candidates, key=lambda c: -len(c.split()))
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for cand in by_length:
            n = len(cand.split())
            if n and tokens[i : i + n] == cand.split():
                out.append(cand)
                i += n
                break
        else:
            return None
    return out


def _erratum_columns(header: Sequence[str], languages: Mapping[str, str]) -> dict[str, str]:
    """``*_ERRATUM`` columns -> the language column they correct (``MANDARIN`` -> ``CHINESE``)."""
    by_code = {code: col for col, code in languages.items()}
    out = {}
    for col in header:
        if col.endswith("_ERRATUM"):
            lang = col.removesuffix("_ERRATUM")
            target = lang if lang in languages else by_code.get(CONCEPTICON_LANGUAGES.get(lang, ""))
            if target is not None:
                out[col] = target
    return out


def load_concepticon_wide(path: str | Path, name: str | None = None) -> Lexicon:
    """Read a wide concepticon concept list such as Multi-SimLex's ``Vulic-2020-2244.tsv``.

    One row per concept (named by ``GLOSS``, part of speech from ``POS``), one column per language
    (``ENGLISH``, ``FRENCH``, ... -> ``en``, ``fr``). A cell ``"enseignant (professeur)"`` gives
    the reference and its alternatives (all count as ``exact``). Errata are applied: a form whose
    every occurrence in ``<LANG>_IN_SOURCE`` is flagged 1 in ``<LANG>_ERRATUM`` is dropped (the
    next form becomes the reference; a cell with no form left is empty). ``*_IN_SOURCE`` is kept
    in ``meta["in_source"]`` for provenance; the counts are in ``meta["steps"]``.
    """
    path = Path(path)
    header, rows = _open_table(path, "\t")
    if "GLOSS" not in header or not _wide_languages(header):
        raise LexiconError(
            f"lexicon file {str(path)!r} is not a wide concept list (it needs GLOSS and language"
            " columns such as ENGLISH): use format = 'concepticon' for a long list"
        )
    return _wide(path, header, rows, name)


def _wide(path: Path, header: list[str], rows: list[dict[str, str]], name: str | None) -> Lexicon:
    languages = _wide_languages(header)
    errata = _erratum_columns(header, languages)
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    exact: dict[str, dict[str, int]] = {}
    pos: dict[str, str] = {}
    in_source: dict[str, dict[str, str]] = {}
    dropped: dict[str, int] = {}
    emptied: dict[str, int] = {}
    unplaced = 0
    flagged = {lang: erratum for erratum, lang in errata.items()}
    for r in rows:
        concept = _normalise_word(r["GLOSS"])
        if not concept:
            continue
        if concept in table:
            concept = f"{concept}#{r.get('NUMBER') or r.get('ID') or len(table)}"
        row: dict[str, tuple[str, ...]] = {}
        for col, code in languages.items():
            words = _alternatives(r.get(col) or "")
            forms = r.get(f"{col}_IN_SOURCE") or ""
            if forms:
                in_source.setdefault(concept, {})[code] = forms
            erratum = flagged.get(col)
            flags = (r.get(erratum) or "").split() if erratum else []
            if words and "1" in flags:
                occurrences = _occurrences(forms, words)
                if occurrences is None or len(occurrences) != len(flags):
                    unplaced += 1
                else:
                    bad = {
                        w
                        for w in words
                        if all(f == "1" for o, f in zip(occurrences, flags, strict=True) if o == w)
                        and w in occurrences
                    }
                    if bad:
                        dropped[code] = dropped.get(code, 0) + len(bad)
                    words = [w for w in words if w not in bad]
                    if not words:
                        emptied[code] = emptied.get(code, 0) + 1
            if words:
                row[code] = tuple(words)
                if len(words) > 1:
                    exact.setdefault(concept, {})[code] = len(words)
        table[concept] = row
        tag = _normalise_word(r.get("POS") or "")
        if tag:
            pos[concept] = tag
    if not table:
        raise LexiconError(
            f"lexicon file {str(path)!r} has no concepts: check it is a concept list"
        )
    lexicon = Lexicon(
        name=name or path.stem,
        languages=tuple(language(code) for code in dict.fromkeys(languages.values())),
        table=table,
        pos=pos,
        exact=exact,
        meta={
            "source": str(path),
            "format": "concepticon (wide)",
            "steps": [
                {"step": "read", "rows": len(table)},
                {"step": "errata", "rows": len(table), "forms_dropped": dropped,
                 "cells_emptied": emptied, "unplaced": unplaced},
            ],
            "in_source": in_source,
        },
    )  # fmt: skip
    log.info(
        "%s: %d concepts; errata dropped %s form(s), emptied %s cell(s)",
        lexicon.name, len(table), dropped, emptied,
    )  # fmt: skip
    return lexicon


def _multisimlex_column(header: str) -> tuple[str, int] | None:
    """``"ENG 1"`` (or ``ENG_1``) -> ``("ENG", 1)``; ``"scores 2"`` -> ``("scores", 2)``."""
    match = re.fullmatch(r"\s*(?P<base>[A-Za-z]+)[ _](?P<n>[12])\s*", header)
    return (match["base"], int(match["n"])) if match else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_multisimlex(
    path: str | Path,
    name: str = "multisimlex",
    pos: str | Sequence[str] | None = DEFAULT_POS,
) -> Lexicon:
    """Read Multi-SimLex ``translation.csv`` as distributed, processed as the paper's code does.

    The file has one row per *word pair* of the similarity data set: ``ID``, ``ENG 1``,
    ``ENG 2``, ``PoS``, ``ARA 1``, ``ARA 2``, ... (13 languages), ``scores 1``,
    ``translation 1``, ``scores 2``, ``translation 2``; ``1`` and ``2`` are two different words.
    The steps, each logged with its count (also in ``meta["steps"]``):

    1. ``stack``: the word-1 columns, then the word-2 columns, become one row per word (2 x
       pairs; this order decides which merged translation is the reference). The English
       word that names the concept is the paper's ``word_original``: the ``scores N`` column when
       it holds words (the paper's code reads it there), ``ENG N`` otherwise;
    2. ``drop_empty``: rows with an empty translation in any language are dropped;
    3. ``drop_conflicting_pos``: English words tagged with more than one PoS are dropped;
    4. ``merge``: rows of the same English word become one concept; their distinct translations
       are that concept's alternatives (each counts as ``exact``; there are no synonyms);
    5. ``pos``: only concepts of ``pos`` are kept (the paper's ``"nouns"``; None keeps all).
    """
    path = Path(path)
    if not path.exists():
        raise LexiconError(
            f"Multi-SimLex file {str(path)!r} does not exist: download translation.csv from"
            f" {MULTISIMLEX_URL} (Vulić et al., 2020; not redistributed with conceptpatch) and put"
            ' it at that path, or use builtin = "multisimlex" (the shipped concept list)'
        )
    header, rows = _open_table(path, ",")
    parsed = {h: _multisimlex_column(h) for h in header}
    columns: dict[tuple[str, int], str] = {v: h for h, v in parsed.items() if v is not None}
    _require(
        path,
        [h.strip() for h in header],
        ("ID", "PoS"),
        "Multi-SimLex translation.csv (ID, ENG 1, ENG 2, PoS, ARA 1, ...)",
    )
    if ("ENG", 1) not in columns or ("ENG", 2) not in columns:
        raise LexiconError(
            f"lexicon file {str(path)!r} lacks the columns 'ENG 1' and 'ENG 2' of Multi-SimLex"
            f" translation.csv (it has {', '.join(header)}): use the file from {MULTISIMLEX_URL}"
            " or choose another format"
        )
    codes = {base: MULTISIMLEX_CODES[base] for base, _ in columns if base in MULTISIMLEX_CODES}
    id_col = next(h for h in header if h.strip() == "ID")
    pos_col = next(h for h in header if h.strip() == "PoS")
    steps: list[dict[str, Any]] = [{"step": "read", "rows": len(rows), "unit": "word pairs"}]

    def note(step: str, count: int, **extra: Any) -> None:
        steps.append({"step": step, "rows": count, **extra})
        log.info("%s: %s -> %d rows %s", name, step, count, extra or "")

    # 1. stack word 1 and word 2
    stacked: list[tuple[str, str, str, dict[str, str]]] = []  # (id, pos, english, {code: word})
    for n in (1, 2):  # all word-1 rows, then all word-2 rows (the paper's order)
        for r in rows:
            words = {
                code: _normalise_word(r.get(columns.get((base, n), "")) or "")
                for base, code in codes.items()
            }
            key_col = columns.get(("scores", n))
            key = _normalise_word(r.get(key_col) or "") if key_col else ""
            if not key or _is_number(key):
                key = words.get("en", "")
            stacked.append((r[id_col], _normalise_word(r[pos_col] or ""), key, words))
    note("stack", len(stacked), unit="words")
    # 2. drop rows with an empty translation in any language
    kept = [s for s in stacked if s[2] and all(s[3].values())]
    note("drop_empty", len(kept), removed=len(stacked) - len(kept))
    # 3. drop English words with conflicting PoS
    tags: dict[str, set[str]] = {}
    for _, tag, key, _ in kept:
        tags.setdefault(key, set()).add(tag)
    conflicting = sorted(k for k, t in tags.items() if len(t) > 1)
    before = len(kept)
    kept = [s for s in kept if s[2] not in set(conflicting)]
    note("drop_conflicting_pos", len(kept), removed=before - len(kept), words=conflicting)
    # 4. merge rows of the same English word: translations become alternatives
    merged: dict[str, tuple[str, str, dict[str, list[str]]]] = {}
    repeats: dict[str, int] = {}
    for ident, tag, key, words in kept:
        repeats[key] = repeats.get(key, 0) + 1
        _, _, cells = merged.setdefault(key, (ident, tag, {code: [] for code in codes.values()}))
        for code, word in words.items():
            if word not in cells[code]:
                cells[code].append(word)
    several = sum(1 for _, _, cells in merged.values() if any(len(w) > 1 for w in cells.values()))
    note(
        "merge",
        len(merged),
        merged=sum(1 for n in repeats.values() if n > 1),
        with_alternatives=several,
    )
    # 5. keep the parts of speech asked for
    wanted = None if pos is None else {pos} if isinstance(pos, str) else set(pos)
    chosen = {k: v for k, v in merged.items() if wanted is None or v[1] in wanted}
    note("pos", len(chosen), pos=sorted(wanted) if wanted else "all")
    if not chosen:
        found = sorted({v[1] for v in merged.values()})
        raise LexiconError(
            f"Multi-SimLex file {str(path)!r} has no concept of part of speech {pos!r} after"
            f" processing: use one of its PoS tags {', '.join(found) or '(none)'}"
        )
    return Lexicon(
        name=name,
        languages=tuple(language(code) for code in codes.values()),
        table={
            k: {c: tuple(w) for c, w in cells.items() if w} for k, (_, _, cells) in chosen.items()
        },
        pos={k: tag for k, (_, tag, _) in chosen.items() if tag},
        exact={
            k: {c: len(w) for c, w in cells.items() if len(w) > 1}
            for k, (_, _, cells) in chosen.items()
        },
        meta={
            "source": str(path),
            "format": "multisimlex",
            "steps": steps,
            "ids": {k: ident for k, (ident, _, _) in chosen.items()},
        },
    )


def _paper_merge(lexicon: Lexicon) -> Lexicon:
    """Multi-SimLex concepts merged as the paper merges them: one concept per English word.

    Concepts whose English reference word is tagged with several parts of speech are dropped;
    those of one part of speech become one concept (named by the first), their words merged
    into alternatives. Counts are appended to ``meta["steps"]``.
    """
    groups: dict[str, list[str]] = {}
    for concept, row in lexicon.table.items():
        english = row.get("en", ())
        groups.setdefault(english[0] if english else concept, []).append(concept)
    conflicting = sorted(
        key for key, members in groups.items() if len({lexicon.pos.get(m, "") for m in members}) > 1
    )
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    exact: dict[str, dict[str, int]] = {}
    pos: dict[str, str] = {}
    for key, members in groups.items():
        if key in conflicting:
            continue
        head = members[0]
        row: dict[str, list[str]] = {}
        for m in members:
            for code in lexicon.table[m]:
                cell = row.setdefault(code, [])
                cell.extend(w for w in lexicon.exact_words(m, code) if w not in cell)
        table[head] = {code: tuple(ws) for code, ws in row.items() if ws}
        exact[head] = {code: len(ws) for code, ws in row.items() if len(ws) > 1}
        if head in lexicon.pos:
            pos[head] = lexicon.pos[head]
    dropped = sum(len(groups[k]) for k in conflicting)
    steps = [
        *lexicon.meta.get("steps", []),
        {"step": "drop_conflicting_pos", "rows": len(lexicon.table) - dropped,
         "removed": dropped, "words": conflicting},
        {"step": "merge", "rows": len(table),
         "merged": sum(1 for k, m in groups.items() if len(m) > 1 and k not in conflicting)},
    ]  # fmt: skip
    for step in steps[-2:]:
        log.info("%s: %s -> %d concepts", lexicon.name, step["step"], step["rows"])
    return Lexicon(
        name=lexicon.name,
        languages=lexicon.languages,
        table=table,
        pos=pos,
        exact=exact,
        meta={**lexicon.meta, "steps": steps},
    )


@functools.cache
def builtin_multisimlex() -> Lexicon:
    """The built-in Multi-SimLex lexicon: the concept list ``Vulic-2020-2244`` shipped as package
    data (concepticon-data, CC-BY 4.0; Vulić et al., 2020), offline.

    12 languages (en, ar, zh, cy, et, fi, fr, he, pl, ru, es, yue; Swahili is only in
    ``translation.csv``), every part of speech (``pos``: nouns, verbs, adjectives, adverbs),
    errata applied, and concepts merged by English word as the paper merges ``translation.csv``
    rows (English words with conflicting parts of speech dropped).
    """
    from importlib.resources import as_file, files

    with as_file(files("conceptpatch") / "data" / MULTISIMLEX_LIST) as path:
        lexicon = load_concepticon_wide(path, name="multisimlex")
    merged = _paper_merge(lexicon)
    return Lexicon(
        name=merged.name,
        languages=merged.languages,
        table=merged.table,
        pos=merged.pos,
        exact=merged.exact,
        meta={
            **merged.meta,
            "source": f"conceptpatch/data/{MULTISIMLEX_LIST}",
            "licence": "CC-BY 4.0 (concepticon-data; Vulić et al., 2020, Multi-SimLex)",
        },
    )


@functools.cache
def builtin_cldr() -> Lexicon:
    """The offline lexicon: single-word CLDR emoji short names in 14 languages.

    Concepts are named by their English word; duplicates are merged, and a concept whose word in
    some language is also another concept's word there is dropped from that language (ambiguous).
    """
    import emoji

    for code in CLDR_LANGUAGES:
        emoji.config.load_language(code)
    cells: dict[str, dict[str, str]] = {}
    for data in emoji.EMOJI_DATA.values():
        if data.get("status") != emoji.STATUS["fully_qualified"]:
            continue
        english = data.get("en", "").strip(":")
        if not english or "_" in english or "-" in english:
            continue
        concept = unicodedata.normalize("NFC", english.lower())
        row = cells.setdefault(concept, {})
        for code in CLDR_LANGUAGES:
            word = data.get(code, "").strip(":")
            if word and "_" not in word and " " not in word and code not in row:
                row[code] = unicodedata.normalize("NFC", word)
    owners: dict[tuple[str, str], set[str]] = {}
    for concept, row in cells.items():
        for code, word in row.items():
            owners.setdefault((code, word.casefold()), set()).add(concept)
    table = {
        concept: {
            code: (word,) for code, word in row.items() if len(owners[(code, word.casefold())]) == 1
        }
        for concept, row in sorted(cells.items())
    }
    return Lexicon(
        name="cldr",
        languages=tuple(language(code) for code in CLDR_LANGUAGES),
        table={c: row for c, row in table.items() if row.get("en")},
    )


_FORMATS = {
    "long_csv": load_long_csv,
    "multisimlex": load_multisimlex,
    "concepticon": load_concepticon_tsv,
}


def load_lexicon(
    spec: str | Path, fmt: str = "long_csv", pos: str | Sequence[str] | None = None
) -> Lexicon:
    """A lexicon from a built-in name (``"cldr"``, ``"multisimlex"``) or a file path in ``fmt``.

    ``pos`` only matters for ``translation.csv`` (format ``multisimlex``), whose processing keeps
    the parts of speech asked for (None: all); other lexicons keep every part of speech.
    """
    if str(spec) == "cldr":
        return builtin_cldr()
    if str(spec) == "multisimlex":
        return builtin_multisimlex()
    if fmt not in _FORMATS:
        raise LexiconError(
            f"unknown lexicon format {fmt!r}: use one of {', '.join(sorted(_FORMATS))}"
        )
    if fmt == "multisimlex":
        return load_multisimlex(Path(spec), pos=pos)
    return _FORMATS[fmt](Path(spec))

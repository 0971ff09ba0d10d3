"""Lexicons: concepts x languages, each cell a tuple of words (reference first, then synonyms).

Loaders read the Multi-SimLex ``translation.csv`` layout, a concepticon-style TSV and a plain long
CSV; ``builtin_cldr()`` builds an offline lexicon from the CLDR short names shipped by ``emoji``.
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import langcodes

from conceptpatch.errors import LexiconError

__all__ = [
    "CLDR_LANGUAGES",
    "MULTISIMLEX_CODES",
    "MULTISIMLEX_URL",
    "Language",
    "Lexicon",
    "builtin_cldr",
    "language",
    "load_concepticon_tsv",
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

#: Where to get Multi-SimLex's ``translation.csv`` (not redistributable from here).
MULTISIMLEX_URL = "https://multisimlex.com/"

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

    Build one with the loaders of this module; it is immutable once built.
    """

    name: str
    languages: tuple[Language, ...]
    table: Mapping[str, Mapping[str, tuple[str, ...]]] = field(repr=False)
    pos: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        frozen = {c: MappingProxyType(dict(row)) for c, row in self.table.items()}
        object.__setattr__(self, "table", MappingProxyType(frozen))
        object.__setattr__(self, "pos", MappingProxyType(dict(self.pos)))

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

    def complete(self, codes: Iterable[str]) -> tuple[str, ...]:
        """Concepts that have a word in every language of ``codes``."""
        codes = tuple(codes)
        for code in codes:
            self.language(code)
        return tuple(c for c, row in self.table.items() if all(row.get(x) for x in codes))

    def restrict(self, codes: Sequence[str], pos: str | None = None) -> Lexicon:
        """A lexicon over ``codes`` with the concepts complete in all of them (and of ``pos``)."""
        keep = [c for c in self.complete(codes) if pos is None or self.pos.get(c, pos) == pos]
        return Lexicon(
            name=self.name,
            languages=tuple(self.language(code) for code in codes),
            table={c: {x: self.table[c][x] for x in codes} for c in keep},
            pos={c: self.pos[c] for c in keep if c in self.pos},
        )


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
    """Read a concepticon-style TSV: a gloss column, an ISO 639 language column and a form column.

    Recognised headers: concept in ``CONCEPTICON_GLOSS``/``GLOSS``/``Parameter_ID``, language in
    ``LANGUAGE``/``ISO639``/``Language_ID``, word in ``FORM``/``VALUE``.
    """
    path = Path(path)
    header, rows = _open_table(path, "\t")
    chosen: dict[str, str] = {}
    for role, options in _CONCEPTICON_COLUMNS.items():
        found = next((c for c in options if c in header), None)
        if found is None:
            raise LexiconError(
                f"lexicon file {str(path)!r} has no {role} column (one of {', '.join(options)}):"
                " rename its header or convert it to the long CSV format"
            )
        chosen[role] = found
    return _build(
        name or path.stem,
        (
            (r[chosen["concept"]], r[chosen["language"]].lower(), r[chosen["word"]] or "", None)
            for r in rows
        ),
    )


def load_multisimlex(path: str | Path, name: str = "multisimlex") -> Lexicon:
    """Read Multi-SimLex ``translation.csv``: ``ID``, ``PoS``, ``ENG_1``, ``ENG_2``, ``ARA_1``...

    ``XXX_1`` is the reference word, ``XXX_2`` (when present) a synonym. The concept is named by its
    English reference word, suffixed with the ID when two rows share it.
    """
    path = Path(path)
    if not path.exists():
        raise LexiconError(
            f"Multi-SimLex file {str(path)!r} does not exist: it is not redistributed with"
            f" conceptpatch; download translation.csv from {MULTISIMLEX_URL} (Vulić et al., 2020)"
            " and put it at that path"
        )
    header, rows = _open_table(path, ",")
    _require(path, header, ("ID", "PoS", "ENG_1"), "Multi-SimLex translation.csv")
    columns = [
        (h, MULTISIMLEX_CODES[h.split("_")[0]])
        for h in header
        if "_" in h and h.split("_")[0] in MULTISIMLEX_CODES
    ]
    english = [r["ENG_1"].strip() for r in rows]
    seen: dict[str, int] = {}
    for word in english:
        seen[word] = seen.get(word, 0) + 1

    def triples():
        for r, eng in zip(rows, english, strict=True):
            concept = eng if seen[eng] == 1 else f"{eng}#{r['ID']}"
            for column, code in columns:
                yield concept, code, r[column] or "", (r["PoS"] or "").strip() or None

    return _build(name, triples())


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


def load_lexicon(spec: str | Path, fmt: str = "long_csv") -> Lexicon:
    """A lexicon from a built-in name (``"cldr"``) or a file path in format ``fmt``."""
    if str(spec) == "cldr":
        return builtin_cldr()
    if fmt not in _FORMATS:
        raise LexiconError(
            f"unknown lexicon format {fmt!r}: use one of {', '.join(sorted(_FORMATS))}"
        )
    return _FORMATS[fmt](Path(spec))

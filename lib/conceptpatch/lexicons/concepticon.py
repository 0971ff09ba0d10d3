"""Concepticon concept lists, long (one form per row) or wide (one column per language, errata)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import langcodes

from conceptpatch.errors import LexiconError
from conceptpatch.lexicons.core import (
    Lexicon,
    build,
    language,
    log,
    normalise_word,
    open_table,
)

__all__ = ["CONCEPTICON_LANGUAGES", "load_concepticon_tsv", "load_concepticon_wide", "read"]

#: Language columns of concepticon's wide concept lists -> ISO 639 codes (others via langcodes).
CONCEPTICON_LANGUAGES: Mapping[str, str] = MappingProxyType(
    {
        "ENGLISH": "en", "ARABIC": "ar", "CHINESE": "zh", "MANDARIN": "zh", "WELSH": "cy",
        "ESTONIAN": "et", "FINNISH": "fi", "FRENCH": "fr", "HEBREW": "he", "POLISH": "pl",
        "RUSSIAN": "ru", "SPANISH": "es", "CANTONESE": "yue", "SWAHILI": "sw", "GERMAN": "de",
    }
)  # fmt: skip


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
    header, rows = open_table(path, "\t")
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
    return build(
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
    cell = normalise_word(cell)
    match = _ALTERNATIVES.match(cell)
    if not match:
        return [cell] if cell else []
    words = [match["ref"], *match["alts"].split("/")]
    return list(dict.fromkeys(w for w in (normalise_word(x) for x in words) if w))


def _occurrences(forms: str, candidates: Sequence[str]) -> list[str] | None:
    """Split an ``*_IN_SOURCE`` cell (forms joined by spaces) into ``candidates``, longest first.

    None when the cell cannot be split that way (then errata cannot be placed).
    """
    tokens = normalise_word(forms).split()
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
    header, rows = open_table(path, "\t")
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
        concept = normalise_word(r["GLOSS"])
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
        tag = normalise_word(r.get("POS") or "")
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


def read(path: Path, pos: str | Sequence[str] | None = None) -> Lexicon:
    """The registry's entry point for format ``concepticon`` (keeps every part of speech)."""
    return load_concepticon_tsv(path)

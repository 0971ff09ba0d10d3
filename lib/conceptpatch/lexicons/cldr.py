"""The built-in CLDR lexicon: single-word emoji short names shipped by ``emoji``, offline."""

from __future__ import annotations

import functools
import unicodedata

from conceptpatch.lexicons.core import Lexicon, language

__all__ = ["CLDR_LANGUAGES", "builtin_cldr"]

#: The languages in which ``emoji`` ships CLDR short names.
CLDR_LANGUAGES: tuple[str, ...] = (
    "en", "es", "fr", "de", "it", "pt", "ru", "zh", "ja", "ko", "tr", "ar", "fa", "id",
)  # fmt: skip


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

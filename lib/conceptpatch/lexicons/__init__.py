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

Each source is one module of this package, named in its `registry` (cldr, concepticon,
multisimlex, long_csv; a constructed language: `constructed`); the package keeps their public
names importable from one place.
"""

from conceptpatch.lexicons.cldr import CLDR_LANGUAGES, builtin_cldr
from conceptpatch.lexicons.concepticon import (
    CONCEPTICON_LANGUAGES,
    load_concepticon_tsv,
    load_concepticon_wide,
)
from conceptpatch.lexicons.core import DEFAULT_POS, Language, Lexicon, language
from conceptpatch.lexicons.long_csv import load_long_csv
from conceptpatch.lexicons.multisimlex import (
    MULTISIMLEX_CODES,
    MULTISIMLEX_LIST,
    MULTISIMLEX_URL,
    builtin_multisimlex,
    load_multisimlex,
)
from conceptpatch.lexicons.registry import BUILTINS, load_lexicon

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

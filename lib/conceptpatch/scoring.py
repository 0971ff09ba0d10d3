"""Scoring: the outcome category of a decoded answer, decided from the lexicon.

Answers and words are compared after Unicode NFC, case-folding and whitespace trimming. The order
of the checks is the order of `CATEGORIES` (:mod:`conceptpatch.vocabulary`, where the
vocabulary is defined once): the first that matches wins.
"""

from __future__ import annotations

import unicodedata

from conceptpatch.lexicons import Lexicon
from conceptpatch.vocabulary import CATEGORIES, Category

__all__ = ["CATEGORIES", "Category", "categorize", "normalize"]


def normalize(text: str) -> str:
    """NFC, case-folded, trimmed, inner whitespace collapsed: the form answers are compared in."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def categorize(
    output: str,
    lexicon: Lexicon,
    concept: str,
    target_concept: str,
    input_lang: str,
    output_lang: str,
) -> Category:
    """The category of ``output`` for a trial that patches ``concept`` (C) into a prompt that asks
    for ``target_concept`` (D) from ``input_lang`` into ``output_lang``.

    - ``exact``: C's reference word in the output language, or one of its alternatives
      (`Lexicon.exact_words`: e.g. the merged translations of one Multi-SimLex English word);
    - ``synonym``: another of C's words in the output language (`Lexicon.synonyms`);
    - ``target``: one of D's words in the output language (the patch had no effect);
    - ``copy``: D's query word in the input language, copied untranslated;
    - ``other_language``: one of C's words in any other language;
    - ``unrelated``: anything else, including an empty answer.
    """
    answer = normalize(output)
    if not answer:
        return "unrelated"
    if answer in {normalize(w) for w in lexicon.exact_words(concept, output_lang)}:
        return "exact"
    if answer in {normalize(w) for w in lexicon.synonyms(concept, output_lang)}:
        return "synonym"
    if answer in {normalize(w) for w in lexicon.words(target_concept, output_lang)}:
        return "target"
    if answer == normalize(lexicon.reference(target_concept, input_lang)):
        return "copy"
    others = {
        normalize(w)
        for code in lexicon.codes
        if code != output_lang
        for w in lexicon.words(concept, code)
    }
    if answer in others:
        return "other_language"
    return "unrelated"

"""Scoring: each outcome category on constructed cases, and the normalisation answers get.

(e) C = dog is patched into a prompt that asks for D = cat from German into French.
"""

from __future__ import annotations

import unicodedata

import pytest
from conceptpatch.lexicons import Language, Lexicon
from conceptpatch.scoring import CATEGORIES, categorize, normalize
from hypothesis import given, settings
from hypothesis import strategies as st

LEXICON = Lexicon(
    name="score",
    languages=(
        Language("en", "English"),
        Language("fr", "Français"),
        Language("de", "Deutsch"),
        Language("ru", "Русский"),
    ),
    table={
        "dog": {
            "en": ("dog", "hound"), "fr": ("chien", "toutou"), "de": ("Hund",), "ru": ("собака",)
        },
        "cat": {"en": ("cat",), "fr": ("chat", "minou"), "de": ("Katze",), "ru": ("кошка",)},
        "coffee": {"en": ("coffee",), "fr": ("café",), "de": ("Kaffee",), "ru": ("кофе",)},
        "same": {"en": ("radio",), "fr": ("radio",), "de": ("Radio",), "ru": ("радио",)},
    },
)


def score(output: str, concept: str = "dog", target: str = "cat", pair: str = "de-fr") -> str:
    src, dst = pair.split("-")
    return categorize(output, LEXICON, concept, target, src, dst)


@pytest.mark.parametrize(
    ("output", "category"),
    [
        ("chien", "exact"),  # C's reference word in the output language
        ("toutou", "synonym"),  # another of C's words in the output language
        ("chat", "target"),  # D's reference in the output language: the patch did nothing
        ("minou", "target"),  # a synonym of D counts as D too
        ("Katze", "copy"),  # D's query word copied untranslated
        ("Hund", "other_language"),  # C in the input language
        ("dog", "other_language"),  # C in a third language
        ("hound", "other_language"),  # a synonym of C in a third language
        ("собака", "other_language"),  # C in another script
        ("café", "unrelated"),  # a third concept
        ("chiens", "unrelated"),  # a near miss is not a match
        ("", "unrelated"),  # nothing decoded
        ("   ", "unrelated"),  # only whitespace
    ],
)
def test_each_category_on_constructed_cases(output, category):
    """(e) Every category, decided from the lexicon."""
    assert score(output) == category
    assert category in CATEGORIES


@pytest.mark.parametrize(
    ("output", "category"),
    [
        ("  Chien ", "exact"),  # trimmed and case-folded
        ("CHIEN", "exact"),
        ("TouTou\t", "synonym"),
        ("KATZE", "copy"),
        ("СОБАКА", "other_language"),  # Cyrillic case folding
        ("HUND\n", "other_language"),
    ],
)
def test_case_and_whitespace_are_normalised(output, category):
    assert score(output) == category


def test_unicode_forms_are_normalised():
    """A decomposed é (e + combining acute) matches the precomposed word, and vice versa."""
    decomposed = unicodedata.normalize("NFD", "café")
    assert decomposed != "café"
    assert score(decomposed, "coffee", "cat") == "exact"
    nfd = Lexicon(
        name="nfd",
        languages=LEXICON.languages,
        table={
            **LEXICON.table,
            "coffee": {**LEXICON.table["coffee"], "fr": (decomposed,)},
        },
    )
    assert categorize("café", nfd, "coffee", "cat", "de", "fr") == "exact"
    assert categorize("Straße", LEXICON, "dog", "cat", "de", "fr") == "unrelated"
    assert normalize("Straße") == normalize("STRASSE")  # full case folding, not lower()


def test_order_of_checks_when_words_coincide():
    """When C and D share a word the first category in `CATEGORIES` order wins."""
    assert score("radio", "same", "cat", "de-fr") == "exact"
    assert score("radio", "dog", "same", "de-fr") == "target"  # D's output word before copy
    assert score("Radio", "dog", "same", "de-ru") == "copy"  # D's input word, not its ru word
    assert score("радио", "same", "dog", "de-en") == "other_language"
    assert CATEGORIES == ("exact", "synonym", "target", "copy", "other_language", "unrelated")


def test_inner_whitespace_is_collapsed():
    spaced = Lexicon(
        name="spaced",
        languages=LEXICON.languages[:2],
        table={
            "ice cream": {"en": ("ice cream",), "fr": ("crème glacée",)},
            "cat": {"en": ("cat",), "fr": ("chat",)},
        },
    )
    assert categorize("crème  \t glacée", spaced, "ice cream", "cat", "en", "fr") == "exact"
    assert categorize("crèmeglacée", spaced, "ice cream", "cat", "en", "fr") == "unrelated"


@settings(max_examples=50, deadline=None)
@given(
    word=st.sampled_from(["chien", "toutou", "chat", "Katze", "Hund", "dog", "собака", "café"]),
    left=st.text(" \t\n", max_size=3),
    right=st.text(" \t\n", max_size=3),
    upper=st.booleans(),
    form=st.sampled_from(["NFC", "NFD", "NFKC"]),
)
def test_normalisation_never_changes_the_category(word, left, right, upper, form):
    """(e) Case, surrounding whitespace and Unicode form do not move an answer's category."""
    variant = unicodedata.normalize(form, left + (word.upper() if upper else word) + right)
    assert score(variant) == score(word)
    assert normalize(variant) == normalize(word)

"""Lexicons: the three loaders on small files, bad files named with their fix, built-in CLDR."""

from __future__ import annotations

import dataclasses
import unicodedata
from pathlib import Path

import pytest
from conceptpatch.errors import ConceptPatchError, LexiconError
from conceptpatch.lexicon import (
    MULTISIMLEX_CODES,
    Language,
    builtin_cldr,
    language,
    load_concepticon_tsv,
    load_lexicon,
    load_long_csv,
    load_multisimlex,
)

MULTISIMLEX_HEADER = ["ID", "PoS"] + [
    f"{iso}_{n}" for iso in MULTISIMLEX_CODES for n in (1, 2)
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _one_line_error(err: pytest.ExceptionInfo, *needles: str) -> None:
    """A user error: a ConceptPatchError whose one-line message names each needle."""
    assert isinstance(err.value, ConceptPatchError)
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


# --- long CSV ------------------------------------------------------------------------------------


def test_long_csv_reference_synonyms_pos(tmp_path):
    path = _write(
        tmp_path / "words.csv",
        "concept,language,word,pos\n"
        "dog,en,dog,N\n"
        "dog,fr,chien,N\n"
        "dog,fr,toutou,N\n"
        "dog,en, dog ,N\n"  # a repeat after trimming: not a second synonym
        "cat,en,cat,N\n"
        "cat,de,Katze,\n"
        "cat,fr,,\n"  # an empty word is no word
        f"coffee,fr,{unicodedata.normalize('NFD', 'café')},N\n",
    )
    lexicon = load_long_csv(path)
    assert lexicon.name == "words"
    assert lexicon.concepts == ("dog", "cat", "coffee")
    assert lexicon.codes == ("en", "fr", "de")
    assert lexicon.words("dog", "fr") == ("chien", "toutou")
    assert lexicon.reference("dog", "fr") == "chien"
    assert lexicon.words("dog", "en") == ("dog",)
    assert lexicon.words("cat", "fr") == ()
    assert lexicon.reference("coffee", "fr") == "café"  # NFC
    assert lexicon.pos["dog"] == "N" and "cat" in lexicon.pos
    assert lexicon.language("fr") == Language("fr", "Français")
    assert lexicon.language("de").name == "Deutsch"
    assert lexicon.complete(["en", "fr"]) == ("dog",)
    assert lexicon.complete(["en", "de"]) == ("cat",)


def test_long_csv_display_names_override(tmp_path):
    path = _write(tmp_path / "x.csv", "concept,language,word\nsun,qaa,zor\nsun,en,sun\n")
    lexicon = load_long_csv(path, name="synthetic", names={"qaa": "Zorbian"})
    assert lexicon.name == "synthetic"
    assert lexicon.language("qaa") == Language("qaa", "Zorbian")
    assert load_lexicon(path).reference("sun", "qaa") == "zor"


def test_lexicon_is_immutable_and_restricts(tiny_lexicon):
    with pytest.raises(dataclasses.FrozenInstanceError):
        tiny_lexicon.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        tiny_lexicon.table["dog"]["en"] = ("x",)  # type: ignore[index]
    small = tiny_lexicon.restrict(["fr", "en"])
    assert small.codes == ("fr", "en")
    assert small.concepts == tiny_lexicon.concepts
    assert small.words("dog", "en") == ("dog", "hound")
    with pytest.raises(LexiconError) as err:
        small.language("de")
    _one_line_error(err, "'de'", "choose one of those")


def test_lexicon_lookup_errors(tiny_lexicon):
    with pytest.raises(LexiconError) as err:
        tiny_lexicon.words("unicorn", "en")
    _one_line_error(err, "'unicorn'", "check its spelling")
    with pytest.raises(LexiconError) as err:
        tiny_lexicon.language("cy")
    _one_line_error(err, "'cy'", "en, fr, de, ru")


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("concept,lang,word\ndog,en,dog\n", ["language", "fix the header"]),
        ("concept,language,word\n", ["empty", "at least one concept"]),
        ("concept,language,word\ndog,english!,dog\n", ["'english!'", "ISO 639"]),
        ("", ["lacks column", "concept, language, word"]),
    ],
)
def test_bad_long_csv(tmp_path, text, needles):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(LexiconError) as err:
        load_long_csv(path)
    _one_line_error(err, *needles)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(LexiconError) as err:
        load_long_csv(tmp_path / "absent.csv")
    _one_line_error(err, "absent.csv", "check the path")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("concept,language,word\ncoffee,fr,café\n".encode("latin-1"))
    with pytest.raises(LexiconError) as err:
        load_long_csv(latin1)
    _one_line_error(err, "UTF-8", "re-save")


def test_unknown_format_and_builtin_name(tmp_path):
    with pytest.raises(LexiconError) as err:
        load_lexicon(tmp_path / "x.csv", fmt="xlsx")
    _one_line_error(err, "'xlsx'", "long_csv")
    assert load_lexicon("cldr") is builtin_cldr()


def test_language_codes():
    assert language("yue").code == "yue"
    assert language("cy").name == "Cymraeg"
    assert language("qaa", "Zorbian") == Language("qaa", "Zorbian")
    for bad in ("", "xx", "en gb", "123"):
        with pytest.raises(LexiconError) as err:
            language(bad)
        _one_line_error(err, "ISO 639")


# --- Multi-SimLex translation.csv ----------------------------------------------------------------


def _multisimlex_row(row_id: str, pos: str, **cells: str) -> list[str]:
    values = {"ID": row_id, "PoS": pos, **cells}
    return [values.get(h, "") for h in MULTISIMLEX_HEADER]


def test_multisimlex_layout(tmp_path):
    rows = [
        _multisimlex_row(
            "1", "N", ENG_1="dog", ENG_2="hound", FRA_1="chien", CMN_1="狗", YUE_1="狗",
            CYM_1="ci", RUS_1="собака", ARA_1="كلب", SPA_1="perro", SPA_2="can",
        ),
        _multisimlex_row("2", "V", ENG_1="run", FRA_1="courir", CYM_1="rhedeg"),
        _multisimlex_row("3", "N", ENG_1="bank", FRA_1="banque"),
        _multisimlex_row("4", "N", ENG_1="bank", FRA_1="rive"),
    ]  # fmt: skip
    text = "\n".join(",".join(r) for r in [MULTISIMLEX_HEADER, *rows]) + "\n"
    lexicon = load_multisimlex(_write(tmp_path / "translation.csv", text))
    assert lexicon.name == "multisimlex"
    assert lexicon.concepts == ("dog", "run", "bank#3", "bank#4")
    assert lexicon.words("dog", "en") == ("dog", "hound")
    assert lexicon.words("dog", "es") == ("perro", "can")
    assert lexicon.reference("dog", "zh") == "狗" == lexicon.reference("dog", "yue")
    assert lexicon.reference("dog", "cy") == "ci"
    assert lexicon.reference("bank#4", "fr") == "rive"
    assert lexicon.words("run", "ru") == ()
    assert lexicon.pos == {"dog": "N", "run": "V", "bank#3": "N", "bank#4": "N"}
    assert {"en", "fr", "zh", "yue", "cy", "ru", "ar", "es"} <= set(lexicon.codes)
    assert lexicon.language("cy").name == "Cymraeg"
    assert lexicon.restrict(["en", "fr"], pos="V").concepts == ("run",)
    again = load_lexicon(tmp_path / "translation.csv", fmt="multisimlex")
    assert again.concepts == lexicon.concepts


def test_multisimlex_without_its_columns(tmp_path):
    path = _write(tmp_path / "translation.csv", "id,pos,english\n1,N,dog\n")
    with pytest.raises(LexiconError) as err:
        load_multisimlex(path)
    _one_line_error(err, "ID, PoS, ENG_1", "Multi-SimLex", "choose another format")


# --- concepticon-style TSV -----------------------------------------------------------------------


def test_concepticon_tsv(tmp_path):
    path = _write(
        tmp_path / "forms.tsv",
        "ID\tCONCEPTICON_GLOSS\tLANGUAGE\tFORM\n"
        "1\tDOG\tEN\tdog\n"
        "2\tDOG\tFR\tchien\n"
        "3\tDOG\tFR\ttoutou\n"
        "4\tSUN\tDE\tSonne\n",
    )
    lexicon = load_concepticon_tsv(path)
    assert lexicon.concepts == ("DOG", "SUN")
    assert lexicon.codes == ("en", "fr", "de")
    assert lexicon.words("DOG", "fr") == ("chien", "toutou")
    assert load_lexicon(path, fmt="concepticon").reference("SUN", "de") == "Sonne"


def test_concepticon_alternative_headers(tmp_path):
    path = _write(tmp_path / "cldf.tsv", "Parameter_ID\tLanguage_ID\tValue\nsun\tfr\tsoleil\n")
    assert load_concepticon_tsv(path).reference("sun", "fr") == "soleil"


def test_concepticon_without_a_form_column(tmp_path):
    path = _write(tmp_path / "bad.tsv", "GLOSS\tLANGUAGE\tWORDS\nDOG\ten\tdog\n")
    with pytest.raises(LexiconError) as err:
        load_concepticon_tsv(path)
    _one_line_error(err, "no word column", "FORM", "long CSV")


# --- built-in CLDR -------------------------------------------------------------------------------

SEVEN = ("en", "es", "fr", "de", "it", "pt", "ru")


def test_builtin_cldr_coverage_and_names():
    lexicon = builtin_cldr()
    assert lexicon.name == "cldr"
    assert len(lexicon.complete(SEVEN)) >= 300
    assert lexicon.codes[:7] == SEVEN and len(lexicon.codes) == 14
    names = {lang.code: lang.name for lang in lexicon.languages}
    assert names["en"] == "English" and names["fr"] == "Français" and names["de"] == "Deutsch"
    assert names["es"] == "Español" and names["ru"] == "Русский"
    assert lexicon.reference("dog", "fr") == "chien"


def test_builtin_cldr_words_are_single_unambiguous_nfc_words():
    lexicon = builtin_cldr()
    for code in lexicon.codes:
        seen: dict[str, str] = {}
        for concept in lexicon.concepts:
            for word in lexicon.words(concept, code):
                assert word and " " not in word and "_" not in word, (concept, code, word)
                assert unicodedata.is_normalized("NFC", word)
                key = word.casefold()
                assert key not in seen, f"{word!r} names {seen.get(key)!r} and {concept!r}"
                seen[key] = concept
    assert all(lexicon.words(c, "en") for c in lexicon.concepts)

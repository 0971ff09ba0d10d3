"""Lexicons: the three loaders on small files, bad files named with their fix, built-in CLDR."""

from __future__ import annotations

import dataclasses
import unicodedata
from importlib.resources import files
from pathlib import Path

import pytest
from conceptpatch.errors import ConceptPatchError, LexiconError
from conceptpatch.lexicons import (
    MULTISIMLEX_LIST,
    Language,
    builtin_cldr,
    builtin_multisimlex,
    language,
    load_concepticon_tsv,
    load_concepticon_wide,
    load_lexicon,
    load_long_csv,
    load_multisimlex,
)
from conceptpatch.scoring import categorize


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


#: The fixture in the layout of the distributed file (ID, ENG 1, ENG 2, PoS, ARA 1, ARA 2, ...,
#: scores 1, translation 1, scores 2, translation 2): 11 word pairs, made so that every step of
#: the paper's processing (mainlp/shared-concept-spaces, src/clap/multi_simlex_utils.py) removes or
#: merges something. Its code gives 11 -> 22 -> 20 -> 18 -> 16 -> 9 on this file.
TRANSLATION_CSV = Path(__file__).parent / "data" / "translation.csv"


def test_multisimlex_fixture_has_the_distributed_layout():
    header = TRANSLATION_CSV.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:4] == ["ID", "ENG 1", "ENG 2", "PoS"]
    assert header[-4:] == ["scores 1", "translation 1", "scores 2", "translation 2"]
    assert len(header) == 13 * 2 + 2 + 2 + 1 + 1  # as the paper's test of the real file


def test_multisimlex_counts_after_each_step(caplog):
    with caplog.at_level("INFO", logger="conceptpatch.lexicons"):
        lexicon = load_multisimlex(TRANSLATION_CSV)
    steps = {s["step"]: s for s in lexicon.meta["steps"]}
    assert [s["step"] for s in lexicon.meta["steps"]] == [
        "read", "stack", "drop_empty", "drop_conflicting_pos", "merge", "pos",
    ]  # fmt: skip
    assert [s["rows"] for s in lexicon.meta["steps"]] == [11, 22, 20, 18, 16, 9]
    assert steps["drop_empty"]["removed"] == 2  # "home" (no Swahili), "bus" (no Mandarin)
    assert steps["drop_conflicting_pos"] == {
        "step": "drop_conflicting_pos", "rows": 18, "removed": 2, "words": ["plant"],
    }  # fmt: skip
    assert steps["merge"]["merged"] == 2 and steps["merge"]["with_alternatives"] == 1
    assert steps["pos"]["pos"] == ["nouns"]
    assert "drop_conflicting_pos" in caplog.text  # each step is logged
    assert set(lexicon.concepts) == {
        "cat", "dog", "horse", "tree", "house", "car", "water", "fire", "mouse",
    }  # fmt: skip
    assert len(lexicon.codes) == 13 and lexicon.language("sw").name == "Kiswahili"


def test_multisimlex_merged_translations_are_alternatives():
    lexicon = load_multisimlex(TRANSLATION_CSV)
    # "dog" is word 1 of pair 2 (toutou) and word 2 of pair 1 (chien): word-1 rows come first
    assert lexicon.words("dog", "fr") == ("toutou", "chien")
    assert lexicon.exact_words("dog", "fr") == ("toutou", "chien")
    assert lexicon.synonyms("dog", "fr") == ()
    assert lexicon.words("dog", "ru") == ("пёс", "собака")
    assert lexicon.words("cat", "fr") == ("chat",)  # merged, the same translation twice
    assert lexicon.meta["ids"]["dog"] == "2"
    assert categorize("chien", lexicon, "dog", "cat", "en", "fr") == "exact"
    assert categorize("toutou", lexicon, "dog", "cat", "en", "fr") == "exact"


def test_multisimlex_parts_of_speech():
    every = load_multisimlex(TRANSLATION_CSV, pos=None)
    assert every.pos_counts() == {"nouns": 9, "verbs": 3, "adverbs": 2, "adjectives": 2}
    assert "plant" not in every.table  # noun and verb: dropped
    assert every.pos["grow"] == "verbs"
    verbs = load_multisimlex(TRANSLATION_CSV, pos=["verbs", "adverbs"])
    assert verbs.pos_counts() == {"verbs": 3, "adverbs": 2}
    # through load_lexicon (as suites load it) every part of speech stays; the suite restricts
    assert load_lexicon(TRANSLATION_CSV, fmt="multisimlex").concepts == every.concepts
    with pytest.raises(LexiconError) as err:
        load_multisimlex(TRANSLATION_CSV, pos="N")
    _one_line_error(err, "'N'", "nouns", "verbs")


def test_multisimlex_numeric_score_columns_fall_back_to_the_english_word(tmp_path):
    lines = TRANSLATION_CSV.read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") for line in lines]
    for row in rows[1:]:
        row[-4], row[-2] = "5.5", "5.5"  # the same score everywhere: must not merge words
    path = _write(tmp_path / "translation.csv", "\n".join(",".join(r) for r in rows) + "\n")
    assert [s["rows"] for s in load_multisimlex(path).meta["steps"]] == [11, 22, 20, 18, 16, 9]


def test_multisimlex_without_its_columns(tmp_path):
    path = _write(tmp_path / "translation.csv", "id,pos,english\n1,N,dog\n")
    with pytest.raises(LexiconError) as err:
        load_multisimlex(path)
    _one_line_error(err, "ID, PoS", "Multi-SimLex", "choose another format")
    path = _write(tmp_path / "t2.csv", "ID,PoS,ENG_1\n1,nouns,dog\n")
    with pytest.raises(LexiconError) as err:
        load_multisimlex(path)
    _one_line_error(err, "'ENG 1' and 'ENG 2'", "multisimlex.com")


def test_multisimlex_missing_file_names_the_download_and_the_builtin(tmp_path):
    with pytest.raises(LexiconError) as err:
        load_multisimlex(tmp_path / "translation.csv")
    _one_line_error(err, "multisimlex.com", 'builtin = "multisimlex"')


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


# --- concepticon wide concept list (Multi-SimLex's Vulic-2020-2244) -----------------------------

WIDE = (
    "ID\tNUMBER\tGLOSS\tPOS\tENGLISH\tCHINESE\tRUSSIAN\tFRENCH\tENGLISH_IN_SOURCE"
    "\tCHINESE_IN_SOURCE\tRUSSIAN_IN_SOURCE\tFRENCH_IN_SOURCE\tENGLISH_SCORE"
    "\tMANDARIN_ERRATUM\tRUSSIAN_ERRATUM\tFRENCH_ERRATUM\n"
    # bone: the bracketed Mandarin form is an erratum (it means tongue), dropped
    "L-1\t1\tbone\tnouns\tbone\t骨头 (舌头)\tкость\tos\tbone bone\t舌头 骨头\tкость кость"
    "\tos os\t5.1\t1 0\t0 0\t0 0\n"
    # bank: the only Russian form is an erratum: no Russian word is left
    "L-2\t2\tbank\tnouns\tbank\t银行\tнаклон\tbanque\tbank\t银行\tнаклон\tbanque\t3.2\t0\t1\t0\n"
    # teacher: alternatives, one form spelt over two tokens; flagged once, kept (used elsewhere)
    "L-3\t3\tteacher\tnouns\tteacher\t老师\tучитель\tenseignant (petit maître)\tteacher"
    "\t老师\tучитель\tpetit maître enseignant petit maître\t4.0\t0\t0\t1 0 0\n"
    "L-4\t4\trun\tverbs\trun\t跑\tбегать\tcourir\trun\t跑\tбегать\tcourir\t2.0\t0\t0\t0\n"
)


def test_concepticon_wide_list_with_errata(tmp_path):
    path = _write(tmp_path / "Vulic-mini.tsv", WIDE)
    lexicon = load_concepticon_tsv(path)
    assert lexicon.codes == ("en", "zh", "ru", "fr")
    assert lexicon.concepts == ("bone", "bank", "teacher", "run")
    assert lexicon.words("bone", "zh") == ("骨头",)  # erratum dropped
    assert lexicon.words("bank", "ru") == ()  # its only form was an erratum
    assert lexicon.words("teacher", "fr") == ("enseignant", "petit maître")
    assert lexicon.exact_words("teacher", "fr") == ("enseignant", "petit maître")
    assert lexicon.pos == {"bone": "nouns", "bank": "nouns", "teacher": "nouns", "run": "verbs"}
    assert lexicon.meta["in_source"]["bone"]["zh"] == "舌头 骨头"  # provenance kept
    errata = lexicon.meta["steps"][1]
    assert errata["forms_dropped"] == {"zh": 1, "ru": 1}
    assert errata["cells_emptied"] == {"ru": 1}
    assert lexicon.restrict(["en", "ru"], pos="nouns").concepts == ("bone", "teacher")
    assert load_lexicon(path, fmt="concepticon").concepts == lexicon.concepts


def test_concepticon_wide_loader_refuses_a_long_list(tmp_path):
    path = _write(tmp_path / "long.tsv", "GLOSS\tLANGUAGE\tFORM\nDOG\ten\tdog\n")
    with pytest.raises(LexiconError) as err:
        load_concepticon_wide(path)
    _one_line_error(err, "not a wide concept list", "format = 'concepticon'")


# --- built-in Multi-SimLex (the shipped concept list) -------------------------------------------


def test_builtin_multisimlex_is_the_shipped_list_with_errata_applied():
    raw = load_concepticon_tsv(files("conceptpatch") / "data" / MULTISIMLEX_LIST)
    assert raw.pos_counts() == {"nouns": 1330, "verbs": 468, "adjectives": 295, "adverbs": 151}
    assert raw.codes == ("en", "ar", "zh", "cy", "et", "fi", "fr", "he", "pl", "ru", "es", "yue")
    assert raw.words("bone", "zh") == ("骨头",)
    assert raw.words("brother", "zh") == ("兄弟",)  # 哥哥 was flagged at every occurrence
    lexicon = load_lexicon("multisimlex")
    assert lexicon is builtin_multisimlex() and lexicon.name == "multisimlex"
    assert len(lexicon.codes) == 12 and "sw" not in lexicon.codes
    counts = lexicon.pos_counts()
    assert counts["nouns"] >= 1000
    assert sum(counts.values()) == len(lexicon.concepts)
    # merged as the paper merges translation.csv: one concept per English word
    english = [lexicon.reference(c, "en") for c in lexicon.concepts]
    assert len(set(english)) == len(english)
    assert "CC-BY 4.0" in lexicon.meta["licence"]
    nouns = lexicon.restrict(["en", "zh", "et", "fi", "fr", "pl", "ru", "es", "yue", "cy"], "nouns")
    assert len(nouns.concepts) >= 1000


def test_shipped_list_carries_its_attribution():
    readme = (files("conceptpatch") / "data" / "README.md").read_text(encoding="utf-8")
    assert "CC-BY 4.0" in readme and "Vulić" in readme and "concepticon" in readme


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

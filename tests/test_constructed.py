"""The constructed unseen language: seeded words (deterministic, stable, distinct, promptable,
never a real word), its suite key, its tokenizer check, and a tiny run whose unseen-language claim
gets cases and whose report says it departs from the paper."""

from __future__ import annotations

import random
import re
from types import SimpleNamespace

import pytest
from _tiny import suite_data
from conceptpatch import api
from conceptpatch.cli import main
from conceptpatch.compute import check_tokenizer, run_suite
from conceptpatch.config.suite import parse_suite
from conceptpatch.errors import ConceptPatchError, SuiteError
from conceptpatch.lexicons import constructed
from conceptpatch.lexicons.constructed import (
    Constructed,
    constructed_name,
    constructed_words,
    unknown_pieces,
    with_constructed,
)
from conceptpatch.lexicons.core import build, unpromptable
from conceptpatch.provenance import departures
from conceptpatch.resolve import resolve, resolve_organism
from conceptpatch.sources.random import train_bpe
from hypothesis import given, settings
from hypothesis import strategies as st

WORD = re.compile(r"(?:[bdfgklmnprstvz][aeiou][klmnrst]?){2,3}")
concepts = st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=25)
seeds = st.integers(0, 2**63 - 1)


@settings(max_examples=40, deadline=None)
@given(concepts, concepts, seeds)
def test_a_word_depends_on_seed_and_concept_alone(first, more, seed):
    """Adding concepts (in any order) changes no existing word; the words are distinct syllable
    words a prompt carries."""
    alone = constructed_words(first, seed)
    extended = list(dict.fromkeys(more + first))
    random.Random(seed).shuffle(extended)
    together = constructed_words(extended, seed)
    assert {c: together[c] for c in first} == alone == constructed_words(first, seed)
    assert len(set(together.values())) == len(together)
    for word in together.values():
        assert WORD.fullmatch(word) and len(word) >= constructed.MIN_LETTERS
        assert word.isascii() and unpromptable(word) is None


def test_seeds_give_other_words_and_names():
    names = ["dog", "cat", "house"]
    assert constructed_words(names, 0) != constructed_words(names, 1)
    assert constructed_name(0) != constructed_name(1) and constructed_name(0).istitle()
    assert constructed_name(0, taken=[constructed_name(0).upper()]) != constructed_name(0)


def test_collisions_resolve_by_rank_whatever_the_order(monkeypatch):
    """With every concept wanting the same words, ranks decide: the same words in any order, and
    the top-ranked concept keeps its first word in every set that holds it."""
    monkeypatch.setattr(constructed, "_candidates", lambda seed, c: iter(["kalon", "mirat", "tesum",
                                                                          "bodil", "venak"]))
    names = ["dog", "cat", "house", "tree"]
    words = constructed_words(names, 0)
    assert sorted(words.values()) == ["bodil", "kalon", "mirat", "tesum"]
    assert constructed_words(names[::-1], 0) == words
    top = next(c for c, w in words.items() if w == "kalon")
    assert constructed_words([top, "sun"], 0)[top] == "kalon"
    with pytest.raises(ConceptPatchError, match="no free word"):
        constructed_words([*names, "sun", "moon"], 0)


def test_the_lexicon_gets_a_word_for_every_concept_none_a_real_word(tiny_lexicon):
    made = Constructed("qcl", "Videlish", 0)
    lexicon = with_constructed(tiny_lexicon, made)
    real = {w.casefold() for row in tiny_lexicon.table.values() for ws in row.values() for w in ws}
    words = [lexicon.reference(c, "qcl") for c in lexicon.concepts]
    assert len(words) == len(tiny_lexicon.concepts) == len(set(words))
    assert not real & set(words) and lexicon.language("qcl").name == "Videlish"
    avoided = constructed_words(["dog"], 0, avoid=[constructed_words(["dog"], 0)["dog"].upper()])
    assert avoided["dog"] != constructed_words(["dog"], 0)["dog"]
    with pytest.raises(ConceptPatchError, match="is the name of 'en'"):
        with_constructed(tiny_lexicon, Constructed("qcl", "english", 0))
    organism_like = build("organism", [("dog", "qaa", "bako", None)], names={"qaa": "Bakish"})
    with pytest.raises(ConceptPatchError, match="already a language of lexicon 'organism'"):
        with_constructed(organism_like, Constructed("qaa", "Videlish", 0))


@pytest.mark.parametrize(("table", "message"), [
    ({"code": "fr"}, "languages.constructed.code 'fr' is not a private-use code: use one of"),
    ({"code": "qua"}, "is not a private-use code"),
    ({"code": "qzz"}, "not a private-use code"),
    ({"sed": 1}, "unknown key 'sed' in languages.constructed (did you mean 'seed'?)"),
    ({"seed": -1}, "languages.constructed.seed = -1 is out of range"),
    ({"name": 'Vel"t'}, "languages.constructed.name 'Vel\"t' holds a quote"),
    ({"name": " Velt"}, "surrounding spaces"),
])
def test_the_suite_key_is_validated_in_one_line(table, message):
    with pytest.raises(SuiteError) as err:
        parse_suite(suite_data(languages={"constructed": table}))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_code_is_unseen_by_construction():
    with pytest.raises(SuiteError, match="listed in seen: a constructed language is unseen"):
        parse_suite(suite_data(languages={"seen": ["en", "fr", "qcl"], "constructed": {}}))
    with pytest.raises(SuiteError, match="must be an inline table"):
        parse_suite(suite_data(languages={"constructed": "qcl"}))
    auto = parse_suite(suite_data(languages={"unseen": ["ru"], "constructed": {"seed": 2}}))
    placed = parse_suite(suite_data(languages={"unseen": ["qcl", "ru"], "constructed": {}}))
    assert auto.unseen == ("ru", "qcl") and placed.unseen == ("qcl", "ru")
    assert auto.constructed == Constructed("qcl", constructed_name(2), 2)
    msl = parse_suite(suite_data(lexicon={"builtin": "multisimlex"},
                                 languages={"seen": ["en", "fr", "es"],
                                            "constructed": {"code": "qtz", "name": "Veltish"}}))
    assert msl.unseen == ("qtz",)  # not refused as absent from Multi-SimLex


def test_the_design_hash_covers_it_and_suites_without_it_keep_theirs():
    plain = parse_suite(suite_data())
    assert "constructed" not in plain.to_dict() and "constructed" not in plain.design_data()
    hashes = {parse_suite(suite_data(languages={"constructed": t})).settings_hash()
              for t in ({}, {"seed": 1}, {"name": "Veltish"})}
    assert len(hashes) == 3 and plain.settings_hash() not in hashes


def _unk_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordPiece({"[UNK]": 0, "ka": 1, "##lon": 2}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]")


def test_unknown_pieces_names_the_words_a_tokenizer_reads_as_unknown():
    assert unknown_pieces(_unk_tokenizer(), ["kalon", "mirat"]) == ["mirat"]
    assert unknown_pieces(train_bpe(["kalon mirat"], 300), ["kalon", "zuzuzu"]) == []


def test_run_refuses_a_tokenizer_that_reads_the_words_as_unknown():
    resolved = resolve(parse_suite(suite_data(languages={"constructed": {}})), build=False)
    lm = SimpleNamespace(tokenizer=_unk_tokenizer(), checkpoint=SimpleNamespace(name="wp"))
    with pytest.raises(SuiteError, match=r"reads .* constructed language qcl as its unknown token"):
        check_tokenizer(lm, resolved, ())


def test_a_tiny_run_gives_the_unseen_claim_cases_and_the_report_the_departure(
        tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = suite_data(languages={"constructed": {"seed": 0}})
    suite = parse_suite(data)
    results = run_suite(suite, tmp_path / "store", progress=False)
    assert set(results["output_lang"]) == {"en", "fr", "de", "qcl"}
    table = api.verdicts(results, suite=suite)
    unseen = table[table["claim_id"] == "unseen_language"]
    assert set(unseen["case"]) == {"bound-qcl", "mix-qcl"}
    page = api.save_report(results, table, tmp_path / "report", suite=suite).read_text("utf-8")
    assert "the unseen language qcl (Videlish) is constructed" in page
    assert any("is constructed" in line for line in departures(suite, 1))
    from _tiny import write_suite

    assert main(["check", str(write_suite(tmp_path, languages={"constructed": {}}))]) == 0
    out = capsys.readouterr().out
    assert "unseen qcl" in out and "departure: the unseen language qcl" in out


def test_an_organism_keeps_its_own_unseen_language_beside_the_constructed_one(tmp_path):
    (tmp_path / "lexicon.csv").write_text(
        "concept,language,word\n" + "".join(f"{c},en,{c}\n{c},qaa,{c}ba\n{c},qae,{c}lo\n"
                                            for c in ("dog", "cat", "sun")), encoding="utf-8")
    manifest = {"checkpoints": [], "languages": [
        {"code": "en", "name": "English", "seen": True},
        {"code": "qaa", "name": "Bakish", "seen": True},
        {"code": "qae", "name": "Tolish", "seen": False}]}
    data = {"model": {"organism": "tiny"}, "languages": {"constructed": {}}}
    resolved = resolve_organism(parse_suite(data), tmp_path, manifest)
    assert resolved.unseen == ("qae", "qcl") and resolved.lexicon.codes == ("en", "qaa", "qae",
                                                                           "qcl")
    data["languages"]["constructed"] = {"code": "qaa"}
    with pytest.raises(ConceptPatchError, match="'qaa' is already a language of lexicon"):
        resolve_organism(parse_suite(data), tmp_path, manifest)

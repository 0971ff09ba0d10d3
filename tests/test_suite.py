"""Suite parsing: shipped suites are valid, paths resolve, the hash ignores cosmetics."""

from __future__ import annotations

from pathlib import Path

import pytest
from _tiny import SUITE, suite_data
from conceptpatch.config.suite import load_suite, parse_suite
from conceptpatch.errors import SuiteError

SUITES = sorted((Path(__file__).parents[1] / "suites").glob("*.toml"))


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_shipped_suites_are_valid(path):
    suite = load_suite(path)
    assert suite.path == str(path.resolve()) and suite.name


def test_parse_tiny_suite():
    suite = parse_suite(SUITE)
    assert (suite.seen, suite.unseen, suite.k, suite.trials) == (("en", "fr", "de"), (), 2, 2)
    assert suite.layers == (0, 1) and suite.settings == ("seen", "unpatched")


def test_relative_paths_resolve_against_the_suite_folder(tmp_path):
    data = suite_data(lexicon={"path": "lex.csv"})
    data["lexicon"].pop("builtin")
    data["model"] = {"checkpoints": [{"name": "a", "path": "ckpt"}]}
    suite = parse_suite(data, base=tmp_path)
    assert suite.lexicon.path == str(tmp_path / "lex.csv")
    assert suite.model.checkpoints[0]["path"] == str(tmp_path / "ckpt")


def test_hash_changes_with_results_not_with_cosmetics():
    base = parse_suite(SUITE).settings_hash()
    assert parse_suite(suite_data(name="other", description="x")).settings_hash() == base
    assert parse_suite(suite_data(model={"batch_size": 4})).settings_hash() == base
    for changed in ({"seed": 1}, {"patch": {"max_new_tokens": 4}}, {"prompt": {"k": 3}}):
        assert parse_suite(suite_data(**changed)).settings_hash() != base


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ({"languages": {"seen": ["en", "fr"], "unseen": ["fr"]}}, "both seen and unseen"),
        ({"languages": {"seen": ["en", "en", "fr"]}}, "twice"),
        ({"prompt": {"shots": "per_pare"}}, "did you mean 'per_pair'"),
        ({"patch": {"position": "lst"}}, "did you mean 'last'"),
        ({"model": {"dtype": "float8"}}, "use one of"),
        ({"sample": {"trials": 0}}, "out of range"),
        ({"model": {"random_layers": 100000}}, "out of range"),
    ],
)
def test_bad_values_name_the_fix(edit, says):
    with pytest.raises(SuiteError) as err:
        parse_suite(suite_data(**edit))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_glob_suite_needs_a_step_group_and_complete_phases():
    for model, says in (
        ({"glob": "ck/*", "step_pattern": "step"}, "no group"),
        ({"glob": "ck/*", "phases": [{"phase": 2}]}, "lacks from_step"),
        ({"glob": "ck/*", "step_pattern": "("}, "not a valid regex"),
    ):
        data = suite_data()
        data["model"] = model
        with pytest.raises(SuiteError, match=says):
            parse_suite(data)


def test_an_expectation_names_a_known_claim_with_a_did_you_mean():
    from conceptpatch.claims import MODULES
    from conceptpatch.config.schema import CLAIM_IDS

    assert set(CLAIM_IDS) == set(MODULES)
    data = {"name": "x", "model": {"random": "llama"}, "lexicon": {"builtin": "cldr"},
            "languages": {"seen": ["en", "fr"]},
            "expect": [{"claim": "layer_sensitivty", "verdict": "refuted", "reason": "r"}]}
    with pytest.raises(SuiteError, match="did you mean 'layer_sensitivity'"):
        parse_suite(data)

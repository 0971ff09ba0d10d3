"""The part-of-speech axis: rows carry C's `pos`, the report's exact rate by part of speech,
and the rows claims see (nouns unless the suite says otherwise)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from _tiny import write_suite
from conceptpatch.compute import run_suite
from conceptpatch.config.suite import load_suite
from conceptpatch.report import pos_rate_records, render
from conceptpatch.resolve import resolve
from conceptpatch.results import claim_rows, conform, empty_table, exact_rate_by_pos


def _table(rows: list[tuple[str, str | None, str]]) -> pd.DataFrame:
    """A minimal results table: setting, C's pos and category per row."""
    return pd.DataFrame({
        "setting": [s for s, _, _ in rows],
        "pos": pd.array([p for _, p, _ in rows], dtype="string"),
        "category": [c for _, _, c in rows],
    })  # fmt: skip


def test_exact_rate_by_pos_counts_each_setting_and_part_of_speech():
    table = _table([
        ("seen", "nouns", "exact"), ("seen", "nouns", "target"), ("seen", "verbs", "exact"),
        ("seen", None, "copy"), ("unpatched", "nouns", "target"),
    ])  # fmt: skip
    out = exact_rate_by_pos(table)
    assert out.to_dict("records") == [
        {"setting": "seen", "pos": "(untagged)", "trials": 1, "exact": 0, "rate": 0.0},
        {"setting": "seen", "pos": "nouns", "trials": 2, "exact": 1, "rate": 0.5},
        {"setting": "seen", "pos": "verbs", "trials": 1, "exact": 1, "rate": 1.0},
        {"setting": "unpatched", "pos": "nouns", "trials": 1, "exact": 0, "rate": 0.0},
    ]
    assert list(exact_rate_by_pos(empty_table()).columns) == [
        "setting", "pos", "trials", "exact", "rate",
    ]  # fmt: skip
    records = pos_rate_records(table)
    assert records[1] == {"setting": "seen", "pos": "nouns", "trials": "2", "exact": "1",
                          "rate": "0.500"}  # fmt: skip


def test_claim_rows_keep_the_claims_parts_of_speech_and_untagged_rows():
    table = _table([("seen", "nouns", "exact"), ("seen", "verbs", "exact"),
                    ("seen", None, "exact")])  # fmt: skip
    assert claim_rows(table, ("nouns",))["pos"].tolist()[0] == "nouns"
    assert len(claim_rows(table, ("nouns",))) == 2  # nouns and the untagged row
    assert len(claim_rows(table, None)) == 3


def test_older_units_without_pos_read_as_untagged():
    frame = conform(empty_table()).drop(columns=["pos"])
    assert "pos" in conform(frame).columns


@pytest.mark.filterwarnings("ignore::conceptpatch.compute.QueryPositionWarning")
def test_a_suite_over_nouns_and_verbs_of_the_builtin_list(tmp_path, monkeypatch):
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    path = write_suite(
        tmp_path,
        lexicon={"builtin": "multisimlex", "pos": ["nouns", "verbs"]},
        languages={"seen": ["en", "fr", "es", "pl"]},
        model={"random_layers": 1, "random_hidden": 16},
        patch={"layers": [0], "settings": ["seen", "unpatched"], "max_new_tokens": 2},
        sample={"trials": 20},
    )
    suite = load_suite(path)
    assert suite.pos == ("nouns", "verbs") and suite.claims_pos == ("nouns",)
    resolved = resolve(suite)
    assert set(resolved.lexicon.pos.values()) == {"nouns", "verbs"}
    table = run_suite(suite, tmp_path / "store", progress=False)
    assert set(table["pos"].astype(str)) == {"nouns", "verbs"}
    tags = resolved.lexicon.pos
    assert all(tags[c] == tags[d] == p for c, d, p in
               zip(table["concept"], table["target_concept"], table["pos"], strict=True))
    rates = exact_rate_by_pos(table)
    assert set(rates["setting"]) == {"seen", "unpatched"}
    assert int(rates["trials"].sum()) == len(table)
    nouns = claim_rows(table, suite.claims_pos)
    assert set(nouns["pos"].astype(str)) == {"nouns"}
    page = render_page(table)
    assert "Exact rate by part of speech" in page and "verbs" in page


def render_page(table: pd.DataFrame) -> str:
    from conceptpatch.report import build_records

    return render(build_records(table, [], {"name": "pos"}))

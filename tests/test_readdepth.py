"""Tests of the read-depth measure: its arithmetic on made-up tables, a run on a tiny model."""

from __future__ import annotations

import pandas as pd
import pytest
from _tiny import SUITE
from conceptpatch.config.suite import parse_suite
from conceptpatch.readdepth import (
    READ_THRESHOLD,
    ReadDepth,
    changed_by_layer,
    read_depth_of,
    read_layer,
    suite_read_depth,
    word_self_suite,
)


def _table(changed: dict[int, list[bool]], unseen_changed: bool = True) -> pd.DataFrame:
    """Rows of one checkpoint: per layer j, trial t answers "new" where changed[j][t] is True.

    Trial t's unpatched answer is "old"; one extra unseen-language trial always changes (it
    must not count). The category is "exact" for changed answers.
    """
    n = len(next(iter(changed.values())))
    rows = []

    def row(setting: str, layer: int, trial: int, output: str, seen: bool = True) -> dict:
        return {"checkpoint": "final", "n_layers": len(changed), "setting": setting,
                "layer": layer, "trial": trial, "output": output, "output_seen": seen,
                "category": "exact" if output == "new" else "target"}

    for t in range(n):
        rows.append(row("unpatched", -1, t, "old"))
    rows.append(row("unpatched", -1, n, "old", seen=False))
    for j, flags in changed.items():
        for t, flag in enumerate(flags):
            rows.append(row("tgt", j, t, "new" if flag else "old"))
        rows.append(row("tgt", j, n, "new" if unseen_changed else "old", seen=False))
    return pd.DataFrame(rows)


def test_read_layer_is_the_highest_layer_that_changes_half_of_the_answers() -> None:
    table = _table({0: [True] * 4, 1: [True, True, True, False], 2: [True, True, False, False],
                    3: [True, False, False, False]})
    changed = changed_by_layer(table)
    assert changed.to_dict() == {0: 1.0, 1: 0.75, 2: 0.5, 3: 0.25}
    assert read_layer(changed) == 2  # exactly half counts
    depth = read_depth_of(table)
    assert (depth.layer, depth.depth, depth.n_layers) == (2, 0.5, 4)
    assert depth.exact == {0: 1.0, 1: 0.75, 2: 0.5, 3: 0.25}
    assert depth.trials == 4  # the unseen-language trial does not count
    assert depth.threshold == READ_THRESHOLD


def test_a_non_monotone_profile_takes_the_highest_layer() -> None:
    assert read_layer({0: 0.9, 1: 0.2, 2: 0.6, 3: 0.1}) == 2


def test_no_layer_that_changes_half_gives_depth_zero() -> None:
    table = _table({0: [True, False, False], 1: [False] * 3})
    depth = read_depth_of(table)
    assert (depth.layer, depth.depth) == (-1, 0.0)
    assert read_layer({}) == -1


def test_every_layer_changing_gives_full_depth() -> None:
    depth = read_depth_of(_table({j: [True, True] for j in range(6)}))
    assert (depth.layer, depth.depth) == (5, 5 / 6)


def test_threshold_is_a_parameter() -> None:
    table = _table({0: [True] * 4, 1: [True, True, True, False], 2: [True, False, False, False]})
    assert read_depth_of(table, threshold=0.75).layer == 1
    assert read_depth_of(table, threshold=0.2).layer == 2


def test_unseen_output_languages_do_not_count() -> None:
    table = _table({0: [False] * 4, 1: [False] * 4}, unseen_changed=True)
    assert changed_by_layer(table).max() == 0.0


def test_missing_rows_are_errors() -> None:
    table = _table({0: [True, False]})
    with pytest.raises(ValueError, match="unpatched"):
        changed_by_layer(table[table["setting"] != "unpatched"])
    with pytest.raises(ValueError, match="tgt"):
        changed_by_layer(table[table["setting"] != "tgt"])
    with pytest.raises(ValueError, match="unpatched row"):
        changed_by_layer(table[~((table["setting"] == "unpatched") & (table["trial"] == 1))])
    two = pd.concat([table, table.assign(checkpoint="other")])
    with pytest.raises(ValueError, match="one checkpoint"):
        read_depth_of(two)


def test_word_self_suite_measures_every_layer_in_word_mode() -> None:
    suite = parse_suite({**SUITE, "patch": {**SUITE["patch"], "position": "last"}})
    measured = word_self_suite(suite, trials=3)
    assert measured.position == "word"
    assert measured.settings == ("tgt", "unpatched")
    assert measured.layers is None and measured.trials == 3
    assert word_self_suite(suite, trials=None).trials == suite.trials
    assert (measured.seen, measured.k, measured.seed) == (suite.seen, suite.k, suite.seed)


@pytest.mark.usefixtures("tiny_suite_env")
def test_suite_read_depth_on_a_tiny_model_is_deterministic() -> None:
    suite = parse_suite(SUITE)
    first, = suite_read_depth(suite, trials=3)
    again, = suite_read_depth(suite, trials=3)
    assert isinstance(first, ReadDepth)
    assert first == again
    assert first.n_layers == 2 and set(first.changed) == {0, 1} == set(first.exact)
    assert all(0.0 <= v <= 1.0 for v in first.changed.values())
    assert first.depth == max(first.layer, 0) / 2
    assert first.trials == 3 * len(suite.seen)
    assert first.to_dict()["layer"] == first.layer
    everything, = suite_read_depth(suite, trials=3, threshold=0.0)
    assert everything.layer == 1 and everything.depth == 0.5
    nothing, = suite_read_depth(suite, trials=3, threshold=1.01)
    assert nothing.layer == -1 and nothing.depth == 0.0


@pytest.mark.usefixtures("tiny_suite_env")
def test_suite_read_depth_names_unknown_checkpoints() -> None:
    from conceptpatch.errors import SuiteError

    with pytest.raises(SuiteError, match="not in suite"):
        suite_read_depth(parse_suite(SUITE), checkpoints=["nope"], trials=1)


@pytest.mark.usefixtures("tiny_suite_env")
def test_cli_readdepth_prints_one_line_per_checkpoint(tmp_path, capsys) -> None:
    import json

    from _tiny import write_suite
    from conceptpatch.cli import main

    suite = write_suite(tmp_path)
    assert main(["readdepth", str(suite), "--trials", "2", "--quiet"]) == 0
    assert "random-llama: read depth" in capsys.readouterr().out
    assert main(["readdepth", str(suite), "--trials", "2", "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["n_layers"] == 2 and data["depth"] == max(data["layer"], 0) / 2

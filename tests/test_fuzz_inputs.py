"""Fuzzing what users bring: lexicon rows and store contents end in a result or in one line.

Through the real CLI (`conceptpatch check`, `report`, `check --store`): any "internal error", a
traceback or a second line of error fails. Suites are fuzzed in test_errors.py.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from _tiny import dump_toml, suite_data
from conceptpatch import compute as run_module
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
#: Words as users' files hold them: quotes, separators, line breaks, control and format
#: characters, long runs, empty strings, right-to-left text.
_WORDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
        ['"', "'", ",", "\n", "\r", "\t", "\x00", "\u200d", "\u2029", "\ufeff", "-", ":"]),
    max_size=120) | st.sampled_from(["", " ", "a" * 300, "שלום", "say \"hi\""])


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Exit status and stderr of the CLI; a failure must be one line, never an internal error."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    err = captured.err
    assert "internal error" not in err and "Traceback" not in err, err
    if code != 0:  # `check` may warn first ("  warning: ..."); the error is one line of its own
        lines = [line for line in err.splitlines() if line.strip()
                 and not line.startswith("  warning: ")]
        assert len(lines) == 1 and lines[0].startswith("conceptpatch: error: "), err
    return code, err


def _lexicon(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["concept", "language", "word"])
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=_SUPPRESS)
@given(hostile=st.lists(st.tuples(st.sampled_from(["dog", "cat", "x", ""]),
                                  st.sampled_from(["en", "fr", "de", "zz", ""]), _WORDS),
                        max_size=6))
def test_fuzz_lexicon_rows_never_crash_check(tmp_path_factory, capsys, hostile):
    """Good rows for 30 concepts plus hostile ones: `check` plans or refuses in one line."""
    folder = tmp_path_factory.mktemp("lex")
    rows = [(f"c{i}", code, f"{code}{i}w") for i in range(30) for code in ("en", "fr", "de")]
    path = _lexicon(folder / "lex.csv", rows + hostile)
    data = suite_data(lexicon={"path": str(path), "format": "long_csv"})
    del data["lexicon"]["builtin"]
    suite = folder / "suite.toml"
    suite.write_text(dump_toml(data), encoding="utf-8")
    _cli(capsys, "check", str(suite))


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory, tiny_suite_cache) -> tuple[Path, Path]:
    """The tiny suite computed once: (suite file, store) to copy and damage."""
    folder = tmp_path_factory.mktemp("fuzz-store")
    suite = folder / "suite.toml"
    suite.write_text(dump_toml(suite_data()), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONCEPTPATCH_CACHE", str(tiny_suite_cache))
        run_module.run_suite(load_suite(suite), folder / "store", progress=False)
    return suite, folder / "store"


_JUNK = st.sampled_from([b"", b"PAR1", b"\x00" * 64, b"not parquet at all", b'{"a": 1}'])
_PLACES = st.sampled_from(["notes/summary.parquet", "random-llama/seen.parquet",
                           "random-llama/unpatched.parquet", "annotations.parquet",
                           "conceptpatch-store.json", "random-llama/seen.timing.json",
                           "x/y/z.parquet", "random-llama/other.parquet"])


@settings(max_examples=30, deadline=None, suppress_health_check=_SUPPRESS)
@given(damage=st.lists(st.tuples(_PLACES, _JUNK | st.binary(max_size=200)), min_size=1,
                       max_size=3), truncate=st.booleans())
def test_fuzz_store_contents_never_crash_report_or_check(tmp_path_factory, capsys,
                                                         tiny_suite_cache, finished_store,
                                                         monkeypatch, damage, truncate):
    """Files overwritten or added with junk, units truncated: `report` and `check --store`
    give their result or one line naming the file and the fix; the store's units are intact
    wherever nothing was written over them."""
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tiny_suite_cache))
    suite, clean = finished_store
    store = tmp_path_factory.mktemp("damaged") / "store"
    shutil.copytree(clean, store)
    for place, junk in damage:
        target = store / place
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(junk)
    if truncate:
        unit = store / "random-llama" / "en_en.parquet"
        if unit.exists():
            unit.write_bytes(unit.read_bytes()[:100])
    out = store.parent / "report"
    _cli(capsys, "report", str(store), "--out", str(out))
    _cli(capsys, "check", str(suite), "--store", str(store))


def test_a_stray_parquet_is_ignored_not_read(finished_store, tmp_path, capsys):
    _, clean = finished_store
    store = tmp_path / "store"
    shutil.copytree(clean, store)
    (store / "notes").mkdir()
    pd.DataFrame({"x": [1]}).to_parquet(store / "notes" / "summary.parquet")
    code, _ = _cli(capsys, "report", str(store), "--out", str(tmp_path / "r"))
    assert code == 0

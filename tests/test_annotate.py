"""Annotation sheets: export, label, import round trip; bad sheets named by row and column."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from conceptpatch.annotate import (
    ANNOTATIONS_FILE,
    KEY,
    LABELS,
    SHEET_COLUMNS,
    apply_annotations,
    export_sheet,
    import_sheet,
    load_annotations,
)
from conceptpatch.errors import AnnotationError, ConceptPatchError
from conceptpatch.results import Store, conform

FORMULA = '=HYPERLINK("http://evil.example","x")'
SCRIPT = "<script>alert(1)</script>"
CATEGORIES = ("exact", "synonym", "other_language", "copy", "target", "unrelated")


def _results(checkpoints=(("c0", 0, 1), ("c9", 900, 2)), layers=(0, 1, 2), trials=4):
    """A small results table in the contract schema, with hostile outputs."""
    rows = []
    for ck, step, phase in checkpoints:
        for setting in ("seen", "unpatched"):
            for layer in (-1,) if setting == "unpatched" else layers:
                for li, (out, seen) in enumerate((("fr", True), ("cy", False))):
                    for t in range(trials):
                        trial = li * trials + t
                        output = (FORMULA, SCRIPT, "-chien", "chat")[t % 4]
                        rows.append({
                            "checkpoint": ck, "step": step, "tokens": step * 1000,
                            "phase": phase, "layer": layer, "n_layers": 3, "position": "last",
                            "setting": setting,
                            "source_pairs": "de-en;en-fr" if setting == "seen" else "",
                            "input_lang": "en", "output_lang": out, "output_seen": seen,
                            "concept": f"c{t}", "target_concept": f"d{t}", "trial": trial,
                            "output": output, "category": CATEGORIES[(trial + layer) % 6],
                            "p_concept": 0.1, "seed": 0, "suite_hash": "h",
                        })
    return pd.DataFrame(rows).astype({c: "int64" for c in (
        "step", "tokens", "phase", "layer", "n_layers", "trial", "seed")})


@pytest.fixture
def store(tmp_path) -> Path:
    """A results store laid out as the contract says: <store>/<checkpoint>/<setting>.parquet."""
    root = Store(tmp_path / "store").open()
    for (ck, setting), unit in _results().groupby(["checkpoint", "setting"]):
        root.write(ck, setting, unit, meta={"suite_hash": "h"})
    return root.root


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]], columns=None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_export_samples_per_cell_and_neutralises_formulas(store, tmp_path):
    sheet = export_sheet(store, tmp_path / "sheet.csv", per_cell=2, seed=3)
    rows = _rows(sheet)
    assert len(rows) == 2 * 3 * 2 * 2  # checkpoint x layer x output language, 2 each
    cells = pd.DataFrame(rows).groupby(["checkpoint", "layer", "output_lang"]).size()
    assert (cells == 2).all()
    assert all(r["label"] == "" and r["setting"] == "seen" for r in rows)
    outputs = {r["output"] for r in rows}
    assert FORMULA not in outputs and "-chien" not in outputs
    assert outputs <= {"'" + FORMULA, SCRIPT, "'-chien", "chat"}
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert export_sheet(store, tmp_path / "again.csv", per_cell=2, seed=3).read_bytes() == \
        sheet.read_bytes()


def test_round_trip_labels_take_precedence(store, tmp_path):
    sheet = export_sheet(store, tmp_path / "sheet.csv", per_cell=1)
    rows = _rows(sheet)
    rows[0]["label"] = "hypernym"
    rows[1]["label"] = "Wrong language"  # typed by a person: normalised
    rows[1]["note"] = "'=SUM(A1)"  # as a neutralised export shows it
    rows[2]["note"] = "left blank: not imported"
    assert import_sheet(_write(tmp_path / "filled.csv", rows), store) == 2

    stored = load_annotations(store)
    assert sorted(stored["label"]) == ["hypernym", "wrong_language"]
    assert "=SUM(A1)" in set(stored["note"])
    results = conform(_results())
    labelled = apply_annotations(results, store)
    assert list(labelled.index) == list(results.index)
    assert (labelled.drop(columns="label") == results).all().all()
    manual = labelled["label"] != labelled["category"]
    assert set(labelled.loc[manual, "label"]) <= {"hypernym", "wrong_language"}
    hit = labelled[(labelled["checkpoint"] == rows[0]["checkpoint"])
                   & (labelled["layer"] == int(rows[0]["layer"]))
                   & (labelled["trial"] == int(rows[0]["trial"]))
                   & (labelled["setting"] == "seen")]
    assert list(hit["label"]) == ["hypernym"]

    # a second import merges: relabels one trial, adds another; formula output restored
    rows[0]["label"] = "synonym"
    rows[3]["label"] = "copy"
    assert import_sheet(_write(tmp_path / "filled2.csv", [rows[0], rows[3]]), store) == 2
    stored = load_annotations(store)
    assert len(stored) == 3 and sorted(stored["label"]) == ["copy", "synonym", "wrong_language"]
    assert not list(store.glob(".*tmp"))

    # the next export leaves labelled trials out
    fresh = _rows(export_sheet(store, tmp_path / "next.csv", per_cell=100))
    done = {(r["checkpoint"], r["layer"], r["trial"]) for r in rows[:2] + rows[3:4]}
    assert not done & {(r["checkpoint"], r["layer"], r["trial"]) for r in fresh}


def test_apply_without_annotations_copies_the_category(store):
    results = _results()
    labelled = apply_annotations(results, store)
    assert (labelled["label"] == results["category"]).all()


def test_blank_sheet_imports_nothing(store, tmp_path):
    sheet = export_sheet(store, tmp_path / "sheet.csv")
    assert import_sheet(sheet, store) == 0
    assert not (store / ANNOTATIONS_FILE).exists()


def _filled(store, tmp_path) -> list[dict[str, str]]:
    rows = _rows(export_sheet(store, tmp_path / "sheet.csv", per_cell=1))
    for r in rows:
        r["label"] = "exact"
    return rows


def _rejected(path: Path, store: Path) -> str:
    with pytest.raises(AnnotationError) as info:
        import_sheet(path, store)
    assert isinstance(info.value, ConceptPatchError)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_unknown_label_is_named_by_row_and_column(store, tmp_path):
    rows = _filled(store, tmp_path)
    rows[4]["label"] = "synonim"
    msg = _rejected(_write(tmp_path / "bad.csv", rows), store)
    assert "row 6, column 'label'" in msg and "did you mean 'synonym'" in msg
    assert "hypernym" in msg  # the fix: the valid labels
    assert not (store / ANNOTATIONS_FILE).exists()


def test_missing_column_is_named(store, tmp_path):
    rows = _filled(store, tmp_path)
    columns = [c for c in rows[0] if c != "trial"]
    msg = _rejected(_write(tmp_path / "bad.csv", rows, columns), store)
    assert "lacks column(s) trial" in msg and "re-export" in msg


@pytest.mark.parametrize(("column", "value"), [
    ("trial", "999"), ("checkpoint", "c5"), ("concept", "c99"), ("setting", "self")])
def test_unknown_trial_key_names_the_column(store, tmp_path, column, value):
    rows = _filled(store, tmp_path)
    rows[2][column] = value
    msg = _rejected(_write(tmp_path / "bad.csv", rows), store)
    assert f"row 4, column '{column}'" in msg and value in msg


def test_non_integer_key_is_named(store, tmp_path):
    rows = _filled(store, tmp_path)
    rows[0]["layer"] = "two"
    msg = _rejected(_write(tmp_path / "bad.csv", rows), store)
    assert "row 2, column 'layer'" in msg and "not an integer" in msg


def test_duplicate_rows_are_named(store, tmp_path):
    rows = _filled(store, tmp_path)
    rows.append(dict(rows[1], label="copy"))
    msg = _rejected(_write(tmp_path / "bad.csv", rows), store)
    assert f"rows 3 and {len(rows) + 1}" in msg and "keep one" in msg


def test_unreadable_or_missing_sheet(store, tmp_path):
    assert "does not exist" in _rejected(tmp_path / "nope.csv", store)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert "not a readable CSV" in _rejected(empty, store)


def test_export_from_an_empty_store_says_what_to_do(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationError, match="run the suite"):
        export_sheet(tmp_path / "empty", tmp_path / "sheet.csv")
    with pytest.raises(ConceptPatchError, match="does not exist"):
        export_sheet(tmp_path / "missing", tmp_path / "sheet.csv")


def test_vocabulary():
    assert set(CATEGORIES) <= set(LABELS)
    assert {"hypernym", "untranslated", "wrong_language"} <= set(LABELS)
    assert len(set(KEY)) == len(KEY) and "trial" in KEY


def test_sheet_columns_cover_the_trial_key():
    assert set(KEY) <= set(SHEET_COLUMNS) and len(set(SHEET_COLUMNS)) == len(SHEET_COLUMNS)
    assert SHEET_COLUMNS.index("label") < SHEET_COLUMNS.index("setting")  # readable first

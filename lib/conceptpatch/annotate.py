"""Manual annotation: export a sheet of sampled trials, import a person's labels, apply them.

The automatic categories are what the lexicon can decide; the paper's error analysis uses finer
labels (hypernym, untranslated, wrong language, ...) that only a reader can give. A sheet is a CSV
with the trials' key columns and a blank ``label`` column; imported labels are stored in
``<store>/annotations.parquet`` and take precedence over the automatic ``category`` in claims and
report (:func:`apply_annotations`). Cells are neutralised against spreadsheet formula injection.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from filelock import FileLock

from conceptpatch.errors import AnnotationError, StoreError
from conceptpatch.files import atomic_write
from conceptpatch.results import load_store  # the engine's loader: schema dtypes, checks
from conceptpatch.vocabulary import LABELS

__all__ = [
    "ANNOTATIONS_FILE",
    "KEY",
    "LABELS",
    "SHEET_COLUMNS",
    "apply_annotations",
    "export_sheet",
    "import_sheet",
    "load_annotations",
]

# The paper's finer outcome labels (defined once, in conceptpatch.vocabulary). `other_language` is
# the automatic category a reader may keep when C's word is in another language without deciding
# between untranslated and wrong_language.
# One trial row of the results table (the trial id recurs across layers, settings, checkpoints).
KEY: tuple[str, ...] = (
    "checkpoint", "setting", "position", "source_pairs", "layer",
    "input_lang", "output_lang", "concept", "target_concept", "trial",
)
_INT_KEYS = ("layer", "trial")
_CONTEXT = ("step", "output_seen", "output", "category")
# What a person reads first (left), then the rest of the trial key; import goes by column name.
SHEET_COLUMNS: tuple[str, ...] = (
    "checkpoint", "layer", "input_lang", "output_lang", "concept", "target_concept", "output",
    "category", "label", "note", "setting", "position", "source_pairs", "trial", "step",
    "output_seen",
)
ANNOTATIONS_FILE = "annotations.parquet"
DEFAULT_CELL: tuple[str, ...] = ("checkpoint", "layer", "output_lang")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(value: str) -> str:
    """Prefix an apostrophe to a cell a spreadsheet would run as a formula (and to one starting
    with an apostrophe, so that :func:`_restore` is its exact inverse)."""
    return "'" + value if value.startswith((*_FORMULA_START, "'")) else value


def _restore(value: str) -> str:
    """Undo :func:`_neutralise`."""
    return value[1:] if value.startswith("'") else value


def _load_store(store: Path) -> pd.DataFrame:
    """The store's results table (annotations.parquet at the root is not a unit of it)."""
    return load_store(store)


def load_annotations(store: Path) -> pd.DataFrame:
    """The labels imported into a store so far (empty, with the columns, when there are none)."""
    path = Path(store) / ANNOTATIONS_FILE
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in _INT_KEYS else object)
                             for c in (*KEY, "label", "note")})
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as err:  # truncated, not parquet (pyarrow's errors are these)
        raise _damaged(path, f"truncated or not parquet: {type(err).__name__}") from None
    missing = [c for c in (*KEY, "label") if c not in frame.columns]
    if missing:
        raise _damaged(path, f"lacks column(s) {', '.join(missing)}")
    return frame


def _damaged(path: Path, why: str) -> StoreError:
    """The one-line error for a damaged annotations file, naming the fix."""
    return StoreError(
        f"annotations file {path} is damaged ({why}): delete it, then re-import the filled-in"
        f" sheet(s) with `conceptpatch annotate import SHEET {path.parent}`"
    )


def export_sheet(
    store: Path,
    out: Path,
    per_cell: int = 5,
    seed: int = 0,
    by: Sequence[str] = DEFAULT_CELL,
    settings: Sequence[str] | None = None,
    skip_annotated: bool = True,
) -> Path:
    """Write a CSV of ``per_cell`` random patched trials per cell (default checkpoint x layer x
    output language) with a blank ``label`` column, and return its path.

    Trials already labelled in the store are left out unless ``skip_annotated`` is False; the same
    store, seed and options give the same sheet.
    """
    if per_cell < 1:
        raise AnnotationError(f"per_cell is {per_cell}; ask for at least one trial per cell")
    if Path(out).is_dir():
        raise AnnotationError(f"--out {out} is a folder; name the CSV file to write, such as"
                              f" {Path(out) / 'sheet.csv'}")
    results = _load_store(Path(store))
    unknown = [c for c in by if c not in results.columns]
    if unknown:
        raise AnnotationError(f"cannot group trials by unknown column(s) {unknown}; use columns "
                              "of the results table such as checkpoint, layer, output_lang")
    rows = results[(results["layer"] >= 0) & (results["setting"] != "unpatched")]
    if settings is not None:
        rows = rows[rows["setting"].isin(list(settings))]
    if rows.empty:
        raise AnnotationError(f"store {store} holds no patched trials to annotate; run the suite "
                              "into this store first (or widen the settings asked for)")
    if skip_annotated:
        done = load_annotations(Path(store))
        if not done.empty:
            done = _align_keys(done[list(KEY)], rows)
            seen = rows[list(KEY)].merge(done, on=list(KEY), how="left", indicator=True)
            rows = rows[(seen["_merge"] == "left_only").to_numpy()]
    picked = (rows.sample(frac=1.0, random_state=seed)
              .groupby(list(by), sort=False, dropna=False).head(per_cell)
              .sort_values(["step", *by, "setting", "trial"], kind="stable"))
    sheet = picked[[*KEY, *_CONTEXT]].assign(label="", note="")[list(SHEET_COLUMNS)]
    for col in sheet.columns:
        if sheet[col].dtype == object or pd.api.types.is_string_dtype(sheet[col]):
            sheet[col] = sheet[col].astype(str).map(_neutralise)
    out = Path(out)
    # utf-8 with BOM: spreadsheet programs then read native language names correctly
    atomic_write(out, lambda tmp: sheet.to_csv(tmp, index=False, encoding="utf-8-sig"))
    return out


def _align_keys(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """Cast ``frame``'s key columns to the dtypes of ``like``'s, so that merges match."""
    return frame.astype({c: like[c].dtype for c in KEY if c in frame and c in like})


def _normalise_label(value: str) -> str:
    """A label as typed, in the vocabulary's spelling ("Wrong language" -> wrong_language)."""
    return re.sub(r"[\s\-]+", "_", value.strip().lower())


def _where(sheet: Path, row: int, column: str) -> str:
    """Position of a cell as a spreadsheet shows it: data rows start at row 2 under the header."""
    return f"{sheet.name} row {row + 2}, column '{column}'"


def _read_sheet(sheet: Path) -> pd.DataFrame:
    """The sheet as strings, neutralisation undone; header and parse problems as AnnotationError."""
    try:
        frame = pd.read_csv(sheet, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(f"annotation sheet {sheet} does not exist; pass the path of the "
                              "CSV written by `conceptpatch annotate export`") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AnnotationError(f"annotation sheet {sheet} is not a readable CSV ({msg}); save it "
                              "as comma-separated UTF-8 text") from None
    missing = [c for c in (*KEY, "label") if c not in frame.columns]
    if missing:
        raise AnnotationError(f"annotation sheet {sheet} lacks column(s) {', '.join(missing)}; "
                              "keep the columns of the exported sheet (re-export it if removed)")
    return frame.map(_restore)


def _parse(sheet: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """The labelled rows with validated labels and integer keys; blank labels are skipped."""
    frame = frame.assign(label=frame["label"].map(_normalise_label))
    frame = frame[frame["label"] != ""]
    for i, value in frame["label"].items():
        if value not in LABELS:
            close = difflib.get_close_matches(value, LABELS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise AnnotationError(f"{_where(sheet, i, 'label')}: unknown label '{value}'{hint}; "
                                  f"use one of {', '.join(LABELS)}")
    for col in _INT_KEYS:
        for i, value in frame[col].items():
            if not re.fullmatch(r"\s*-?\d+\s*", value):
                raise AnnotationError(f"{_where(sheet, i, col)}: '{value}' is not an integer; "
                                      "restore the value from the exported sheet")
    frame = frame.astype({c: "int64" for c in _INT_KEYS})
    dup = frame.duplicated(list(KEY), keep=False)
    if dup.any():
        first, second = list(frame.index[dup])[:2]
        raise AnnotationError(f"{sheet.name} rows {first + 2} and {second + 2} label the same "
                              f"trial (columns {', '.join(KEY)} agree); keep one of the two rows")
    note = frame["note"] if "note" in frame.columns else ""
    return frame[list(KEY)].assign(label=frame["label"], note=note)


def _check_known(sheet: Path, labels: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Raise for the first row whose key matches no trial in the store, naming its column."""
    keys = results[list(KEY)].drop_duplicates()
    labels = _align_keys_str(labels, keys)
    found = labels.merge(keys, on=list(KEY), how="left", indicator=True)["_merge"]
    unknown = labels.index[(found == "left_only").to_numpy()]
    if len(unknown) == 0:
        return labels
    row = labels.loc[unknown[0]]
    candidates = keys
    for col in KEY:  # narrow column by column: the first that matches nothing is the one at fault
        candidates = candidates[candidates[col] == row[col]]
        if candidates.empty:
            break
    raise AnnotationError(
        f"{_where(sheet, unknown[0], col)}: no trial in the store has {col} = '{row[col]}' "
        "together with the row's earlier key columns; restore the key columns as exported "
        "(or re-export the sheet from this store)")


def _align_keys_str(labels: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Cast the sheet's string key columns to the store's dtypes (integer keys are parsed)."""
    casts = {c: keys[c].dtype for c in KEY if c not in _INT_KEYS and keys[c].dtype != object}
    return labels.astype(casts) if casts else labels


def import_sheet(sheet: Path, store: Path) -> int:
    """Validate a filled-in sheet and merge its labels into ``<store>/annotations.parquet``.

    Returns the number of labelled rows imported. A later import of the same trial replaces its
    label. Raises AnnotationError naming the row and column at fault for a missing column, an
    unknown label, a key that matches no trial of the store, or two rows for one trial.
    """
    sheet, store = Path(sheet), Path(store)
    labels = _parse(sheet, _read_sheet(sheet))
    if labels.empty:
        return 0
    labels = _check_known(sheet, labels, _load_store(store))
    target = store / ANNOTATIONS_FILE
    with FileLock(str(target) + ".lock"):
        old = load_annotations(store)
        if not old.empty:
            old = _align_keys(old, labels)
            keep = old.merge(labels[list(KEY)], on=list(KEY), how="left", indicator=True)
            old = old[(keep["_merge"] == "left_only").to_numpy()]
            merged = pd.concat([old, labels], ignore_index=True)
        else:
            merged = labels.reset_index(drop=True)
        merged = merged.astype({"label": str, "note": str})
        atomic_write(target, lambda tmp: merged.to_parquet(tmp, index=False))
    return len(labels)


def apply_annotations(results: pd.DataFrame, store: Path) -> pd.DataFrame:
    """``results`` with a ``label`` column: the manual label where a trial has one, else its
    automatic ``category``. Rows and their order are unchanged."""
    labels = load_annotations(Path(store))
    if labels.empty or results.empty:
        return results.assign(label=results["category"].astype(str))
    labels = _align_keys(labels[[*KEY, "label"]], results)
    merged = results[list(KEY)].merge(labels, on=list(KEY), how="left", validate="many_to_one")
    manual = merged["label"].set_axis(results.index)
    return results.assign(label=manual.where(manual.notna(), results["category"]).astype(str))

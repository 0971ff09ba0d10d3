"""The results table (one row per trial) and the store: a folder of parquet files, one per unit.

A unit is (checkpoint, setting). Each is written atomically (temp file, fsync, rename) under a
per-unit file lock, so a killed run leaves only complete units, a rerun computes exactly the
missing ones, and two processes never compute the same unit at once. Temp files a killed writer
left behind are ignored when loading and removed the next time their unit is locked. Each unit
carries its suite hash, seed and package versions in the parquet metadata; the store holds only
parquet and json (no pickle).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from conceptpatch.errors import StoreError, first_line
from conceptpatch.files import TMP_SUFFIX, atomic_write

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "Store",
    "claim_rows",
    "empty_table",
    "exact_rate_by_pos",
    "load_store",
]

SCHEMA_VERSION = 1
#: Columns of the results table and their pandas dtypes (meanings: docs/results-store.md).
COLUMNS: Mapping[str, str] = {
    "checkpoint": "string",
    "step": "int64",
    "tokens": "int64",
    "phase": "int64",
    "layer": "int64",
    "n_layers": "int64",
    "position": "string",
    "setting": "string",
    "source_pairs": "string",
    "input_lang": "string",
    "output_lang": "string",
    "output_seen": "bool",
    "concept": "string",
    "target_concept": "string",
    "pos": "string",
    "trial": "int64",
    "output": "string",
    "category": "string",
    "p_concept": "float64",
    "seed": "int64",
    "suite_hash": "string",
}
_MARKER = "conceptpatch-store.json"
_TMP_SUFFIX = TMP_SUFFIX


def empty_table() -> pd.DataFrame:
    """A results table with no rows and the schema's columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMNS.items()})


#: Columns added after schema version 1 was first written, with the value older units read as.
_ADDED: Mapping[str, object] = {"pos": pd.NA}  # C's part of speech (NA: untagged lexicon)


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly the schema's columns, in order, with the schema's dtypes.

    Columns added to the schema later (``pos``) are filled in for older units and tables.
    """
    absent = {c: v for c, v in _ADDED.items() if c not in frame.columns}
    if absent:
        frame = frame.assign(**absent)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise StoreError(f"results lack column(s) {', '.join(missing)}: this is a bug, report it")
    return frame[list(COLUMNS)].astype(dict(COLUMNS)).reset_index(drop=True)


def exact_rate_by_pos(table: pd.DataFrame) -> pd.DataFrame:
    """Exact-match rate by part of speech of C (the paper's open question on word classes).

    One row per (setting, pos): ``trials`` (rows over every layer and checkpoint), ``exact`` and
    ``rate``; ``pos`` is ``"(untagged)"`` for lexicons without parts of speech. The unpatched
    setting is the baseline rate of saying C unprompted.
    """
    columns = ["setting", "pos", "trials", "exact", "rate"]
    if table.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            columns, ["string", "string", "int64", "int64", "float64"], strict=True)})
    pos = table["pos"] if "pos" in table.columns else pd.Series(pd.NA, index=table.index)
    frame = pd.DataFrame({
        "setting": table["setting"].astype(str),
        "pos": pos.astype("string").fillna("(untagged)").astype(str),
        "exact": (table["category"].astype(str) == "exact").astype("int64"),
    })  # fmt: skip
    out = frame.groupby(["setting", "pos"], sort=True)["exact"].agg(["size", "sum"]).reset_index()
    out = out.rename(columns={"size": "trials", "sum": "exact"})
    out["rate"] = out["exact"] / out["trials"]
    return out[columns].astype({"trials": "int64", "exact": "int64"})


def claim_rows(table: pd.DataFrame, pos: tuple[str, ...] | None) -> pd.DataFrame:
    """The rows claims are tested on: those of C's parts of speech ``pos`` (a suite's
    ``claims_pos``: nouns unless it says otherwise); None keeps every row. Untagged rows
    (lexicons without parts of speech) are always kept."""
    if pos is None or "pos" not in table.columns:
        return table
    keep = table["pos"].isna() | table["pos"].astype(str).isin(pos)
    return table[keep.astype(bool)].reset_index(drop=True)


def _safe(name: str) -> str:
    """``name`` as one path component: no separators, no leading dot (hidden, "." or "..")."""
    safe = re.sub(r"[^A-Za-z0-9._=-]", "_", name)
    return "_" + safe[1:] if safe.startswith(".") or not safe else safe


@dataclass(frozen=True)
class Store:
    """A results store rooted at a local directory."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def open(self) -> Store:
        """Create the store (or check an existing one's schema version); returns ``self``."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"store {str(self.root)!r} is a file, not a directory: choose a directory for"
                " --store"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.root / f".{_MARKER}.lock")):
                marker = self.root / _MARKER
                if not marker.exists():
                    _remove_temps(self.root, _MARKER)
                    atomic_write(marker, json.dumps({"schema_version": SCHEMA_VERSION}).encode())
        except OSError as err:
            raise StoreError(
                f"store {str(self.root)!r} is not writable ({err.strerror or err}): choose a"
                " writable --store directory"
            ) from None
        self.check_version()
        return self

    def check_version(self) -> None:
        """Raise `StoreError` if the store's marker names another schema version (or is garbled)."""
        marker = self.root / _MARKER
        try:
            version = json.loads(marker.read_text(encoding="utf-8"))["schema_version"]
        except FileNotFoundError:
            return  # a folder nothing was written to yet: it reads as an empty store
        except (OSError, ValueError, KeyError, TypeError):
            version = None
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"store {str(self.root)!r} was written with schema version {version}, this"
                f" conceptpatch reads and writes version {SCHEMA_VERSION}: use a new --store"
                " directory (or the conceptpatch version that wrote it)"
            )

    def unit_path(self, checkpoint: str, setting: str) -> Path:
        return self.root / _safe(checkpoint) / f"{_safe(setting)}.parquet"

    def unit_meta(self, checkpoint: str, setting: str) -> dict[str, object] | None:
        """The metadata stored with a unit (suite hash, seed, versions), or None if it is absent.

        An unreadable unit file counts as absent, so that it is recomputed and replaced.
        """
        path = self.unit_path(checkpoint, setting)
        if not path.exists():
            return None
        try:
            raw = (pq.read_schema(path).metadata or {}).get(b"conceptpatch")
            return dict(json.loads(raw)) if raw else {}
        except (OSError, ValueError, pa.ArrowException):
            return None

    def unit_hash(self, checkpoint: str, setting: str) -> str | None:
        """The suite hash a stored unit was computed with, or None if the unit is not stored."""
        meta = self.unit_meta(checkpoint, setting)
        return None if meta is None else meta.get("suite_hash")  # type: ignore[return-value]

    def has(self, checkpoint: str, setting: str, suite_hash: str) -> bool:
        """Whether the unit is stored with ``suite_hash``."""
        return self.unit_hash(checkpoint, setting) == suite_hash

    @contextmanager
    def lock(self, checkpoint: str, setting: str) -> Iterator[None]:
        """Hold the unit's lock: only one process computes a unit at a time.

        Temp files of the unit that a killed writer left are removed once the lock is held.
        """
        path = self.unit_path(checkpoint, setting)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(path) + ".lock")
            lock.acquire()
        except OSError as err:
            raise StoreError(
                f"store {str(self.root)!r} is not writable ({err.strerror or err}): choose a"
                " writable --store directory"
            ) from None
        try:
            _remove_temps(path.parent, path.name)
            yield
        finally:
            lock.release()

    def write(
        self, checkpoint: str, setting: str, frame: pd.DataFrame, meta: Mapping[str, object]
    ) -> Path:
        """Write one unit atomically; ``meta`` (suite hash, versions, seed) goes in the parquet."""
        table = pa.Table.from_pandas(conform(frame), preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"conceptpatch": json.dumps(meta).encode()}
        )
        path = self.unit_path(checkpoint, setting)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, sink.getvalue().to_pybytes())
        except OSError as err:
            raise StoreError(
                f"cannot write {str(path)!r} ({err.strerror or err}): choose a writable --store"
                " directory with free space"
            ) from None
        return path

    def write_timing(self, checkpoint: str, setting: str, record: Mapping[str, object]) -> None:
        """Record how long a unit took and where, beside it (``<setting>.timing.json``).

        Kept out of the parquet so that a rerun still gives byte-identical units.
        """
        path = self.unit_path(checkpoint, setting).with_suffix(".timing.json")
        try:
            atomic_write(path, json.dumps(dict(record), sort_keys=True).encode())
        except OSError as err:
            raise StoreError(f"cannot write {str(path)!r} ({err.strerror or err}): choose a"
                             " writable --store directory with free space") from None

    def timings(self) -> list[dict[str, object]]:
        """Every unit's timing record (see `write_timing`), with its checkpoint and setting."""
        out = []
        for path in sorted(self.root.glob("*/*.timing.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a damaged record is not worth failing a report for
            out.append({"checkpoint": path.parent.name,
                        "setting": path.name.removesuffix(".timing.json"), **record})
        return out

    def units(self) -> list[Path]:
        """The stored unit files, sorted; hidden and temp files (a killed writer's) are skipped."""
        return sorted(
            p
            for p in self.root.glob("*/*.parquet")
            if p.is_file() and not p.name.startswith(".")
        )

    def load(self) -> pd.DataFrame:
        """Every stored unit, concatenated (an empty, typed table when there are none)."""
        paths = self.units()
        if not paths:
            return empty_table()
        return conform(pd.concat([_read_unit(p) for p in paths], ignore_index=True))


def _read_unit(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as err:
        first = first_line(err)
        raise StoreError(
            f"unit {str(path)!r} is unreadable ({first}): delete it and run the suite again to"
            " recompute it"
        ) from None


def _remove_temps(folder: Path, name: str) -> None:
    """Remove the temp files `atomic_write` left for ``folder / name`` (call under its lock)."""
    for tmp in folder.glob(f".{name}.*{_TMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)


def load_store(path: str | Path) -> pd.DataFrame:
    """The results table of the store at ``path``."""
    root = Path(path)
    if not root.is_dir():
        raise StoreError(f"store {str(root)!r} does not exist: run `conceptpatch run` first")
    store = Store(root)
    store.check_version()
    return store.load()

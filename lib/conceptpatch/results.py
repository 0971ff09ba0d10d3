"""The results table (one row per trial) and the store: a folder of parquet files, one per unit.

A unit is (checkpoint, setting). Each is written atomically (temp file, fsync, rename) under a
per-unit file lock, so a killed run leaves only complete units, a rerun computes exactly the
missing ones, and two processes never compute the same unit at once.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from conceptpatch.errors import StoreError

__all__ = ["COLUMNS", "SCHEMA_VERSION", "Store", "empty_table", "load_store"]

SCHEMA_VERSION = 1
#: Columns of the results table and their pandas dtypes (see the README for their meaning).
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
    "trial": "int64",
    "output": "string",
    "category": "string",
    "p_concept": "float64",
    "seed": "int64",
    "suite_hash": "string",
}
_MARKER = "conceptpatch-store.json"


def empty_table() -> pd.DataFrame:
    """A results table with no rows and the schema's columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in COLUMNS.items()})


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly the schema's columns, in order, with the schema's dtypes."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise StoreError(f"results lack column(s) {', '.join(missing)}: this is a bug, report it")
    return frame[list(COLUMNS)].astype(dict(COLUMNS)).reset_index(drop=True)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]", "_", name)


@dataclass(frozen=True)
class Store:
    """A results store rooted at a local directory."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def open(self) -> Store:
        """Create the store (or check an existing one's schema version); returns ``self``."""
        marker = self.root / _MARKER
        if marker.exists():
            try:
                version = json.loads(marker.read_text())["schema_version"]
            except (ValueError, KeyError):
                version = None
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"store {str(self.root)!r} was written with schema version {version}, this"
                    f" conceptpatch writes version {SCHEMA_VERSION}: use a new --store directory"
                )
            return self
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _atomic_write(marker, json.dumps({"schema_version": SCHEMA_VERSION}).encode())
        except OSError as err:
            raise StoreError(
                f"store {str(self.root)!r} is not writable ({err.strerror}): choose a writable"
                " --store directory"
            ) from None
        return self

    def unit_path(self, checkpoint: str, setting: str) -> Path:
        return self.root / _safe(checkpoint) / f"{_safe(setting)}.parquet"

    def unit_hash(self, checkpoint: str, setting: str) -> str | None:
        """The suite hash a stored unit was computed with, or None if the unit is not stored."""
        path = self.unit_path(checkpoint, setting)
        if not path.exists():
            return None
        raw = (pq.read_schema(path).metadata or {}).get(b"conceptpatch")
        return json.loads(raw).get("suite_hash") if raw else None

    def has(self, checkpoint: str, setting: str, suite_hash: str) -> bool:
        """Whether the unit is stored with ``suite_hash``."""
        return self.unit_hash(checkpoint, setting) == suite_hash

    @contextmanager
    def lock(self, checkpoint: str, setting: str) -> Iterator[None]:
        """Hold the unit's lock: only one process computes a unit at a time."""
        path = self.unit_path(checkpoint, setting)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            yield

    def write(
        self, checkpoint: str, setting: str, frame: pd.DataFrame, meta: Mapping[str, object]
    ) -> Path:
        """Write one unit atomically; ``meta`` (suite hash, versions, seed) goes in the parquet."""
        table = pa.Table.from_pandas(conform(frame), preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"conceptpatch": json.dumps(meta).encode()}
        )
        path = self.unit_path(checkpoint, setting)
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        _atomic_write(path, sink.getvalue().to_pybytes())
        return path

    def load(self) -> pd.DataFrame:
        """Every stored unit, concatenated (an empty, typed table when there are none)."""
        paths = sorted(self.root.glob("*/*.parquet"))
        if not paths:
            return empty_table()
        return conform(pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_store(path: str | Path) -> pd.DataFrame:
    """The results table of the store at ``path``."""
    root = Path(path)
    if not root.is_dir():
        raise StoreError(f"store {str(root)!r} does not exist: run `conceptpatch run` first")
    return Store(root).open().load()

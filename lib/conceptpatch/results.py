"""The results table (one row per trial) and the store: a folder of parquet files, one per unit.

A unit is (checkpoint, setting). Each is written atomically (temp file, fsync, rename) under a
per-unit file lock, so a killed run leaves only complete units, a rerun computes exactly the
missing ones, and two processes never compute the same unit at once. Temp files a killed writer
left behind are ignored when loading and removed the next time their unit is locked. Each unit
carries its suite hash, seed and package versions in the parquet metadata; the store holds only
parquet and json (no pickle).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from conceptpatch.errors import StoreError, first_line
from conceptpatch.files import TMP_SUFFIX, atomic_write
from conceptpatch.fingerprint import recorded_fingerprints
from conceptpatch.paths import ENV_CACHE, cache_root
from conceptpatch.scoring import CATEGORIES
from conceptpatch.vocabulary import SETTINGS

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "Store",
    "StoreDesign",
    "claim_rows",
    "clash_problems",
    "colliding",
    "empty_table",
    "exact_rate_by_pos",
    "load_store",
    "unit_folder",
    "unit_problem",
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


_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]")
_NAME_LIMIT = 80  # characters of a name kept in its folder name (file systems allow 255 bytes)


def unit_folder(name: str) -> str:
    """The folder of checkpoint ``name`` in a store: one path component, distinct for every name.

    A name of safe characters (letters, digits, ``. _ = -``, not starting with a dot) is its
    own folder; any other name keeps its safe characters and gets ``~`` and a digest of the
    whole name, which no safe name contains, so ``step 1``, ``step_1`` and ``早期`` never share
    a folder.
    """
    if name and not _UNSAFE.search(name) and not name.startswith(".") and len(name) <= _NAME_LIMIT:
        return name
    stem = _UNSAFE.sub("_", name)[:_NAME_LIMIT]
    stem = "_" + stem[1:] if stem.startswith(".") else stem
    return f"{stem}~{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def colliding(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of checkpoint names whose store folders coincide on a case-insensitive file system
    (macOS, Windows shares): ``S1`` and ``s1`` would overwrite each other's units there."""
    seen: dict[str, str] = {}
    out = []
    for name in names:
        key = unit_folder(name).casefold()
        if key in seen and seen[key] != name:
            out.append((seen[key], name))
        seen.setdefault(key, name)
    return out


@dataclass(frozen=True, slots=True)
class StoreDesign:
    """The design a store's units were computed with: the suite's name, its settings hash and
    the keys that hash covers (`conceptpatch.config.suite.Suite.design_data`), to say how two
    differ."""

    suite: str
    hash: str
    keys: Mapping[str, Any]

    @classmethod
    def of(cls, suite: Any) -> StoreDesign:
        """The design of a `conceptpatch.config.suite.Suite`."""
        return cls(str(suite.name), suite.settings_hash(), suite.design_data())

    def to_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "hash": self.hash, "keys": dict(self.keys)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoreDesign:
        return cls(str(data["suite"]), str(data["hash"]), dict(data.get("keys") or {}))

    def differences(self, other: StoreDesign, limit: int = 4) -> str:
        """How ``other`` differs from this design, in words (``sample trials 100 -> 2``)."""
        mine, theirs = _flatten(self.keys), _flatten(other.keys)
        changed = [f"{k} {_short(mine.get(k))} -> {_short(theirs.get(k))}"
                   for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
        if self.suite != other.suite:
            changed.insert(0, f"suite {self.suite!r} -> {other.suite!r}")
        more = f" and {len(changed) - limit} more" if len(changed) > limit else ""
        return ", ".join(changed[:limit]) + more if changed else "no key differs"


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else "default" if value is None else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
                f" writable --store directory{_cache_hint(self.root)}"
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
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise _damaged_marker(marker, first_line(err) or "empty") from None
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"store {str(self.root)!r} was written with schema version {version}, this"
                f" conceptpatch reads and writes version {SCHEMA_VERSION}: use a new --store"
                " directory (or the conceptpatch version that wrote it)"
            )

    def _marker(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.root / _MARKER).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError) as err:
            raise _damaged_marker(self.root / _MARKER, first_line(err)) from None

    def design(self) -> StoreDesign | None:
        """The design the store is bound to, or None (a new store, or one from before binding)."""
        found = self._marker().get("design")
        try:
            return None if found is None else StoreDesign.from_json(found)
        except (KeyError, TypeError, AttributeError):
            raise _damaged_marker(self.root / _MARKER, "its design") from None

    def foreign_units(self, design: StoreDesign) -> list[Path]:
        """Stored units computed with another settings hash than ``design``'s."""
        return [p for p in self.units() if (_meta(p) or {}).get("suite_hash") != design.hash]

    def check_design(self, design: StoreDesign) -> None:
        """Raise `StoreError` unless the store holds ``design``'s units only (reads, never writes).

        A store written before stores were bound to a design is judged by its units' hashes;
        a store of another schema version is refused first (`check_version`).
        """
        self.check_version()
        bound = self.design()
        if bound is not None and bound.hash == design.hash and bound.suite == design.suite:
            return
        if bound is None:
            foreign = self.foreign_units(design)
            if not foreign:
                return
            meta = _meta(foreign[0]) or {}
            bound = StoreDesign(str(meta.get("suite", "?")), str(meta.get("suite_hash")), {})
            count = len(foreign)
        else:
            count = len(self.units())
        raise StoreError(
            f"store {str(self.root)!r} holds {count} unit(s) of another design (suite"
            f" {bound.suite!r}, hash {bound.hash}; this run: {bound.differences(design)}): use"
            " another --store, give `claims` the overrides `run` had (--trials, --layers), or"
            " run `conceptpatch run SUITE --store DIR --replace` to delete them first")

    def bind(self, design: StoreDesign, replace: bool = False) -> None:
        """Bind the store to ``design`` (the first run into it), or check that it is bound to it.

        Units of another design are never replaced silently: `StoreError`, unless ``replace``,
        which deletes them (and their timing records) first; manual labels are never deleted.
        """
        self.open()
        with FileLock(str(self.root / f".{_MARKER}.lock")):
            if not replace:
                self.check_design(design)
            bound = self.design()
            if replace and bound != design and self.units():
                if (self.root / "annotations.parquet").exists():
                    raise StoreError(
                        f"store {str(self.root)!r} holds manual labels (annotations.parquet) of"
                        " its design: --replace would orphan them; use another --store")
                for path in self.units():
                    path.unlink()
                    path.with_suffix(".timing.json").unlink(missing_ok=True)
            if bound != design:
                marker = {**self._marker(), "schema_version": SCHEMA_VERSION,
                          "design": design.to_json()}
                atomic_write(self.root / _MARKER, json.dumps(marker, indent=1).encode())

    def checkpoints(self, suite_hash: str) -> list[dict[str, Any]]:
        """The checkpoints the store has units of for design ``suite_hash``: name, step, tokens,
        phase and source (a glob suite's gate job knows them without the folders)."""
        found: dict[str, dict[str, Any]] = {}
        for path in self.units():
            meta = _meta(path) or {}
            if meta.get("suite_hash") != suite_hash:
                continue
            info = meta.get("checkpoint")
            if not isinstance(info, Mapping):
                first = pq.read_table(path, columns=["checkpoint", "step", "tokens", "phase"])
                info = first.slice(0, 1).to_pylist()[0] if first.num_rows else None
                info = None if info is None else {"name": info["checkpoint"], **info}
            if info is not None:
                found.setdefault(str(info["name"]), {
                    "name": str(info["name"]), "step": int(info.get("step") or 0),
                    "tokens": int(info.get("tokens") or 0), "phase": int(info.get("phase") or 1),
                    "source": info.get("source") or str(path.parent)})
        return sorted(found.values(), key=lambda c: (c["step"], c["name"]))

    def fingerprints(self, suite_hash: str,
                     names: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Checkpoint name -> the weight fingerprints its units of design ``suite_hash`` record
        (of ``names`` only, if given): `conceptpatch.fingerprint.weight_problems` reads them."""
        wanted = None if names is None else {unit_folder(n) for n in names}
        metas = [meta for path in self.units()
                 if (wanted is None or path.parent.name in wanted)
                 and (meta := _meta(path) or {}).get("suite_hash") == suite_hash]
        return recorded_fingerprints(metas)

    def unit_path(self, checkpoint: str, setting: str) -> Path:
        return self.root / unit_folder(checkpoint) / f"{unit_folder(setting)}.parquet"

    def unit_meta(self, checkpoint: str, setting: str) -> dict[str, object] | None:
        """The metadata stored with a unit (suite hash, seed, versions), or None if it is absent.

        An unreadable unit file counts as absent, so that it is recomputed and replaced.
        """
        path = self.unit_path(checkpoint, setting)
        return _meta(path) if path.exists() else None

    def unit_hash(self, checkpoint: str, setting: str) -> str | None:
        """The suite hash a stored unit was computed with, or None if the unit is not stored."""
        meta = self.unit_meta(checkpoint, setting)
        return None if meta is None else meta.get("suite_hash")  # type: ignore[return-value]

    def has(self, checkpoint: str, setting: str, suite_hash: str,
            pairings: int | None = None) -> bool:
        """Whether the unit is stored with ``suite_hash``, complete: a sequential design's unit
        (`stored_pairings`) holds its whole plan, or at least ``pairings`` pairings if given."""
        meta = self.unit_meta(checkpoint, setting)
        if meta is None or meta.get("suite_hash") != suite_hash:
            return False
        if "pairings" not in meta:  # a fixed design's unit: always whole
            return True
        wanted = meta.get("planned") if pairings is None else pairings
        return int(meta["pairings"]) >= int(wanted or 0)

    def stored_pairings(self, checkpoint: str, setting: str, suite_hash: str) -> int:
        """How many pairings of a sequential design's unit are stored (0: none, or another
        design's); a fixed design's unit has no count (`StoreError` if asked)."""
        meta = self.unit_meta(checkpoint, setting)
        if meta is None or meta.get("suite_hash") != suite_hash:
            return 0
        if "pairings" not in meta:
            raise StoreError(f"unit {checkpoint}/{setting} of {str(self.root)!r} records no"
                             " pairing count: it is a fixed design's; this is a bug, report it")
        return int(meta["pairings"])

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
                f" writable --store directory{_cache_hint(self.root)}"
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
        """The stored unit files (``<checkpoint>/<setting>.parquet``, a setting of the
        vocabulary), sorted; hidden and temp files (a killed writer's) are skipped, and so is
        anything else a user put there (`foreign_files`)."""
        return sorted(p for p in self.root.glob("*/*.parquet")
                      if p.is_file() and not p.name.startswith(".") and p.stem in SETTINGS)

    def foreign_files(self) -> list[Path]:
        """Files in the store that are none of its own (a user's notes, a stray parquet):
        listed by ``check --store`` and the dry run, never read or deleted."""
        own = {_MARKER, "annotations.parquet"}
        out = []
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if path.is_dir() or path.name.startswith(".") or str(rel) in own:
                continue
            unit = len(rel.parts) == 2 and path.name.split(".", 1)[0] in SETTINGS and (
                path.suffix in (".parquet", ".lock") or path.name.endswith(".timing.json"))
            if not unit:
                out.append(path)
        return out

    def load(self, units: Iterable[tuple[str, str]] | None = None) -> pd.DataFrame:
        """The stored units (every one, or those of ``units``: (checkpoint, setting) pairs,
        absent ones skipped), concatenated; an empty, typed table when there are none."""
        paths = self.units()
        if units is not None:
            wanted = {self.unit_path(c, s) for c, s in units}
            paths = [p for p in paths if p in wanted]
        if not paths:
            return empty_table()
        return conform(pd.concat([_read_unit(p) for p in paths], ignore_index=True))


def _damaged_marker(marker: Path, why: str) -> StoreError:
    """The one error for a store marker that cannot be read, with its fix."""
    return StoreError(f"store marker {str(marker)!r} is damaged ({why}): delete it (the next run"
                      " writes it again, checking the units' designs) or use a new --store"
                      " directory")


def clash_problems(names: Iterable[str]) -> list[str]:
    """One message per pair of checkpoint names that `colliding` finds (run and check say it
    alike)."""
    return [f"checkpoint names {a!r} and {b!r} differ only in case: their units would overwrite"
            " each other on a case-insensitive file system; rename one of them"
            for a, b in colliding(names)]


def _cache_hint(root: Path) -> str:
    """For a default store (under the cache): how to move the cache."""
    inside = Path(root).resolve().is_relative_to(cache_root().resolve())
    return f" (or set {ENV_CACHE} to a writable folder)" if inside else ""


def _meta(path: Path) -> dict[str, Any] | None:
    """A unit file's conceptpatch metadata ({} when it has none, None when it is unreadable)."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(b"conceptpatch")
        return dict(json.loads(raw)) if raw else {}
    except (OSError, ValueError, pa.ArrowException):
        return None


def _read_unit(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as err:
        first = first_line(err)
        raise StoreError(
            f"unit {str(path)!r} is unreadable ({first}): delete it and run the suite again to"
            " recompute it"
        ) from None
    problem = unit_problem(frame, path)
    if problem:
        raise StoreError(f"unit {str(path)!r} is damaged ({problem}): delete it and run the"
                         " suite again to recompute it")
    return frame


def unit_problem(frame: pd.DataFrame, path: Path) -> str | None:
    """What in a unit's rows the schema forbids (None if nothing): a category outside the
    vocabulary, rows of another checkpoint, setting or design than its file, a layer outside
    the model, a missing trial id."""
    missing = [c for c in ("checkpoint", "setting", "category", "layer", "n_layers", "trial",
                           "suite_hash") if c not in frame.columns]
    if missing:
        return f"no column(s) {', '.join(missing)}"
    bad = sorted(set(frame["category"].astype(str)) - set(CATEGORIES))
    if bad:
        return f"category {bad[0]!r} is not one of {', '.join(CATEGORIES)}"
    if set(frame["setting"].astype(str)) - {path.stem}:
        return f"rows of setting(s) other than {path.stem!r}"
    folders = {unit_folder(str(c)) for c in frame["checkpoint"].unique()}
    if folders - {path.parent.name}:
        return f"rows of checkpoint(s) other than its folder {path.parent.name!r}"
    if frame["suite_hash"].nunique() > 1:
        return "rows of several designs"
    layer, depth = frame["layer"].to_numpy(), frame["n_layers"].to_numpy()
    if ((layer < -1) | (layer >= depth)).any():
        return "a layer outside -1..n_layers-1"
    if frame["trial"].isna().any():
        return "a row without a trial id"
    return None


def _remove_temps(folder: Path, name: str) -> None:
    """Remove the temp files `atomic_write` left for ``folder / name`` (call under its lock)."""
    for tmp in folder.glob(f".{name}.*{_TMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)


def load_store(path: str | Path) -> pd.DataFrame:
    """The results table of the store at ``path``: one design's units (a store holding several,
    from before stores were bound to one design, is refused rather than mixed)."""
    root = Path(path)
    if not root.is_dir():
        raise StoreError(f"store {str(root)!r} does not exist: run `conceptpatch run` first")
    store = Store(root)
    store.check_version()
    designs = sorted({str(h) for p in store.units() if (h := (_meta(p) or {}).get("suite_hash"))})
    if len(designs) > 1:
        raise StoreError(
            f"store {str(root)!r} holds units of {len(designs)} designs ({', '.join(designs)}),"
            " written before stores were bound to one: read one design with `conceptpatch"
            " claims SUITE --store DIR`, or recompute into a new --store")
    return store.load()

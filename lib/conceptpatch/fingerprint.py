"""Weight fingerprints: which weights a unit was computed on.

A unit records the SHA-256 of its checkpoint's weight files, so that two checkpoints of one suite
serving the same weights (a hub step branch holding the final weights, a re-uploaded checkpoint)
and a checkpoint rewritten after its units were computed are caught before they read as a flat
training curve or a stale verdict. Reading a fingerprint never loads a model or imports torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conceptpatch.files import atomic_write
from conceptpatch.paths import cache_root

if TYPE_CHECKING:
    from conceptpatch.sources.checkpoint import Checkpoint

__all__ = ["cached_sha256", "fingerprint", "short", "weight_files", "weight_problems"]

_BLOB = re.compile(r"[0-9a-f]{64}")


def short(digest: str) -> str:
    """The first 12 hex digits of a fingerprint, as messages show it."""
    return digest[:12]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_sha256(path: Path, index: Path | None = None) -> str:
    """The file's SHA-256, remembered in the JSON ``index`` (default
    ``$CONCEPTPATCH_CACHE/hashes.json``, one memo for GGUF cache keys and fingerprints) by
    (path, size, mtime) to hash it once.

    A file in a Hugging Face cache snapshot links to ``blobs/<sha256>``: the hub's own content
    hash, taken as it is. An index that cannot be written is skipped (the hash is still right).
    """
    if path.is_symlink() and _BLOB.fullmatch(path.resolve().name):
        return path.resolve().name
    if index is None:
        index = cache_root() / "hashes.json"
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        known = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if key not in known:
        known[key] = _sha256(path)
        with contextlib.suppress(OSError):
            atomic_write(index, json.dumps(known, indent=1, sort_keys=True))
    return str(known[key])


def weight_files(checkpoint: Checkpoint) -> list[Path] | None:
    """The files holding ``checkpoint``'s weights here, or None where they are not on this
    machine (a folder deleted after computing, a hub checkpoint not in the local cache)."""
    from conceptpatch.sources.kinds import kind_of  # the kinds' GGUF cache keys hash through here

    return kind_of(checkpoint).weight_files(checkpoint)


def fingerprint(checkpoint: Checkpoint) -> str | None:
    """SHA-256 over the sorted SHA-256s of ``checkpoint``'s weight files (names and shard
    boundaries aside: the same tensors saved under other file names match), or None where the
    weights are not here."""
    files = weight_files(checkpoint)
    if files is None:
        return None
    parts = sorted(cached_sha256(f) for f in files)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def weight_problems(recorded: Mapping[str, Iterable[str]],
                    current: Sequence[Checkpoint] = ()) -> list[str]:
    """What the recorded fingerprints say is wrong, one line each with the fix.

    ``recorded`` maps each checkpoint name to the fingerprints its units record; ``current``
    gives the checkpoints whose weights are checked again now (those not on this machine are
    skipped). Three problems: units of one checkpoint computed on different weights; two
    checkpoints with identical weights; weights that changed since the units were computed.
    """
    out: list[str] = []
    by_digest: dict[str, list[str]] = {}
    for name, digests in recorded.items():
        found = sorted(set(digests))
        if len(found) > 1:
            out.append(
                f"checkpoint {name!r}: its units were computed on different weights"
                f" ({', '.join(map(short, found))}): delete its folder in the store and compute"
                " it again")
        for digest in found:
            by_digest.setdefault(digest, []).append(name)
    for digest, names in sorted(by_digest.items()):
        if len(names) > 1:
            shown = ", ".join(repr(n) for n in sorted(names))
            out.append(
                f"checkpoints {shown} have identical weights (sha256 {short(digest)}): a step"
                " that serves another step's weights would read as a flat training curve; keep"
                " one of them in the suite")
    for checkpoint in current:
        stored = sorted(set(recorded.get(checkpoint.name, ())))
        if len(stored) != 1:
            continue
        now = fingerprint(checkpoint)
        if now is not None and now != stored[0]:
            out.append(
                f"checkpoint {checkpoint.name!r}: its weights changed since its units were"
                f" computed (sha256 {short(stored[0])} -> {short(now)}): delete its folder in"
                " the store and compute it again, or restore the weights it was computed on")
    return out


def recorded_fingerprints(metas: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Checkpoint name -> the fingerprints recorded in these unit metadata (units from before
    fingerprints record none and are left out)."""
    out: dict[str, list[str]] = {}
    for meta in metas:
        info = meta.get("checkpoint")
        digest = meta.get("weights")
        if isinstance(info, Mapping) and isinstance(digest, str):
            out.setdefault(str(info.get("name")), []).append(digest)
    return out

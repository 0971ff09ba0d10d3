"""Where conceptpatch keeps what it builds: the user cache dir, overridable for tests and CI."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["ENV_CACHE", "cache_root", "default_store"]

ENV_CACHE = "CONCEPTPATCH_CACHE"


def cache_root() -> Path:
    """``$CONCEPTPATCH_CACHE`` when set, else the platform's user cache dir for conceptpatch."""
    base = os.environ.get(ENV_CACHE)
    return Path(base) if base else Path(platformdirs.user_cache_dir("conceptpatch"))


def default_store(suite_name: str, suite_hash: str) -> Path:
    """Where a suite's results go when no ``--store`` is given: the cache, keyed by suite."""
    return cache_root() / "stores" / f"{suite_name}-{suite_hash}"

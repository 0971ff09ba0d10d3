"""Registers the conceptpatch pytest plugin for runs from a fresh clone (package not installed)."""

import sys
from pathlib import Path

try:
    import conceptpatch  # noqa: F401
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).parent / "lib"))

# Skipped by pytest when the pytest11 entry point already registered it under this name.
pytest_plugins = ["conceptpatch.pytest_plugin"]

"""Hookspecs of the conceptpatch pytest plugin: a conftest may supply the suite or the results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_conceptpatch_load_suite(config: pytest.Config, path: Path) -> Any:
    """Return the suite object for ``path`` (default: ``conceptpatch.config.suite.load_suite``)."""


@pytest.hookspec(firstresult=True)
def pytest_conceptpatch_results(
    config: pytest.Config, suite: Any, store: Path, checkpoints: list[str] | None
) -> Any:
    """Return the results table of ``suite`` (default:
    ``conceptpatch.train_and_compute.run_pipelined``)."""

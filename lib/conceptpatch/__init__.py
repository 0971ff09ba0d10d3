"""conceptpatch: cross-lingual concept patching as a test suite for LM checkpoints.

``conceptpatch.patch``, ``verdicts`` and ``save_report`` (:mod:`conceptpatch.api`) run the method on
a model already in memory; they are imported on first use, so ``import conceptpatch`` stays light.
"""

from typing import Any

from conceptpatch.errors import ConceptPatchError

__version__ = "0.1.0"
__all__ = ["ConceptPatchError", "__version__", "patch", "save_report", "verdicts"]


def __getattr__(name: str) -> Any:
    if name in ("patch", "save_report", "verdicts"):
        from conceptpatch import api

        return getattr(api, name)
    raise AttributeError(f"module 'conceptpatch' has no attribute {name!r}")

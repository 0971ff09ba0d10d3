"""conceptpatch: cross-lingual concept patching as a test suite for LM checkpoints."""

from conceptpatch.errors import ConceptPatchError

__version__ = "0.1.0"
__all__ = ["ConceptPatchError", "__version__"]

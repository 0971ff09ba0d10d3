"""`pytest claims/` in a clone: collects the packaged claim test of the same name."""

from conceptpatch.claim_tests.test_language_dependence import *  # noqa: F403

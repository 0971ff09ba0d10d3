"""`pytest claims/` in a clone: collects the packaged claim test of the same name."""

from conceptpatch.claim_tests.test_phase_two import *  # noqa: F403

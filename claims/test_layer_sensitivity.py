"""`pytest claims/` in a clone: collects the packaged claim test of the same name."""

from conceptpatch.claim_tests.test_layer_sensitivity import *  # noqa: F403

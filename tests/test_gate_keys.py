"""The regression gate's window and margin as ``[claims]`` suite keys (default 2 and the SESOI)."""

from __future__ import annotations

import pytest
from _tiny import suite_data
from conceptpatch.claims import regression
from conceptpatch.config.suite import parse_suite
from conceptpatch.errors import SuiteError


def test_gate_keys_default_to_todays_window_and_margin():
    assert regression.gate(parse_suite(suite_data())) == (2, 0.10)
    assert regression.gate(object()) == (regression.WINDOW, regression.CLAIM.sesoi)


def test_gate_keys_are_read_from_the_suite():
    suite = parse_suite(suite_data(claims={"gate_window": 3, "gate_margin": 0.25}))
    assert regression.gate(suite) == (3, 0.25)
    assert suite.settings_hash() == parse_suite(suite_data()).settings_hash()  # no unit changes


@pytest.mark.parametrize(("edit", "says"), [
    ({"gate_window": 0}, "out of range 1..10000"),
    ({"gate_window": 1.5}, "claims].gate_window must be an integer"),
    ({"gate_margin": 0}, "gate_margin must be a number in (0, 1]"),
    ({"gate_margn": 0.1}, "did you mean 'gate_margin'"),
])
def test_bad_gate_keys_name_the_fix(edit, says):
    with pytest.raises(SuiteError) as err:
        parse_suite(suite_data(claims=edit))
    assert says in str(err.value)

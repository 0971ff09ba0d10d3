"""How numbers are written (`conceptpatch.numbers`): each rendering on representative values, the
same text as the formatters it replaced (report, compare, claims.common, the pytest plugin), and
an import that loads nothing heavy."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from conceptpatch import numbers
from conceptpatch.numbers import (
    MISSING,
    cell,
    interval_text,
    p_cell,
    p_text,
    terminal_effect,
    terminal_p,
)
from conceptpatch.report import verdict_records

# ---- the formatters numbers.py replaced, verbatim: the oracle of "not one byte changed" -------


def _report_number(value, digits=3):
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(x) or math.isinf(x):
        return "—"
    return f"{x:.{digits}f}"


def _report_pvalue(value):
    text = _report_number(value)
    if text == "—":
        return text
    x = float(value)
    return "< 0.0001" if x < 1e-4 else f"{x:.3g}"


def _compare_number(value, digits=3):
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(x) else f"{x:.{digits}f}"


def _compare_pvalue(value):
    text = _compare_number(value)
    return text if text == "—" else "< 0.0001" if float(value) < 1e-4 else f"{float(value):.3g}"


def _fmt_p(p):
    return "nan" if p is None or math.isnan(p) else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def _fmt_ci(low, high):
    return f"[{low:+.3f}, {high:+.3f}]"


def _plugin_cell(value, digits=3):
    return "-" if value is None else f"{value:.{digits}g}" if digits < 3 else f"{value:+.3f}"


VALUES = [0, 0.0, 1e-5, 0.0004, 0.5, 1, 1.0, 0.00009999, 0.0001, 0.000999, 0.001, 0.0123456,
          0.05, 0.99951, 12.5, -0.25, -1e-5, np.float64(0.03), np.int64(7), True]
MISSING_VALUES = [None, math.nan, math.inf, -math.inf, "abc", [1], np.nan]

# ---- each rendering on representative values ------------------------------------------------


@pytest.mark.parametrize(("value", "digits", "want"), [
    (None, 3, "—"), (math.nan, 3, "—"), (math.inf, 3, "—"), ("x", 3, "—"),
    (0, 3, "0.000"), (1e-5, 3, "0.000"), (0.0004, 3, "0.000"), (0.5, 3, "0.500"),
    (1, 3, "1.000"), (0.125, 2, "0.12"), (12, 0, "12"), ("0.25", 3, "0.250")])
def test_cell(value, digits, want):
    assert cell(value, digits) == want


@pytest.mark.parametrize(("value", "want"), [
    (None, "—"), (math.nan, "—"), (math.inf, "—"), (0, "< 0.0001"), (1e-5, "< 0.0001"),
    (0.0001, "0.0001"), (0.0004, "0.0004"), (0.012345, "0.0123"), (0.5, "0.5"), (1, "1")])
def test_p_cell(value, want):
    assert p_cell(value) == want


@pytest.mark.parametrize(("value", "want"), [
    (None, "nan"), (math.nan, "nan"), (0, "0"), (1e-5, "1e-05"), (0.0004, "0.0004"),
    (0.000999, "0.001"), (0.001, "0.001"), (0.0426, "0.043"), (0.5, "0.500"), (1, "1.000")])
def test_p_text(value, want):
    assert p_text(value) == want


def test_interval_text():
    assert interval_text(-0.05, 0.21) == "[-0.050, +0.210]"
    assert interval_text(0, 1) == "[+0.000, +1.000]"
    assert interval_text(math.nan, -math.inf) == "[+nan, -inf]"


@pytest.mark.parametrize(("value", "effect", "p"), [
    (None, "-", "-"), (math.nan, "+nan", "nan"), (0, "+0.000", "0"), (1e-5, "+0.000", "1e-05"),
    (0.0004, "+0.000", "0.0004"), (0.5, "+0.500", "0.5"), (1, "+1.000", "1"),
    (-0.1234, "-0.123", "-0.12")])
def test_terminal(value, effect, p):
    assert terminal_effect(value) == effect
    assert terminal_p(value) == p


# ---- the same text as the formatters they replaced ------------------------------------------


@pytest.mark.parametrize("value", VALUES + MISSING_VALUES)
def test_table_cells_are_the_reports_and_the_comparisons(value):
    for digits in (0, 2, 3):
        assert cell(value, digits) == _report_number(value, digits) == \
            _compare_number(value, digits)
    assert p_cell(value) == _report_pvalue(value) == _compare_pvalue(value)


@pytest.mark.parametrize("value", [*VALUES, None, math.nan, np.nan])
def test_message_and_terminal_texts_are_the_old_ones(value):
    assert p_text(value) == _fmt_p(value)
    assert terminal_effect(value) == _plugin_cell(value)
    assert terminal_p(value) == _plugin_cell(value, 2)
    if value is not None:
        assert interval_text(value, -value) == _fmt_ci(value, -value)


def test_the_reports_verdict_rows_are_unchanged():
    record = {"claim_id": "induction", "case": "seen", "verdict": "supported", "effect": 0.31234,
              "ci_low": 0.2, "ci_high": None, "pvalue": 3e-5, "raw_pvalue": 0.0123456,
              "bh_qvalue": math.nan, "n": 120, "sesoi": 0.05, "message": "m"}
    row = verdict_records([record])[0]
    assert (row["effect"], row["ci"], row["pvalue"], row["raw_pvalue"], row["qvalue"], row["n"],
            row["sesoi"]) == ("0.312", "[0.200, —]", "< 0.0001", "0.0123", "—", "120", "0.05")
    empty = verdict_records([{"verdict": "inconclusive"}])[0]
    assert (empty["effect"], empty["ci"], empty["pvalue"], empty["n"]) == ("—", "—", "—", "—")


def test_the_comparisons_intervals_are_unchanged():
    from conceptpatch.compare import _interval

    assert _interval(0.5, 0.25, 0.75) == "0.500 [0.250, 0.750]"
    assert _interval(0.5, math.nan, 0.75) == "0.500"
    assert _interval(math.nan, 0.1, 0.2) == MISSING


def test_the_old_definitions_are_gone():
    import conceptpatch.claims.common as common
    import conceptpatch.compare as compare
    import conceptpatch.pytest_plugin as plugin
    import conceptpatch.report as report

    for module, name in ((report, "_number"), (report, "_pvalue"), (compare, "_number"),
                         (compare, "_pvalue"), (common, "fmt_p"), (common, "fmt_ci"),
                         (plugin, "_cell")):
        assert not hasattr(module, name), f"{module.__name__}.{name} is defined again"


def test_numbers_imports_nothing_heavy_and_claims_no_torch():
    code = ("import sys, conceptpatch.numbers; heavy = {'numpy', 'pandas', 'torch'} & "
            "set(sys.modules); assert not heavy, heavy; import conceptpatch.claims; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert numbers.__doc__ and "tables, messages, the terminal" in numbers.__doc__

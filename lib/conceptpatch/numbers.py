"""How numbers are written for readers: tables, messages, the terminal.

Each place a reader meets a number has one rendering, defined here once and named for where it
is used:

- HTML and markdown tables (the report, ``conceptpatch compare``): :func:`cell` writes a number
  with fixed decimals, :func:`p_cell` a p- or q-value with three significant digits, floored at
  "< 0.0001"; both write an em dash (:data:`MISSING`) for a missing, non-numeric or non-finite
  value.
- Verdict messages (``verdicts.json``, skip and failure messages of the claim tests):
  :func:`p_text` writes a p-value with two significant digits below 0.001 and three decimals
  otherwise ("nan" when missing); :func:`interval_text` writes signed bounds, "[+0.120, +0.340]";
  :func:`confidence_text` the confidence of bounds at a level ("95%", or "99.9911%" at a
  sequential design's early look).
  These strings are stored: changing one changes every verdict message.
- The terminal summary of the claim tests (``conceptpatch claims``, pytest): :func:`terminal_effect`
  writes an effect or bound signed with three decimals, :func:`terminal_p` a p- or q-value with two
  significant digits; both write "-" for None.

Standard library only: importing this module loads neither numpy, pandas nor torch.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MISSING", "cell", "confidence_text", "interval_text", "p_cell", "p_text",
           "terminal_effect", "terminal_p"]

#: What a table cell shows for a missing, non-numeric or non-finite value.
MISSING = "—"


def cell(value: Any, digits: int = 3) -> str:
    """A number for a table cell with ``digits`` decimals ("0.125"); :data:`MISSING` for a value
    that is missing (None), not a number, or not finite."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return MISSING
    return f"{x:.{digits}f}" if math.isfinite(x) else MISSING


def p_cell(value: Any) -> str:
    """A p- or q-value for a table cell: three significant digits ("0.0123"), "< 0.0001" below
    1e-4; :data:`MISSING` as :func:`cell`."""
    if cell(value) == MISSING:
        return MISSING
    x = float(value)
    return "< 0.0001" if x < 1e-4 else f"{x:.3g}"


def p_text(p: float | None) -> str:
    """A p-value in a verdict message: two significant digits below 0.001 ("4e-05"), three
    decimals otherwise ("0.042"); "nan" for None or NaN."""
    return "nan" if p is None or math.isnan(p) else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def interval_text(low: float, high: float) -> str:
    """Bounds in a verdict message, signed with three decimals: "[-0.050, +0.210]"."""
    return f"[{low:+.3f}, {high:+.3f}]"


def confidence_text(alpha: float) -> str:
    """The confidence of one-sided bounds at level ``alpha``: whole percents when that is exact
    ("95%"), else enough decimals to show alpha's first two significant digits ("99.9911%")."""
    percent = 100 * alpha
    if abs(percent - round(percent)) < 1e-9:
        return f"{1 - alpha:.0%}"
    decimals = max(1, 1 - math.floor(math.log10(percent)))
    return f"{100 - percent:.{decimals}f}%"


def terminal_effect(value: float | None) -> str:
    """An effect or a bound in the terminal's verdict table: signed, three decimals; "-" for
    None."""
    return "-" if value is None else f"{value:+.3f}"


def terminal_p(value: float | None) -> str:
    """A p- or q-value in the terminal's verdict table: two significant digits; "-" for None."""
    return "-" if value is None else f"{value:.2g}"

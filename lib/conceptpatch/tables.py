"""The tables every front end reads, defined once for the API, the pytest plugin, CLI and report.

- :func:`labelled`: a results table with the store's manual labels beside the automatic
  ``category`` (what the report shows; idempotent);
- :func:`claim_table`: the rows the claims are tested on and their claim figures drawn from: C's
  parts of speech (``[lexicon] claims_pos``) with manual labels taking precedence, mapped onto
  the six categories;
- :func:`final_verdicts`: verdict records as ``verdicts.json``, the notebook API and the report
  give them: each with its Benjamini-Hochberg q-value across all of them computed from
  ``raw_pvalue`` (docs/verdicts.md); :func:`load_verdicts` reads such a file back (``report`` and
  ``track``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from conceptpatch.annotate import KEY, apply_annotations
from conceptpatch.errors import ConceptPatchError
from conceptpatch.results import claim_rows
from conceptpatch.stats import finite

__all__ = ["claim_table", "claims_pos", "final_verdicts", "labelled", "load_verdicts"]


def labelled(results: pd.DataFrame, store: str | Path | None = None) -> pd.DataFrame:
    """``results`` with a ``label`` column: ``store``'s imported manual labels where a trial has
    one, else its automatic category; a table that has the column already is returned as is."""
    if "label" in results.columns or store is None:
        return results

    return apply_annotations(results, Path(store))


def claims_pos(suite: Any) -> tuple[str, ...] | None:
    """The parts of speech a suite's claims are tested on (a Suite, a dict or None: every row)."""
    pos = suite.get("claims_pos") if isinstance(suite, Mapping) else getattr(
        suite, "claims_pos", None)
    if isinstance(pos, str):
        return (pos,)
    return tuple(pos) if pos else None


def claim_table(results: pd.DataFrame, suite: Any = None,
                store: str | Path | None = None) -> pd.DataFrame:
    """The rows claims are tested on: C's parts of speech of ``suite``, with manual labels (from
    ``store`` unless ``results`` has a ``label`` column) taking precedence over ``category``,
    mapped onto the six categories; ``label`` keeps the finer label for the report. Rows come
    in one order (the trial key's), so every front end sums the same numbers in the same order
    and gets the same floating-point values."""
    from conceptpatch.claims.common import to_categories

    table = labelled(results, store)
    if table.empty:
        return table
    keys = [c for c in ("checkpoint", "setting", "layer", "output_lang", "trial", *KEY)
            if c in table.columns]
    table = table.sort_values(list(dict.fromkeys(keys)), kind="stable").reset_index(drop=True)
    table = claim_rows(table, claims_pos(suite))
    if "label" not in table.columns:
        return table
    label = table["label"].astype("string")
    chosen = label.where(label.notna() & (label != ""), table["category"].astype("string"))
    return table.assign(category=to_categories(chosen.astype(str)).to_numpy())


def final_verdicts(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Verdict records (in the order given) each with ``bh_qvalue``: the Benjamini-Hochberg
    q-value of its ``raw_pvalue`` across all the records (None where the raw p-value is missing
    or not finite), as docs/verdicts.md defines it."""
    from conceptpatch.claims.common import benjamini_hochberg

    rows = [dict(r) for r in records]
    raw = [None if r.get("raw_pvalue") is None else finite(r["raw_pvalue"]) for r in rows]
    return [dict(r, bh_qvalue=q) for r, q in zip(rows, benjamini_hochberg(raw), strict=True)]


def load_verdicts(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``verdicts.json`` (docs/verdicts.md); one-line errors naming the fix."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConceptPatchError(f"--verdicts {str(path)!r} cannot be read ({err}): pass the"
                                " verdicts.json that `conceptpatch claims` wrote") from None
    data = data.get("verdicts", data) if isinstance(data, dict) else data
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ConceptPatchError(f"--verdicts {str(path)!r} is not a list of verdict records:"
                                " pass the verdicts.json that `conceptpatch claims` wrote")
    return data

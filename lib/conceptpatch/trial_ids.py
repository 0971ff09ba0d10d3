"""Trial ids: how a trial's number encodes its target pair and pairing, and back.

A trial is one (pairing, target pair); its id is ``target_index * pairings + pairing``, where
``pairings`` is the plan's whole count (``sample.trials``). The first n pairings of a plan are
the same trials under the same ids whatever n, so a sequential design's stage k is a prefix of
stage k+1 (`conceptpatch.trials.plan_trials` numbers trials with `trial_id`; a stage's rows are
selected with `first_pairings`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["first_pairings", "pairing_of", "trial_id"]


def trial_id(target_index: int, pairing: int, pairings: int) -> int:
    """The id of the trial crossing ``pairing`` with the target pair ``target_index``."""
    return target_index * pairings + pairing


def pairing_of(ids: np.ndarray | pd.Series, pairings: int) -> np.ndarray:
    """The pairing each trial id belongs to, in a plan of ``pairings`` pairings."""
    return np.asarray(ids, dtype=np.int64) % pairings


def first_pairings(table: pd.DataFrame, n: int, pairings: int) -> pd.DataFrame:
    """The rows of ``table`` (a plan of ``pairings`` pairings) whose trial is among the first
    ``n`` pairings: what a look at ``n`` pairings reads."""
    if n >= pairings:
        return table
    keep = pairing_of(table["trial"], pairings) < n
    return table[keep].reset_index(drop=True)

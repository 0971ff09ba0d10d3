"""Results and verdicts into an experiment tracker (Weights & Biases), logged by training step.

What is logged, per checkpoint at its ``step`` (the store's ``step`` column):

- ``exact/<setting>/<band>``: the exact rate (``category == "exact"``, the automatic category;
  manual labels are a sample and are left out) over every trial of ``setting`` whose first
  patched layer lies in ``band`` (``early``/``mid``/``late``: the claims' bands,
  `conceptpatch.claims.common.band_layers`; layers between mid and late are in none) and whose
  output language is seen in training. Every concept, part of speech and source pair is
  included (not only the claims' ``claims_pos``: the tracker shows the store, not one claim's
  rows). A band without a computed layer is not logged (no value, rather than a zero);
- ``exact/unpatched``: the same rate without patching (the baseline of saying the concept
  unprompted), seen output languages;
- ``tokens`` and ``phase`` of the checkpoint, to plot against tokens instead of steps.

Per verdict of ``verdicts.json``, ``verdict/<claim_id>[<case>]``: +1 supported, 0 inconclusive,
-1 refuted (the verdict found, whatever ``[[expect]]`` declares), logged at the step of the
checkpoint the verdict concerns: the gate's new checkpoint (``evidence["new"]`` of a
``regression`` record), else the store's last checkpoint (every other claim reads the whole
run). The verdict records also go in a ``verdicts`` table, logged at the latest verdict step.

The values are computed by pure functions (`values_by_step`, `verdict_rows`); `log_to_wandb`
is the only code that touches wandb, imported when called (the ``wandb`` extra), so importing
this module needs neither wandb nor torch.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conceptpatch.errors import ConceptPatchError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "INSTALL",
    "VERDICT_VALUE",
    "TrackerError",
    "exact_rates",
    "log_to_wandb",
    "values_by_step",
    "verdict_rows",
]

#: A verdict as a number, so that W&B can plot it over steps.
VERDICT_VALUE: Mapping[str, int] = {"supported": 1, "inconclusive": 0, "refuted": -1}
#: How to get the optional dependency.
INSTALL = 'pip install -e ".[wandb]"'
#: The verdict fields the ``verdicts`` table shows, in order (docs/verdicts.md).
TABLE_FIELDS = ("claim_id", "case", "verdict", "value", "reading", "effect", "ci_low", "ci_high",
                "pvalue", "bh_qvalue", "n", "expected", "checkpoint", "step")


class TrackerError(ConceptPatchError):
    """The tracker cannot be used (wandb missing, a run that cannot start, steps that clash)."""


def _steps(results: pd.DataFrame) -> dict[str, int]:
    """Each checkpoint's step, in training order; two checkpoints on one step are an error (W&B
    keeps one value per key and step)."""
    from conceptpatch.claims.common import checkpoint_order

    first = results.groupby("checkpoint")["step"].first()
    steps = {str(c): int(first[c]) for c in checkpoint_order(results)}
    seen: dict[int, str] = {}
    for name, step in steps.items():
        if step in seen:
            raise TrackerError(
                f"checkpoints {seen[step]!r} and {name!r} are both at step {step}: the tracker"
                " logs by step; give each checkpoint its own step in the suite")
        seen[step] = name
    return steps


def exact_rates(results: pd.DataFrame) -> dict[int, dict[str, float]]:
    """Per checkpoint step: ``exact/<setting>/<band>``, ``exact/unpatched``, ``tokens`` and
    ``phase`` (module docstring) of a results table."""
    from conceptpatch.claims.common import BANDS, band_layers

    out: dict[int, dict[str, float]] = {}
    if results.empty:
        return out
    for name, step in _steps(results).items():
        rows = results[results["checkpoint"].astype(str) == name]
        seen = rows[rows["output_seen"].astype(bool)]
        seen = seen.assign(hit=seen["category"].astype(str) == "exact",
                           setting=seen["setting"].astype(str))
        values: dict[str, float] = {"tokens": float(rows["tokens"].iloc[0]),
                                    "phase": float(rows["phase"].iloc[0])}
        unpatched = seen[seen["setting"] == "unpatched"]
        if len(unpatched):
            values["exact/unpatched"] = float(unpatched["hit"].mean())
        patched = seen[seen["layer"] >= 0]
        for setting in sorted(set(patched["setting"])):
            of_setting = patched[patched["setting"] == setting]
            for band in BANDS:
                in_band = of_setting[of_setting["layer"].isin(band_layers(of_setting, band))]
                if len(in_band):
                    values[f"exact/{setting}/{band}"] = float(in_band["hit"].mean())
        out[step] = values
    return out


def _verdict_checkpoint(record: Mapping[str, Any], last: str) -> str:
    """The checkpoint a verdict concerns: the gate's new one, else the last."""
    evidence = record.get("evidence") or {}
    if record.get("claim_id") == "regression" and isinstance(evidence, Mapping):
        return str(evidence.get("new") or last)
    return last


def verdict_rows(results: pd.DataFrame,
                 verdicts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per verdict record: ``key`` (``verdict/<claim_id>[<case>]``), ``value`` (+1, 0,
    -1), ``checkpoint`` and ``step`` it is logged at, and the record's `TABLE_FIELDS`."""
    if not verdicts:
        return []
    if results.empty:
        raise TrackerError("the store holds no units, so its verdicts have no step: run"
                           " `conceptpatch run` into it first")
    steps = _steps(results)
    last = list(steps)[-1]
    out = []
    for record in verdicts:
        verdict = str(record.get("verdict"))
        if verdict not in VERDICT_VALUE:
            raise TrackerError(f"verdict {verdict!r} of {record.get('claim_id')}"
                               f"[{record.get('case')}] is not one of {', '.join(VERDICT_VALUE)}:"
                               " pass the verdicts.json that `conceptpatch claims` wrote")
        checkpoint = _verdict_checkpoint(record, last)
        if checkpoint not in steps:
            raise TrackerError(f"verdict {record.get('claim_id')}[{record.get('case')}] concerns"
                               f" checkpoint {checkpoint!r}, which the store lacks: pass the"
                               " store the claims read")
        row = {f: record.get(f) for f in TABLE_FIELDS}
        row.update(value=VERDICT_VALUE[verdict], checkpoint=checkpoint, step=steps[checkpoint],
                   key=f"verdict/{record.get('claim_id')}[{record.get('case')}]")
        out.append(row)
    return out


def values_by_step(results: pd.DataFrame, verdicts: Sequence[Mapping[str, Any]] = (),
                   ) -> dict[int, dict[str, float]]:
    """Everything to log, step by step in increasing order: `exact_rates` and each verdict's
    value at its checkpoint's step (`verdict_rows`)."""
    merged = exact_rates(results)
    for row in verdict_rows(results, verdicts):
        merged.setdefault(row["step"], {})[row["key"]] = float(row["value"])
    return {step: merged[step] for step in sorted(merged)}


@contextlib.contextmanager
def _wandb_files_under(folder: Path) -> Iterator[None]:
    """W&B's own cache (core logs) and data (artifact staging) under ``folder`` unless
    WANDB_CACHE_DIR / WANDB_DATA_DIR say otherwise, so that a run writes nowhere else."""
    defaults = {"WANDB_CACHE_DIR": folder / "cache", "WANDB_DATA_DIR": folder / "data"}
    added = [k for k in defaults if k not in os.environ]
    for key in added:
        os.environ[key] = str(defaults[key])
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def log_to_wandb(values: Mapping[int, Mapping[str, float]], *, project: str,
                 run_name: str | None = None, dir: str | os.PathLike[str] = ".",
                 mode: str | None = None, verdicts: Sequence[Mapping[str, Any]] = (),
                 config: Mapping[str, Any] | None = None, close: bool = False) -> Path:
    """Log ``values`` (`values_by_step`) to a new W&B run, each step with ``step=`` in increasing
    order, and ``verdicts`` (`verdict_rows`) as a ``verdicts`` table at the latest verdict step;
    returns the run's folder (``DIR/wandb/<run>``). ``mode``: ``"offline"``, ``"online"`` or
    None (W&B's own choice: WANDB_MODE, else online). Everything is written under ``dir``.

    W&B's service writes (and uploads) after ``run.finish()`` returns, until ``wandb.teardown``
    or the process's exit; ``close`` tears it down before returning, so that the run's files
    are complete (a one-shot process like the CLI; not where other W&B runs are still open).
    """
    try:
        import wandb
    except ImportError:
        raise TrackerError(f"logging to W&B needs the wandb package: {INSTALL}") from None
    root = Path(dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    table_step = max((int(r["step"]) for r in verdicts), default=None)
    with _wandb_files_under(root / "wandb"):
        try:
            run = wandb.init(project=project, name=run_name, dir=str(root), mode=mode,
                             config=dict(config or {}), job_type="conceptpatch")
        except (wandb.Error, OSError) as err:
            raise TrackerError(
                f"W&B could not start a run ({' '.join(str(err).split()) or type(err).__name__}):"
                " log in with `wandb login`, or pass --offline and upload later with"
                " `wandb sync`") from None
        try:
            steps = sorted({*values, *([] if table_step is None else [table_step])})
            for step in steps:
                data: dict[str, Any] = dict(values.get(step, {}))
                if step == table_step:
                    data["verdicts"] = wandb.Table(
                        columns=list(TABLE_FIELDS),
                        data=[[_cell(r.get(f)) for f in TABLE_FIELDS] for r in verdicts])
                run.log(data, step=int(step))
            folder = Path(run.dir).parent  # run.dir is the run's files/ folder
        finally:
            run.finish()
            if close:
                wandb.teardown()
    return folder


def _cell(value: Any) -> Any:
    """A table cell W&B can type: numbers and text as they are, anything else as JSON text."""
    return value if value is None or isinstance(value, str | int | float) else json.dumps(value)

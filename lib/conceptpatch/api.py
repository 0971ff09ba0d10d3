"""The notebook API: the method on a model already in memory, in three calls.

    results = conceptpatch.patch(model, tokenizer, seen=["en", "fr", "de", "es"], trials=20)
    verdicts = conceptpatch.verdicts(results)
    conceptpatch.save_report(results, verdicts, "reports/mine")

``patch`` takes a Hugging Face causal LM (or an nnsight ``LanguageModel``) and the suite's keys
as arguments, and returns the results table a run would store; the caller's model and tokenizer
are left as they were (the engine works on a copy of the tokenizer, restores the model's
training flag, and removes every hook it adds). ``verdicts`` decides every claim the table can
test, with Benjamini-Hochberg q-values across its cases; ``save_report`` writes the HTML
report (``conceptpatch.report`` is the module that renders it). Both read the table the claims
command reads (:mod:`conceptpatch.tables`) and find the table's suite in ``suite=``, its
``attrs``, or (after ``pd.concat`` dropped those) the ``patch`` calls that made its design.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from conceptpatch.claims import MODULES, Design, axes_from_suite
from conceptpatch.claims.sequential import decide_looks, evaluate_at, looks_of
from conceptpatch.compute import run_unit
from conceptpatch.config.suite import Suite, parse_suite
from conceptpatch.engine.checkpoints import wrap_model
from conceptpatch.errors import SuiteError
from conceptpatch.report import write_report
from conceptpatch.resolve import resolve
from conceptpatch.tables import claim_table, final_verdicts
from conceptpatch.trial_ids import pairing_of
from conceptpatch.trials import plan_trials

__all__ = ["patch", "save_report", "suite_of_table", "verdicts"]

#: The suites `patch` made, by design hash and checkpoint name: a table whose ``attrs`` were
#: dropped (``pd.concat`` keeps them only when every table's are equal) finds its design again.
_MADE: dict[str, dict[str, Suite]] = {}


def _unwrap(model: Any, tokenizer: Any) -> tuple[Any, Any]:
    """The Hugging Face module and tokenizer behind ``model`` (an nnsight LanguageModel too)."""
    for name in ("_module", "_model"):  # nnsight's LanguageModel wraps the module (0.8: _module)
        inner = vars(model).get(name) if hasattr(model, "__dict__") else None
        if isinstance(inner, nn.Module) and hasattr(inner, "get_input_embeddings"):
            return inner, tokenizer if tokenizer is not None else model.tokenizer
    if tokenizer is None:
        raise TypeError("patch(model, tokenizer, ...): pass the model's tokenizer")
    return model, tokenizer


def patch(model: Any, tokenizer: Any = None, *, seen: Sequence[str],
          unseen: Sequence[str] = (), lexicon: str = "cldr", pos: str | None = None,
          settings: Sequence[str] = ("seen", "en_en", "unpatched"),
          layers: str | Sequence[int] = "all", trials: int = 100, k: int = 5,
          shots: str = "per_trial", position: str = "last", max_new_tokens: int = 10,
          source_pairs: int | str = "all", seen_sources: str = "paper",
          pairing: str = "token_disjoint", target_pairs: Sequence[str] | None = None,
          seed: int = 0, name: str = "in-memory", step: int = 0, tokens: int = 0, phase: int = 1,
          layers_path: str | None = None) -> pd.DataFrame:
    """The results table of the method on ``model``, one row per trial and layer.

    The keyword arguments are the suite's keys (docs/suites.md); ``lexicon`` is a built-in
    (``"cldr"``, ``"multisimlex"``); ``name``/``step``/``tokens``/``phase`` place the model in
    training for the claims that compare checkpoints (concatenate the tables of several).
    """
    hf_model, hf_tokenizer = _unwrap(model, tokenizer)
    suite = suite_of(seen=seen, unseen=unseen, lexicon=lexicon, pos=pos, settings=settings,
                     layers=layers, trials=trials, k=k, shots=shots, position=position,
                     max_new_tokens=max_new_tokens, source_pairs=source_pairs, seed=seed,
                     name=name, step=step, tokens=tokens, phase=phase,
                     seen_sources=seen_sources, pairing=pairing, target_pairs=target_pairs)
    resolved = resolve(suite)
    training = hf_model.training
    try:
        lm = wrap_model(resolved.checkpoints[0], hf_model, copy.deepcopy(hf_tokenizer),
                        layers_path)
        planned = plan_trials(resolved, lm.tokenizer)
        frames = [run_unit(lm, resolved, setting, planned) for setting in suite.settings]
    finally:
        hf_model.train(training)
    out = pd.concat(frames, ignore_index=True)
    out.attrs["suite"] = suite
    _MADE.setdefault(suite.settings_hash(), {})[name] = suite
    return out


def suite_of(*, seen: Sequence[str], unseen: Sequence[str], lexicon: str, pos: str | None,
             settings: Sequence[str], layers: str | Sequence[int], trials: int, k: int,
             shots: str, position: str, max_new_tokens: int, source_pairs: int | str, seed: int,
             name: str, step: int, tokens: int, phase: int, seen_sources: str = "paper",
             pairing: str = "token_disjoint",
             target_pairs: Sequence[str] | None = None) -> Suite:
    """A suite for one in-memory model, validated as a TOML file with these keys would be."""
    data: dict[str, Any] = {
        "name": name, "seed": seed,
        "model": {"checkpoints": [{"name": name, "path": "<memory>", "step": step,
                                   "tokens": tokens, "phase": phase}]},
        "lexicon": {"builtin": lexicon, **({"pos": pos} if pos else {})},
        "languages": {"seen": list(seen), "unseen": list(unseen)},
        "prompt": {"k": k, "shots": shots},
        "patch": {"layers": layers if layers == "all" else list(layers), "position": position,
                  "settings": list(settings), "max_new_tokens": max_new_tokens,
                  "source_pairs": source_pairs, "seen_sources": seen_sources},
        "sample": {"trials": trials, "pairing": pairing,
                   **({"target_pairs": list(target_pairs)} if target_pairs is not None else {})},
    }  # fmt: skip
    return parse_suite(data, base=Path.cwd(), name=name)


def _designs(results: pd.DataFrame) -> list[str]:
    """The design hashes (``suite_hash``) of a table's rows."""
    if "suite_hash" not in results.columns or results.empty:
        return []
    return sorted(set(results["suite_hash"].astype(str)))


def _merged(suites: list[Suite]) -> Suite:
    """One suite for the tables of several ``patch`` calls of one design: their checkpoints."""
    if len(suites) == 1:
        return suites[0]
    if len({s.claims for s in suites}) > 1:
        raise SuiteError("the results table joins patch() tables whose suites declare different "
                         "[claims]: pass suite= (or design=) to say which design to test")
    names = {s.name for s in suites}
    first = suites[0]
    checkpoints = tuple(c for s in suites for c in s.model.checkpoints)
    given = tuple(dict.fromkeys((*first.model.given, "checkpoints")))
    model = dataclasses.replace(first.model, checkpoints=checkpoints, given=given)
    return dataclasses.replace(first, name=first.name if len(names) == 1 else "in-memory",
                               model=model)


def suite_of_table(results: pd.DataFrame, suite: Suite | None = None) -> Suite | None:
    """The suite behind a results table: ``suite`` when given, else ``attrs["suite"]``, else the
    suites ``patch`` made in this session for the table's design and checkpoints; None when no
    suite is known. A table of several designs (``suite_hash``) is an error, never mixed."""
    hashes = _designs(results)
    if len(hashes) > 1:
        raise SuiteError(f"the results table mixes {len(hashes)} designs (suite_hash "
                         f"{', '.join(hashes)}): test one at a time, e.g. "
                         f"results[results['suite_hash'] == {hashes[0]!r}]")
    found = suite if suite is not None else results.attrs.get("suite")
    if found is None and hashes:
        made = _MADE.get(hashes[0], {})
        names = [str(n) for n in results["checkpoint"].drop_duplicates()]
        found = _merged([made[n] for n in names if n in made]) if any(
            n in made for n in names) else None
    if isinstance(found, Suite) and hashes and found.settings_hash() != hashes[0]:
        raise SuiteError(f"suite {found.name!r} has design {found.settings_hash()} but the "
                         f"table's rows were computed by design {hashes[0]}: pass the suite "
                         "that computed them")
    return found


def _design(results: pd.DataFrame, suite: Suite | None, design: Design | None,
            what: str) -> tuple[Suite | None, Design]:
    """The table's suite and claim design; without either, the default design, said aloud."""
    suite = suite_of_table(results, suite)
    if design is not None:
        return suite, design
    if suite is None:
        warnings.warn(f"{what}: the results table carries no suite (its attrs were dropped and "
                      "no patch() call of this session made its design): using the default "
                      "claim design and every part of speech; pass suite= or design=",
                      UserWarning, stacklevel=3)
        return None, Design()
    return suite, Design.from_suite(suite)


def _check_gate(results: pd.DataFrame, new_checkpoint: str) -> None:
    """The gate's checkpoint must be one of the table's: the claims command's one-line error."""
    from types import SimpleNamespace

    first = results.drop_duplicates("checkpoint")
    axes_from_suite(SimpleNamespace(checkpoints=[
        SimpleNamespace(name=str(r.checkpoint), step=int(r.step), tokens=int(r.tokens),
                        phase=int(r.phase)) for r in first.itertuples()]), upto=new_checkpoint)


def verdicts(results: pd.DataFrame, alpha: float | None = None, design: Design | None = None,
             new_checkpoint: str | None = None, *, suite: Suite | None = None,
             store: str | Path | None = None) -> pd.DataFrame:
    """Every claim case the table can test, one row each, with BH q-values across the cases:
    the records ``verdicts.json`` holds for the same rows (:mod:`conceptpatch.tables`).

    ``alpha``: every claim's level (default: each claim's own, as the claims command);
    ``new_checkpoint`` adds the regression gate for that checkpoint against the ones before it
    (a name the table lacks raises SuiteError, as the command does); ``suite`` (or ``design``)
    says which design to test when the table's ``attrs`` were lost; ``store``: where manual
    labels were imported (they take precedence, as in the claims command).
    """
    suite, design = _design(results, suite, design, "verdicts")
    if new_checkpoint is not None:
        _check_gate(results, new_checkpoint)
    table = claim_table(results, suite, store)
    if new_checkpoint is None and getattr(suite, "stages", None) is not None:
        return _sequential_verdicts(table, suite, alpha, design)
    found = []
    for claim_id, module in MODULES.items():
        level = alpha or module.CLAIM.alpha
        if claim_id == "regression":
            if new_checkpoint is not None:
                found += module.evaluate(table, new_checkpoint, level, design=design)
            continue
        found += module.evaluate(table, level, design=design)
    return pd.DataFrame.from_records(final_verdicts(v.to_record() for v in found))


def _sequential_verdicts(table: pd.DataFrame, suite: Suite, alpha: float | None,
                         design: Design) -> pd.DataFrame:
    """A sequential suite's verdicts as the claims command decides them: look by look over the
    stages the table holds (`conceptpatch.claims.sequential.decide_looks`), each record with
    its look."""
    stages = tuple(suite.stages or ())
    held = int(pairing_of(table["trial"], suite.trials).max()) + 1 if len(table) else 0
    looks = tuple(x for x in looks_of(stages) if x.pairings <= held) or looks_of(stages)[:1]
    claim_ids = [c for c in MODULES if c != "regression"]

    def alpha_of(claim_id: str) -> float:
        return alpha or MODULES[claim_id].CLAIM.alpha

    decisions, run = decide_looks(
        looks, lambda look: evaluate_at(table, look, suite.trials, claim_ids, alpha_of, design),
        alpha_of)
    records = [{**d.verdict.to_record(), **d.record(stages, run)} for d in decisions.values()]
    return pd.DataFrame.from_records(final_verdicts(records))


def save_report(results: pd.DataFrame, verdicts: pd.DataFrame, out_dir: str | Path, *,
                suite: Suite | None = None, store: str | Path | None = None) -> Path:
    """Write the HTML claim report of ``results`` and ``verdicts`` to ``out_dir/index.html``
    (``store``: where manual labels were imported, named in the report)."""
    suite, _ = _design(results, suite, None, "save_report")
    records = verdicts.to_dict(orient="records")
    return write_report(results, records, suite, Path(out_dir), store=store)

"""The notebook API: the method on a model already in memory, in three calls.

    results = conceptpatch.patch(model, tokenizer, seen=["en", "fr", "de", "es"], trials=20)
    verdicts = conceptpatch.verdicts(results)
    conceptpatch.save_report(results, verdicts, "reports/mine")

``patch`` takes a Hugging Face causal LM (or an nnsight ``LanguageModel``) and the suite's keys
as arguments, and returns the results table a run would store; the caller's model and tokenizer
are left as they were (the engine works on a copy of the tokenizer, restores the model's
training flag, and removes every hook it adds). ``verdicts`` decides every claim the table can
test, with Benjamini-Hochberg q-values across its cases; ``save_report`` writes the HTML
report (``conceptpatch.report`` is the module that renders it).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from conceptpatch.checkpoints import wrap_model
from conceptpatch.claims import MODULES, Design, benjamini_hochberg
from conceptpatch.report import write_report
from conceptpatch.run import run_unit
from conceptpatch.suite import Suite, parse_suite, resolve
from conceptpatch.trials import plan_trials

__all__ = ["patch", "save_report", "verdicts"]


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


def verdicts(results: pd.DataFrame, alpha: float = 0.05, design: Design | None = None,
             new_checkpoint: str | None = None) -> pd.DataFrame:
    """Every claim case the table can test, one row each, with BH q-values across the cases.

    ``new_checkpoint`` adds the regression gate for that checkpoint against the ones before it.
    """
    suite = results.attrs.get("suite")
    design = design or (Design.from_suite(suite) if suite is not None else Design())
    found = []
    for claim_id, module in MODULES.items():
        if claim_id == "regression":
            if new_checkpoint is not None:
                found += module.evaluate(results, new_checkpoint, alpha, design=design)
            continue
        found += module.evaluate(results, alpha, design=design)
    records = [v.to_record() for v in found]
    for record, q in zip(records, benjamini_hochberg([r["pvalue"] for r in records]),
                         strict=True):
        record["bh_qvalue"] = q
    return pd.DataFrame.from_records(records)


def save_report(results: pd.DataFrame, verdicts: pd.DataFrame, out_dir: str | Path) -> Path:
    """Write the HTML claim report of ``results`` and ``verdicts`` to ``out_dir/index.html``."""
    suite = results.attrs.get("suite")
    records = verdicts.to_dict(orient="records")
    return write_report(results, records, suite, Path(out_dir))

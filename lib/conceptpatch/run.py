"""Running a suite: plan trials, compute each missing (checkpoint, setting) unit, store it.

For each checkpoint the model is loaded once, every missing unit computed (concept latents from
the source prompts, then a patched sweep over all layers of the target prompts), scored, and the
unit written atomically; then the model is released before the next checkpoint.
"""

from __future__ import annotations

import gc
import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from conceptpatch.capture import concept_latents
from conceptpatch.checkpoints import Checkpoint, LoadedModel, load_checkpoint
from conceptpatch.errors import SuiteError
from conceptpatch.patching import UNPATCHED, Generation, patched_sweep, width_of
from conceptpatch.prompts import Prompt
from conceptpatch.results import Store, conform
from conceptpatch.scoring import categorize
from conceptpatch.suite import Resolved, Suite, resolve
from conceptpatch.trials import Trial, plan_trials, source_prompts, target_prompt

__all__ = ["Unit", "plan_units", "run_suite", "run_unit", "score_ids", "versions"]


@dataclass(frozen=True, slots=True)
class Unit:
    """The store's unit of work: one setting of the suite on one checkpoint."""

    checkpoint: Checkpoint
    setting: str


def versions() -> dict[str, str]:
    """Versions of the packages that determine results (stored with every unit)."""
    out = {}
    for name in ("conceptpatch", "torch", "transformers", "tokenizers"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def plan_units(
    resolved: Resolved,
    checkpoints: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
) -> list[Unit]:
    """The suite's units in a fixed order, restricted to ``checkpoints`` and to one ``shard``.

    ``shard=(i, n)`` takes every n-th unit starting at i, so n processes split a suite.
    """
    known = {c.name: c for c in resolved.checkpoints}
    if checkpoints is not None:
        unknown = [name for name in checkpoints if name not in known]
        if unknown:
            raise SuiteError(
                f"checkpoint(s) {', '.join(unknown)} are not in suite {resolved.suite.name!r}"
                f" (it has {', '.join(known)}): fix the name"
            )
    chosen = [c for c in resolved.checkpoints if checkpoints is None or c.name in checkpoints]
    units = [Unit(c, s) for c in chosen for s in resolved.suite.settings]
    if shard is not None:
        index, count = shard
        if not 0 <= index < count:
            raise SuiteError(f"shard {index}/{count} is out of range: use i/n with 0 <= i < n")
        units = units[index::count]
    return units


def suite_layers(suite: Suite, n_layers: int) -> list[int]:
    """The first patch layers a suite sweeps on a model with ``n_layers`` decoder layers."""
    if suite.layers is None:
        return list(range(n_layers))
    bad = [j for j in suite.layers if not -n_layers <= j < n_layers]
    if bad:
        raise SuiteError(
            f"patch.layers {bad} out of range for a model with {n_layers} layers: use 0.."
            f"{n_layers - 1} (or negative indices from the end)"
        )
    return sorted({j % n_layers for j in suite.layers})


def score_ids(lm: LoadedModel, prompts: Sequence[Prompt], words: Sequence[str]) -> torch.Tensor:
    """The first token each answer ``word`` would have after its ``prompt`` (for p_concept)."""
    tok = lm.tokenizer
    with_word = tok([p.text + w for p, w in zip(prompts, words, strict=True)])["input_ids"]
    alone = tok([p.text for p in prompts])["input_ids"]
    ids = []
    for full, head, word in zip(with_word, alone, words, strict=True):
        if full[: len(head)] == head and len(full) > len(head):
            ids.append(full[len(head)])
        else:  # the word merged with the prompt's last token: fall back to the word alone
            ids.append(tok(word, add_special_tokens=False)["input_ids"][0])
    return torch.tensor(ids)


def _batch_size(resolved: Resolved) -> int:
    size = resolved.suite.model.get("batch_size", "auto")
    return 32 if size == "auto" else int(size)


def run_unit(
    lm: LoadedModel,
    resolved: Resolved,
    setting: str,
    trials: Sequence[Trial],
    progress: Callable[[int], object] | None = None,
) -> pd.DataFrame:
    """All rows of one unit: ``trials`` under ``setting`` at every suite layer on model ``lm``."""
    suite, lexicon = resolved.suite, resolved.lexicon
    layers = [UNPATCHED] if setting == "unpatched" else suite_layers(suite, lm.n_layers)
    width = width_of(suite.position)  # type: ignore[arg-type]
    size = _batch_size(resolved)
    rows: list[dict[str, object]] = []
    for start in range(0, len(trials), size):
        chunk = trials[start : start + size]
        targets = [target_prompt(resolved, t) for t in chunk]
        wanted = [lexicon.reference(t.concept, t.pair.output) for t in chunk]
        ids = score_ids(lm, targets, wanted)
        sources: list[list[Prompt]] = []
        latents = None
        if setting != "unpatched":
            sources = [source_prompts(resolved, t, setting) for t in chunk]
            latents = concept_latents(lm, sources, width, batch_size=size)
        sweep = patched_sweep(
            lm,
            targets,
            latents,
            layers,
            ids,
            suite.position,
            suite.max_new_tokens,  # type: ignore[arg-type]
        )
        for layer, generation in sweep.items():
            rows.extend(_rows(resolved, lm, setting, layer, chunk, sources, generation))
        if progress is not None:
            progress(len(chunk))
    frame = pd.DataFrame(rows)
    frame["category"] = [
        categorize(r.output, lexicon, r.concept, r.target_concept, r.input_lang, r.output_lang)
        for r in frame.itertuples()
    ]
    return conform(frame.sort_values(["layer", "trial"], kind="stable"))


def _rows(
    resolved: Resolved,
    lm: LoadedModel,
    setting: str,
    layer: int,
    trials: Sequence[Trial],
    sources: Sequence[Sequence[Prompt]],
    generation: Generation,
) -> list[dict[str, object]]:
    suite, ckpt = resolved.suite, lm.checkpoint
    unseen = set(resolved.unseen)
    out = []
    for i, trial in enumerate(trials):
        pairs = ";".join(str(p.pair) for p in sources[i]) if sources else ""
        out.append(
            {
                "checkpoint": ckpt.name, "step": ckpt.step, "tokens": ckpt.tokens,
                "phase": ckpt.phase, "layer": layer, "n_layers": lm.n_layers,
                "position": suite.position, "setting": setting, "source_pairs": pairs,
                "input_lang": trial.pair.input, "output_lang": trial.pair.output,
                "output_seen": trial.pair.output not in unseen, "concept": trial.concept,
                "target_concept": trial.target_concept, "trial": trial.trial,
                "output": generation.texts[i], "category": "",
                "p_concept": float(generation.p_first[i]), "seed": suite.seed,
                "suite_hash": suite.settings_hash(),
            }
        )  # fmt: skip
    return out


def _release(lm: LoadedModel | None) -> None:
    if lm is None:
        return
    device = lm.device
    del lm
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_suite(
    suite: Suite,
    store: str | Path,
    checkpoints: Sequence[str] | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Compute the suite's missing units into ``store`` and return the suite's results table."""
    resolved = resolve(suite)
    units = plan_units(resolved, checkpoints, shard)
    target = Store(Path(store)).open()
    digest = suite.settings_hash()
    trials = plan_trials(resolved)
    missing = [u for u in units if not target.has(u.checkpoint.name, u.setting, digest)]
    with tqdm(
        total=len(missing) * len(trials), disable=not progress, unit="trial", desc=suite.name
    ) as bar:
        lm: LoadedModel | None = None
        for unit in missing:
            name = unit.checkpoint.name
            with target.lock(name, unit.setting):
                if target.has(name, unit.setting, digest):  # another process did it meanwhile
                    bar.update(len(trials))
                    continue
                if lm is None or lm.checkpoint != unit.checkpoint:
                    _release(lm)
                    lm = None
                    bar.set_postfix_str(name)
                    lm = load_checkpoint(
                        unit.checkpoint,
                        dtype=suite.dtype,  # type: ignore[arg-type]
                        device=suite.device,
                        trust_remote_code=bool(suite.model.get("trust_remote_code", False)),
                        device_map=suite.model.get("device_map"),
                    )
                frame = run_unit(lm, resolved, unit.setting, trials, bar.update)
                meta = {"suite_hash": digest, "seed": suite.seed, "versions": versions()}
                target.write(name, unit.setting, frame, meta)
        _release(lm)
    names = {u.checkpoint.name for u in plan_units(resolved, checkpoints)}
    table = target.load()
    keep = table["checkpoint"].isin(names) & table["setting"].isin(suite.settings)
    return conform(table[keep & (table["suite_hash"] == digest)])

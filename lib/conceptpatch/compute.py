"""Running a suite: plan trials, compute each missing (checkpoint, setting) unit, store it.

For each checkpoint the model is loaded once, every missing unit computed (concept latents from
the source prompts, then a patched sweep over all layers of the target prompts), scored, and the
unit written atomically; then the model is released before the next checkpoint. Within a unit,
trials are batched in memory-bounded chunks ordered by (pair, examples) so that per-pair few-shot
prefixes are shared, and a source prompt's states are computed once however many trials use it.
"""

from __future__ import annotations

import difflib
import gc
import json
import platform
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from conceptpatch.config.suite import Suite, suite_layers
from conceptpatch.context import check_run
from conceptpatch.engine.capture import StateCache, concept_latents
from conceptpatch.engine.checkpoints import LoadedModel, load_checkpoint
from conceptpatch.engine.patching import UNPATCHED, patched_sweep, width_of
from conceptpatch.engine.positions import quote_merges
from conceptpatch.errors import StoreError, SuiteError
from conceptpatch.fingerprint import fingerprint
from conceptpatch.lexicons.constructed import unknown_pieces
from conceptpatch.prompts import Prompt
from conceptpatch.provenance import installed_versions
from conceptpatch.resolve import Resolved, resolve
from conceptpatch.results import Store, StoreDesign, clash_problems, conform
from conceptpatch.scoring import categorize
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.tokenizer import load_tokenizer
from conceptpatch.trial_ids import first_pairings
from conceptpatch.trials import (
    Trial,
    check_design,
    plan_trials,
    source_prompts,
    target_prompt,
    token_conflicts,
)

__all__ = [
    "CPU_BATCH_SIZE",
    "ORGANISM_THREADS",
    "Outcome",
    "QueryPositionWarning",
    "Unit",
    "batch_size",
    "forward_rows",
    "organism_threads",
    "plan_units",
    "run_suite",
    "run_unit",
    "score_ids",
    "suite_trials",
    "sweep_trials",
    "versions",
]

#: Prompts per forward on CPU with ``model.batch_size = "auto"`` (compute-bound: more buys little).
CPU_BATCH_SIZE = 64
#: Share of free accelerator memory an automatic batch may fill.
GPU_MEMORY_SHARE = 0.4
#: KV-cache bytes one CPU forward may hold when several first layers share it ("auto").
CPU_FUSED_BYTES = 256 * 2**20
#: Torch threads an organism suite computes with on CPU (see `organism_threads`).
ORGANISM_THREADS = 1


class QueryPositionWarning(UserWarning):
    """Prompts whose query word's last token merged with the closing quote (see
    `conceptpatch.prompts`): their query position is the token before the merged one."""


@dataclass(frozen=True, slots=True)
class Unit:
    """The store's unit of work: one setting of the suite on one checkpoint."""

    checkpoint: Checkpoint
    setting: str


def versions() -> dict[str, str]:
    """Versions of the packages that determine results (stored with every unit)."""
    return installed_versions(("conceptpatch", "torch", "transformers", "tokenizers"),
                              missing="unknown")


def plan_units(
    resolved: Resolved,
    checkpoints: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
) -> list[Unit]:
    """The suite's units in a fixed order, restricted to ``checkpoints`` and to one ``shard``.

    ``shard=(i, n)`` gives n processes disjoint shares that cover the suite. With at least as
    many checkpoints as shards, a shard takes every n-th checkpoint with all its settings, so each
    checkpoint is downloaded and loaded by one process only; otherwise every n-th unit.
    """
    known = {c.name: c for c in resolved.checkpoints}
    if checkpoints is not None:
        unknown = [name for name in checkpoints if name not in known]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SuiteError(
                f"checkpoint(s) {', '.join(unknown)} are not in suite {resolved.suite.name!r}"
                f"{hint} (it has {', '.join(known)}): fix the name"
            )
    clashes = clash_problems(known)
    if clashes:
        raise SuiteError(clashes[0])
    chosen = [c for c in resolved.checkpoints if checkpoints is None or c.name in checkpoints]
    units = [Unit(c, s) for c in chosen for s in resolved.suite.settings]
    if shard is not None:
        index, count = shard
        if not 0 <= index < count:
            raise SuiteError(f"shard {index}/{count} is out of range: use i/n with 0 <= i < n")
        if len(chosen) >= count:
            mine = {c.name for c in chosen[index::count]}
            return [u for u in units if u.checkpoint.name in mine]
        units = units[index::count]
    return units


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


def batch_size(lm: LoadedModel, suite: Suite, prompt_tokens: int = 128) -> int:
    """Prompts per forward: the suite's ``model.batch_size``, or bounded by memory when "auto".

    On CUDA the bound comes from free memory and the model's shape (KV cache of a prompt plus
    its answer, MLP activations, attention scores and logits per row); elsewhere it is
    `CPU_BATCH_SIZE`.
    """
    size = suite.model.batch_size
    if size != "auto":
        return int(size)
    if lm.device.type != "cuda":
        return CPU_BATCH_SIZE
    free, _ = torch.cuda.mem_get_info(lm.device)
    config = lm.model.config
    hidden = int(config.hidden_size)
    heads = int(config.num_attention_heads)
    inner = int(getattr(config, "intermediate_size", None) or 4 * hidden)
    element = next(lm.model.parameters()).element_size()
    tokens = prompt_tokens + suite.max_new_tokens
    per_row = (
        _kv_bytes(lm) * tokens  # KV cache
        + 4 * tokens * (inner + hidden) * element  # one layer's activations
        + heads * tokens * tokens * 4  # attention scores
        + 3 * int(config.vocab_size) * 4  # last-position logits, softmax
    )
    return max(1, min(1024, int(free * GPU_MEMORY_SHARE) // per_row))


def forward_rows(lm: LoadedModel, suite: Suite, prompt_tokens: int = 128) -> int:
    """Rows of one patched forward: on CPU with "auto", room for several first layers at once.

    Copies of a batch for several first layers make larger matrix products and fewer calls; the
    copies' KV caches are bounded by `CPU_FUSED_BYTES`. Otherwise one copy (`batch_size`).
    """
    size = batch_size(lm, suite, prompt_tokens)
    if suite.model.batch_size != "auto" or lm.device.type == "cuda":
        return size
    per_row = _kv_bytes(lm) * (prompt_tokens + suite.max_new_tokens)
    return max(size, min(1024, CPU_FUSED_BYTES // max(1, per_row)))


def _kv_bytes(lm: LoadedModel) -> int:
    """KV-cache bytes per token of ``lm`` (all layers)."""
    config = lm.model.config
    hidden, heads = int(config.hidden_size), int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    element = next(lm.model.parameters()).element_size()
    return 2 * lm.n_layers * kv_heads * head_dim * element


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer of one trial at one first layer (before scoring)."""

    trial: Trial
    layer: int
    sources: tuple[Prompt, ...]
    tokens: tuple[int, ...]
    text: str
    p_first: float


def suite_trials(resolved: Resolved, tokenizer: object | None = None) -> tuple[Trial, ...]:
    """The suite's trials, the token rule applied with the tokenizer of its first checkpoint
    (in the suite's order, so every shard and process plans the same trials)."""
    check_design(resolved)  # before anything is loaded
    if resolved.suite.pairing == "token_disjoint" and tokenizer is None:
        if not resolved.checkpoints:
            raise SuiteError(f"suite {resolved.suite.name!r} has no checkpoint to plan with")
        tokenizer = load_tokenizer(resolved.checkpoints[0], **resolved.suite.load_options)
    return plan_trials(resolved, tokenizer)


def check_tokenizer(lm: LoadedModel, resolved: Resolved, trials: Sequence[Trial]) -> None:
    """Refuse a checkpoint under whose tokenizer a planned C and D share a first token, or that
    reads a constructed language's words as unknown tokens."""
    made = resolved.suite.constructed
    unknown = [] if made is None else unknown_pieces(
        lm.tokenizer, (resolved.lexicon.reference(c, made.code) for c in resolved.lexicon.concepts))
    if unknown:
        raise SuiteError(
            f"checkpoint {lm.checkpoint.name!r}'s tokenizer reads {len(unknown)} word(s) of the"
            f" constructed language {made.code} as its unknown token (e.g. {unknown[0]!r}): the"
            " unseen language would test unknown tokens, not alignment; drop [languages]"
            " constructed for this model"
        )
    if resolved.suite.pairing != "token_disjoint":
        return
    bad = token_conflicts(resolved, trials, lm.tokenizer)
    if bad:
        first = resolved.checkpoints[0].name
        raise SuiteError(
            f"checkpoint {lm.checkpoint.name!r} tokenizes differently from {first!r}, whose"
            f" tokenizer planned the pairings: under it {len(bad)} trials' C and D share a first"
            f" token (e.g. {bad[0].concept!r} / {bad[0].target_concept!r}): give every checkpoint"
            ' one tokenizer ([model] tokenizer = "DIR or hub id"), run it in a suite of its own,'
            ' or set sample.pairing = "any" (a departure from the paper)'
        )


def _shared_order(resolved: Resolved, trials: Sequence[Trial]) -> list[Trial]:
    """Trials ordered so chunks share work: by pairing (one pairing's source prompts serve all
    its target pairs), or with per-pair shots by target pair and examples (shared prefixes)."""
    if resolved.suite.shots == "per_pair":
        return sorted(trials, key=lambda t: (t.pair.input, t.pair.output, t.examples, t.trial))
    return sorted(trials, key=lambda t: (t.pairing, t.trial))


def sweep_trials(
    lm: LoadedModel,
    resolved: Resolved,
    setting: str,
    trials: Sequence[Trial],
    layers: Sequence[int] | None = None,
    progress: Callable[[int], object] | None = None,
    counts: dict[str, int] | None = None,
) -> list[Outcome]:
    """Answers of ``trials`` under ``setting`` at each first layer (default: the suite's).

    ``counts``, when given, receives ``prompts`` (distinct prompts run) and ``query_merged``
    (those whose query word's end merged with the closing quote).
    """
    suite, lexicon = resolved.suite, resolved.lexicon
    if layers is None:
        layers = [UNPATCHED] if setting == "unpatched" else suite_layers(suite, lm.n_layers)
    width = width_of(suite.position)  # type: ignore[arg-type]
    ordered = _shared_order(resolved, trials)
    sources = (
        [source_prompts(resolved, t, setting) for t in ordered]
        if setting != "unpatched"
        else [[] for _ in ordered]
    )
    if setting != "unpatched":  # trials the setting has no source for are not run under it
        kept = [i for i, group in enumerate(sources) if group]
        ordered, sources = [ordered[i] for i in kept], [sources[i] for i in kept]
    targets = [target_prompt(resolved, t) for t in ordered]
    check_run(lm, suite, [p.text for p in [*targets, *(p for g in sources for p in g)]])
    uses: dict[tuple[str, int], int] = {}
    for group in sources:
        for p in group:
            uses[(p.text, width)] = uses.get((p.text, width), 0) + 1
    if counts is not None:
        distinct = list({p.text: p for p in [*targets, *(p for g in sources for p in g)]}.values())
        counts["prompts"] = len(distinct)
        counts["query_merged"] = sum(
            quote_merges(lm.tokenizer, distinct[i : i + 256]) for i in range(0, len(distinct), 256)
        )
    states = StateCache(uses)
    longest = max(targets, key=lambda t: len(t.text), default=None)
    tokens = len(lm.tokenizer(longest.text)["input_ids"]) if longest is not None else 0
    size = batch_size(lm, suite, prompt_tokens=tokens)
    rows = forward_rows(lm, suite, prompt_tokens=tokens)
    out: list[Outcome] = []
    for start in range(0, len(ordered), size):
        chunk = ordered[start : start + size]
        chunk_targets = targets[start : start + size]
        chunk_sources = sources[start : start + size]
        wanted = [lexicon.reference(t.concept, t.pair.output) for t in chunk]
        ids = score_ids(lm, chunk_targets, wanted)
        latents = None
        if setting != "unpatched":
            latents = concept_latents(lm, chunk_sources, width, batch_size=size, cache=states)
        sweep = patched_sweep(
            lm,
            chunk_targets,
            latents,
            layers,
            ids,
            suite.position,  # type: ignore[arg-type]
            suite.max_new_tokens,
            rows=rows,
        )
        for layer, generation in sweep.items():
            for i, trial in enumerate(chunk):
                out.append(
                    Outcome(
                        trial,
                        layer,
                        tuple(chunk_sources[i]),
                        tuple(generation.tokens[i]),
                        generation.texts[i],
                        float(generation.p_first[i]),
                    )
                )
        if progress is not None:
            progress(len(chunk))
    return out


def run_unit(
    lm: LoadedModel,
    resolved: Resolved,
    setting: str,
    trials: Sequence[Trial],
    progress: Callable[[int], object] | None = None,
) -> pd.DataFrame:
    """All rows of one unit: ``trials`` under ``setting`` at every suite layer on model ``lm``."""
    lexicon = resolved.lexicon
    counts: dict[str, int] = {}
    outcomes = sweep_trials(lm, resolved, setting, trials, progress=progress, counts=counts)
    frame = pd.DataFrame(_rows(resolved, lm, setting, outcomes))
    frame["category"] = [
        categorize(r.output, lexicon, r.concept, r.target_concept, r.input_lang, r.output_lang)
        for r in frame.itertuples()
    ]
    out = conform(frame.sort_values(["layer", "trial"], kind="stable"))
    if counts.get("query_merged"):
        warnings.warn(
            f"{counts['query_merged']} of {counts['prompts']} prompts of {lm.checkpoint.name}"
            f" {setting}: the tokenizer merges the query word's last token with the closing"
            " quote, so the query position is the token before it (see conceptpatch.prompts)",
            QueryPositionWarning,
            stacklevel=2,
        )
    out.attrs["query_merged"] = counts.get("query_merged", 0)  # stored in the unit's metadata
    return out


def _rows(
    resolved: Resolved, lm: LoadedModel, setting: str, outcomes: Sequence[Outcome]
) -> list[dict[str, object]]:
    suite, ckpt = resolved.suite, lm.checkpoint
    unseen = set(resolved.unseen)
    digest = suite.settings_hash()
    out = []
    for o in outcomes:
        trial = o.trial
        out.append(
            {
                "checkpoint": ckpt.name, "step": ckpt.step, "tokens": ckpt.tokens,
                "phase": ckpt.phase, "layer": o.layer, "n_layers": lm.n_layers,
                "position": suite.position, "setting": setting,
                "source_pairs": ";".join(str(p.pair) for p in o.sources),
                "input_lang": trial.pair.input, "output_lang": trial.pair.output,
                "output_seen": trial.pair.output not in unseen, "concept": trial.concept,
                "target_concept": trial.target_concept,
                "pos": resolved.lexicon.pos.get(trial.concept), "trial": trial.trial,
                "output": o.text, "category": "", "p_concept": o.p_first, "seed": suite.seed,
                "suite_hash": digest,
            }
        )  # fmt: skip
    return out


def _checkpoint_record(suite: Suite, checkpoint: Checkpoint) -> dict[str, object]:
    """What a unit records of its checkpoint, so that a gate job knows a glob suite's
    checkpoints from the store alone; the source only for globs (other sources are in the suite,
    and a cache path would make units differ between machines)."""
    record: dict[str, object] = {"name": checkpoint.name, "step": checkpoint.step,
                                 "tokens": checkpoint.tokens, "phase": checkpoint.phase}
    if suite.model.glob is not None:
        record["source"] = checkpoint.source
    return record


def _release(lm: LoadedModel | None) -> None:
    if lm is None:
        return
    device = lm.device
    del lm
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


@contextmanager
def organism_threads(suite: Suite) -> Iterator[None]:
    """Torch threads pinned to `ORGANISM_THREADS` while an organism suite computes on CPU.

    CPU float reductions depend on the thread count (p_concept moves in its last bits), so a
    fixed count gives the same store on any machine and in any process layout (serial, or
    `conceptpatch.train_and_compute`'s evaluation beside training); one thread is also the fastest
    per core for a model this small.
    """
    if suite.model.organism is None or not suite.device.startswith("cpu"):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(ORGANISM_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_suite(
    suite: Suite | Resolved,
    store: str | Path,
    checkpoints: Sequence[str] | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    replace: bool = False,
    upto: int | None = None,
) -> pd.DataFrame:
    """Compute the suite's missing units into ``store`` and return the suite's results table.

    ``suite`` may come resolved already; a missing organism is trained first, in this process
    (`conceptpatch.train_and_compute.run_pipelined` trains it beside the computing instead). A store
    holding another design's units is refused (`conceptpatch.results.Store.bind`) unless
    ``replace``, which deletes them first.

    A sequential design (``sample.stages``) computes its units up to ``upto`` pairings (default:
    the whole plan): a stored unit holding fewer is extended by its missing pairings only, its
    stored rows kept as they are, and the table returned holds the first ``upto`` pairings.
    """
    if isinstance(suite, Resolved):
        resolved, suite = suite, suite.suite
    else:
        resolved = resolve(suite)
    units = plan_units(resolved, checkpoints, shard)
    target = Store(Path(store))
    target.bind(StoreDesign.of(suite), replace=replace)
    digest = suite.settings_hash()
    upto = _upto(suite, upto)
    missing = [u for u in units if not target.has(u.checkpoint.name, u.setting, digest, upto)]
    trials = tuple(t for t in suite_trials(resolved) if t.pairing < upto) if missing else ()
    with tqdm(
        total=len(missing) * len(trials), disable=not progress, unit="trial", desc=suite.name
    ) as bar:
        lm: LoadedModel | None = None
        weights: str | None = None  # the loaded checkpoint's fingerprint
        for unit in missing:
            name = unit.checkpoint.name
            with target.lock(name, unit.setting):
                if target.has(name, unit.setting, digest, upto):  # another process did it
                    bar.update(len(trials))
                    continue
                stored = (target.stored_pairings(name, unit.setting, digest)
                          if suite.stages is not None else 0)
                todo = [t for t in trials if t.pairing >= stored]
                bar.update(len(trials) - len(todo))
                if lm is None or lm.checkpoint != unit.checkpoint:
                    _release(lm)
                    lm = None
                    bar.set_postfix_str(name)
                    lm = load_checkpoint(unit.checkpoint, **suite.load_options)
                    check_tokenizer(lm, resolved, trials)
                    weights = fingerprint(unit.checkpoint)
                before = target.unit_meta(name, unit.setting) if stored else None
                if before is not None:
                    _check_same_weights(target, unit, before, weights)
                started = time.perf_counter()
                with organism_threads(suite):
                    frame = run_unit(lm, resolved, unit.setting, todo, bar.update)
                seconds = time.perf_counter() - started
                if before is not None:  # a later stage: the stored pairings kept as they are
                    frame = _extended(target, unit, frame, before)
                meta = {
                    "suite_hash": digest, "seed": suite.seed, "versions": versions(),
                    "query_merged": int(frame.attrs.get("query_merged", 0)),
                    "lexicon_steps": list(resolved.lexicon.meta.get("steps", [])),
                    "suite": suite.name,
                    "checkpoint": _checkpoint_record(suite, unit.checkpoint),
                    **({"weights": weights} if weights is not None else {}),
                    **({"pairings": upto, "planned": suite.trials}
                       if suite.stages is not None else {}),
                }  # fmt: skip
                target.write(name, unit.setting, frame, meta)
                target.write_timing(name, unit.setting, {
                    "seconds": round(seconds, 3) + _stored_seconds(target, unit, stored),
                    "device": str(lm.device), "threads": torch.get_num_threads(),
                    "host": platform.node(),
                    **({"pairings": upto} if suite.stages is not None else {}),
                })
        _release(lm)
    table = conform(target.load((u.checkpoint.name, u.setting)
                                for u in plan_units(resolved, checkpoints)))
    return first_pairings(table, upto, suite.trials)


def _upto(suite: Suite, upto: int | None) -> int:
    """The pairings to compute: ``upto`` (a sequential design's look), default the whole plan."""
    if upto is None:
        return suite.trials
    if suite.stages is None or upto not in suite.stages:
        raise ValueError(f"upto={upto} is not a stage of suite {suite.name!r} ({suite.stages})")
    return upto


def _check_same_weights(target: Store, unit: Unit, meta: Mapping[str, object],
                        weights: str | None) -> None:
    """Refuse to extend a unit (stored with ``meta``) whose stages were computed on other
    weights: a table mixing two models' trials would be read as one model's."""
    before = meta.get("weights")
    if before is not None and weights is not None and before != weights:
        raise StoreError(
            f"checkpoint {unit.checkpoint.name!r} has changed since its first stages were stored"
            f" in {str(target.root)!r} (weights {str(before)[:12]} then, {weights[:12]} now):"
            " a later stage would mix two models' trials; restore the checkpoint, use another"
            " --store, or run with --replace to start the store again")


def _extended(target: Store, unit: Unit, frame: pd.DataFrame,
              meta: Mapping[str, object]) -> pd.DataFrame:
    """A unit's stored rows (stored with ``meta``) with the new stage's ``frame`` added, in the
    unit's row order."""
    stored = target.load([(unit.checkpoint.name, unit.setting)])
    both = pd.concat([stored, conform(frame)], ignore_index=True)
    out = conform(both.sort_values(["layer", "trial"], kind="stable"))
    merged = int(meta.get("query_merged", 0) or 0)  # type: ignore[call-overload]
    out.attrs["query_merged"] = merged + int(frame.attrs.get("query_merged", 0))
    return out


def _stored_seconds(target: Store, unit: Unit, stored: int) -> float:
    """Seconds the unit's earlier stages took (its timing record), so the record stays the
    whole unit's."""
    if not stored:
        return 0.0
    path = target.unit_path(unit.checkpoint.name, unit.setting).with_suffix(".timing.json")
    try:
        return float(json.loads(path.read_text(encoding="utf-8")).get("seconds", 0.0))
    except (OSError, ValueError, AttributeError):
        return 0.0

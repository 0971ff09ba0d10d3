"""Measure a trained organism for the recipe search (issue 14): a few checkpoints, few settings.

The full organism suite computes 12 checkpoints x 3 settings; a recipe comparison needs the final
checkpoint (and, for the phase-two control, the last checkpoint of phase one) under the paper's
``last`` method, setting ``seen``, plus the unpatched baseline and the read depth. Same prompts,
trials and seed as ``suites/organism.toml``; nothing is stored.

``python -m conceptpatch.organism.search DIR [DIR ...] [--phase-one]`` prints one JSON line per
organism directory (as written by ``conceptpatch organism train --out DIR``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from conceptpatch.config.suite import parse_suite
from conceptpatch.engine.checkpoints import load_checkpoint
from conceptpatch.organism.curriculum import ENGLISH
from conceptpatch.readdepth import READ_TRIALS, read_depth
from conceptpatch.resolve import Resolved, restrict_lexicon
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.organism import read_organism

__all__ = ["band_layers", "measure_checkpoint", "measure_organism", "organism_resolved"]

#: The paper's middle band (layers 6-14 of 24) as a share of depth: first layers j with
#: 0.25 <= j / L <= 0.6.
MID_BAND = (0.25, 0.6)


def band_layers(n_layers: int, band: tuple[float, float] = MID_BAND) -> list[int]:
    """First patch layers j of an ``n_layers`` model with ``band[0] <= j / n_layers <= band[1]``."""
    return [j for j in range(n_layers) if band[0] <= j / n_layers <= band[1]]


def organism_resolved(root: Path, trials: int = 100, seed: int = 0) -> Resolved:
    """The organism suite (seen setting + unpatched, ``last`` position) on the organism in
    ``root``, resolved without touching the cache. An organism with fewer than four seen
    languages averages every pair into another output (the paper's rule leaves none)."""
    checkpoints, lexicon, languages = read_organism(Path(root))
    seen = tuple(code for code, is_seen in languages if is_seen)
    unseen = tuple(code for code, is_seen in languages if not is_seen)
    suite = parse_suite({
        "name": "organism-search", "seed": seed,
        "model": {"organism": "default", "dtype": "float32", "device": "cpu"},
        "languages": {"seen": list(seen), "unseen": list(unseen)},
        "prompt": {"k": 5, "shots": "per_trial"},
        "patch": {"layers": "all", "position": "last", "settings": ["seen", "unpatched"],
                  "max_new_tokens": 10,
                  "seen_sources": "paper" if len(seen) >= 4 else "other_output"},
        "sample": {"trials": trials},
    })  # fmt: skip
    restricted = restrict_lexicon(lexicon, seen + unseen, None)
    return Resolved(suite, checkpoints, restricted, seen, unseen)


def _rate(frame: pd.DataFrame) -> float:
    return round(float((frame["category"] == "exact").mean()), 4) if len(frame) else float("nan")


def measure_checkpoint(resolved: Resolved, checkpoint: Checkpoint,
                       word_trials: int | None = READ_TRIALS) -> dict[str, object]:
    """Exact by layer (setting ``seen``), translation ability, phase-two languages, read depth."""
    from conceptpatch.compute import run_unit
    from conceptpatch.trials import plan_trials

    lm = load_checkpoint(checkpoint, dtype="float32", device="cpu")
    planned = plan_trials(resolved, lm.tokenizer)
    seen = run_unit(lm, resolved, "seen", planned)
    base = run_unit(lm, resolved, "unpatched", planned)
    n = lm.n_layers
    on_seen = seen[seen["output_seen"]]
    non_en = on_seen["output_lang"] != ENGLISH
    by_layer = [_rate(on_seen[on_seen["layer"] == j]) for j in range(n)]
    mid = band_layers(n)
    base_seen = base[base["output_seen"]]  # unpatched: "target" = the prompt's own D
    translation = round(float((base_seen["category"] == "target").mean()), 4)
    non_en_base = base_seen[base_seen["output_lang"] != ENGLISH]
    out: dict[str, object] = {
        "checkpoint": checkpoint.name,
        "step": checkpoint.step,
        "n_layers": n,
        "exact_by_layer": by_layer,
        "mid_layers": mid,
        "mid_mean": round(sum(by_layer[j] for j in mid) / len(mid), 4) if mid else None,
        "mid_best": max((by_layer[j] for j in mid), default=None),
        "last_third_best": max((by_layer[j] for j in range(n) if j >= 2 * n / 3), default=None),
        "translation": translation,
        "translation_non_en": round(float((non_en_base["category"] == "target").mean()), 4),
        "unpatched_says_c": _rate(base_seen),
        "non_en_exact_by_layer": [
            _rate(on_seen[non_en & (on_seen["layer"] == j)]) for j in range(n)
        ],
        "unseen_exact_best": max(
            _rate(seen[~seen["output_seen"] & (seen["layer"] == j)]) for j in range(n)
        ),
    }
    if word_trials:
        depth = read_depth(lm, resolved, trials=word_trials)
        out.update(read_layer=depth.layer, read_depth=round(depth.depth, 4),
                   word_self_changed=[depth.changed[j] for j in range(n)],
                   word_self_exact=[depth.exact[j] for j in range(n)])
    return out


def measure_organism(root: Path, trials: int = 100, word_trials: int | None = READ_TRIALS,
                     phase_one: bool = False) -> dict[str, object]:
    """Measure the organism in ``root`` at its final checkpoint (and, with ``phase_one``, at the
    last checkpoint of phase one, without the read depth)."""
    root = Path(root)
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    resolved = organism_resolved(root, trials)
    final = resolved.checkpoints[-1]
    out: dict[str, object] = {
        "organism": root.name,
        "variant": manifest.get("variant"),
        "seed": manifest.get("seed"),
        "train_minutes": round(float(manifest.get("train_seconds", float("nan"))) / 60, 1),
        "final": measure_checkpoint(resolved, final, word_trials),
    }
    if phase_one:
        ones = [c for c in resolved.checkpoints if c.phase == 1]
        out["phase_one"] = measure_checkpoint(resolved, ones[-1], None)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conceptpatch.organism.search")
    parser.add_argument("dirs", nargs="+", type=Path, help="trained organism directories")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--word-trials", type=int, default=READ_TRIALS)
    parser.add_argument("--phase-one", action="store_true")
    args = parser.parse_args(argv)
    for root in args.dirs:
        result = measure_organism(root, args.trials, args.word_trials, args.phase_one)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

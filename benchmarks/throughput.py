"""Throughput of the engine against the naive loop, on the same trials, with identical outputs.

Two random-weight shapes (an 8-layer organism stand-in and a 24-layer EuroLLM-1.7B-shaped model,
narrowed for CPU) in two few-shot regimes (examples per trial, per language pair). The naive loop
(`naive.py`) costs the same for every trial and layer (it shares nothing), so it runs on an evenly
spaced subset of the engine's trials; its rate is compared with the engine's over all of them, and
every answer it gives is checked against the engine's, token for token. The last line printed is
one JSON object: ``speedup`` (worst case), ``sweep_ratio`` (worst case: a sweep over L layers /
L single-layer runs), ``identical`` and per-shape/regime details.

Usage: ``python benchmarks/throughput.py [--quick] [--threads N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conceptpatch.checkpoints import Checkpoint, LoadedModel, wrap_model
from conceptpatch.lexicon import load_lexicon
from conceptpatch.run import score_ids, sweep_trials
from conceptpatch.suite import Resolved, parse_suite
from conceptpatch.tiny import _lexicon_texts, tiny_model, train_bpe
from conceptpatch.trials import Trial, plan_trials, source_prompts, target_prompt
from naive import naive_trial

SEEN, UNSEEN = ("en", "fr", "de"), ("es",)
SETTING = "seen"


@dataclass(frozen=True)
class Shape:
    """A random model shape and how many trials each side runs per output language."""

    name: str
    layers: int
    build: Callable[[int], torch.nn.Module]
    engine_trials: int
    naive_trials: int  # in total, evenly spaced over the engine's


def _organism(vocab: int) -> torch.nn.Module:
    return tiny_model("llama", vocab, layers=8, hidden=128, seed=0)


def _eurollm_narrow(vocab: int) -> torch.nn.Module:
    """EuroLLM-1.7B's layout (24 layers, GQA 2:1, SwiGLU 2.75x, RMSNorm) at width 128."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=128, intermediate_size=352, num_hidden_layers=24,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=4096,
        rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return LlamaForCausalLM(config).eval()


@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """Peak resident memory above the starting level while the block runs (MiB, sampled)."""
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    out = {"mib": 0.0}
    base, peak, stop = rss(), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            stop.wait(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        out["mib"] = max(0, max(peak[0], rss()) - base) / 2**20


def _resolved(shots: str, trials: int, max_new: int, lexicon) -> Resolved:
    suite = parse_suite(
        {
            "name": f"bench-{shots}", "seed": 0,
            "model": {"random": "llama", "dtype": "float32", "device": "cpu"},
            "lexicon": {"builtin": "cldr"},
            "languages": {"seen": list(SEEN), "unseen": list(UNSEEN)},
            "prompt": {"k": 5, "shots": shots},
            "patch": {"settings": [SETTING], "max_new_tokens": max_new, "source_pairs": 4},
            "sample": {"trials": trials},
        }
    )  # fmt: skip
    ckpt = Checkpoint(name="random", path="<memory>")
    return Resolved(suite, (ckpt,), lexicon, SEEN, UNSEEN)


def _naive(lm: LoadedModel, resolved: Resolved, trials: list[Trial], layers: list[int]):
    suite, out = resolved.suite, {}
    for trial in trials:
        target = target_prompt(resolved, trial)
        sources = source_prompts(resolved, trial, SETTING)
        word = resolved.lexicon.reference(trial.concept, trial.pair.output)
        score = int(score_ids(lm, [target], [word])[0])
        answers = naive_trial(
            lm, target, sources, layers, score, suite.position, suite.max_new_tokens
        )
        for layer, answer in answers.items():
            out[(trial.trial, layer)] = (answer.tokens, answer.text, answer.p_first)
    return out


def _engine(lm, resolved, trials, layers):
    outcomes = sweep_trials(lm, resolved, SETTING, trials, layers)
    return {(o.trial.trial, o.layer): (o.tokens, o.text, o.p_first) for o in outcomes}


def _timed(fn, *args):
    start = time.perf_counter()
    with peak_rss() as mem:
        result = fn(*args)
    return result, time.perf_counter() - start, mem["mib"]


def bench(shape: Shape, shots: str, lexicon, tokenizer, max_new: int, singles: int) -> dict:
    """Engine vs naive on one shape and regime; also a sweep against single-layer runs."""
    model = shape.build(len(tokenizer))
    lm = wrap_model(Checkpoint(name=shape.name, path="<memory>"), model, tokenizer)
    outputs = len(SEEN) + len(UNSEEN)
    resolved = _resolved(shots, shape.engine_trials // outputs, max_new, lexicon)
    trials = list(plan_trials(resolved))
    step = max(1, len(trials) // shape.naive_trials)
    subset = trials[::step][: shape.naive_trials]
    layers = list(range(lm.n_layers))
    engine, t_engine, m_engine = _timed(_engine, lm, resolved, trials, layers)
    naive, t_naive, m_naive = _timed(_naive, lm, resolved, subset, layers)
    mismatches = [k for k, (tokens, text, _) in naive.items() if engine[k][:2] != (tokens, text)]
    p_diff = max(abs(engine[k][2] - p) for k, (_, _, p) in naive.items())
    # Sweep over all layers vs single-layer runs (a few layers, evenly spaced, scaled up to L).
    picks = layers[:: max(1, len(layers) // singles)][:singles]
    t_single = sum(_timed(_engine, lm, resolved, trials, [j])[1] for j in picks)
    rate_engine = len(trials) / t_engine
    rate_naive = len(subset) / t_naive
    return {
        "shape": shape.name, "shots": shots, "layers": lm.n_layers,
        "engine_trials": len(trials), "naive_trials": len(subset),
        "engine_trials_per_s": rate_engine, "naive_trials_per_s": rate_naive,
        "speedup": rate_engine / rate_naive,
        "sweep_ratio": t_engine / (t_single / len(picks) * len(layers)),
        "engine_peak_mib": m_engine, "naive_peak_mib": m_naive,
        "identical": not mismatches, "mismatches": len(mismatches),
        "compared": len(naive), "p_first_max_abs_diff": p_diff,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials (about a minute)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    lexicon = load_lexicon("cldr").restrict(SEEN + UNSEEN)
    tokenizer = train_bpe(_lexicon_texts(lexicon), vocab_size=1024)
    quick = args.quick
    shapes = [
        Shape("organism-8L-h128", 8, _organism, 48 if quick else 96, 4 if quick else 8),
        Shape("eurollm-24L-h128", 24, _eurollm_narrow, 32 if quick else 64, 1 if quick else 2),
    ]
    singles = 2 if quick else 3
    rows = [
        bench(shape, shots, lexicon, tokenizer, args.max_new_tokens, singles)
        for shape in shapes
        for shots in ("per_trial", "per_pair")
    ]
    head = f"{'shape':<18} {'shots':<9} {'trials e/n':>10} {'engine t/s':>10} {'naive t/s':>9}"
    head += f" {'speedup':>8} {'sweep':>6} {'peak MiB e/n':>13} {'identical':>9}"
    print(head)
    for r in rows:
        print(
            f"{r['shape']:<18} {r['shots']:<9} {r['engine_trials']:>5}/{r['naive_trials']:<4}"
            f" {r['engine_trials_per_s']:>10.2f} {r['naive_trials_per_s']:>9.3f}"
            f" {r['speedup']:>8.1f} {r['sweep_ratio']:>6.3f}"
            f" {r['engine_peak_mib']:>6.0f}/{r['naive_peak_mib']:<6.0f}"
            f" {r['identical']!s:>9}"
        )
    per_pair = [r for r in rows if r["shots"] == "per_pair"]
    summary = {
        "speedup": min(r["speedup"] for r in per_pair),
        "speedup_per_trial_shots": min(r["speedup"] for r in rows if r["shots"] == "per_trial"),
        "sweep_ratio": max(r["sweep_ratio"] for r in rows),
        "identical": all(r["identical"] for r in rows),
        "threads": args.threads, "dtype": "float32", "device": "cpu",
        "max_new_tokens": args.max_new_tokens, "quick": args.quick,
        "runs": rows,
    }  # fmt: skip
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

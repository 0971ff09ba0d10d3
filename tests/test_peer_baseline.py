"""The benchmark's peer baseline (the paper's nnsight loop, trial by trial) answers as the engine.

`benchmarks/throughput.py` divides the engine's rate by the peer's; the ratio means something only
if both compute the same answers. Checked here on a few trials of a small random Llama, for the
hand-written peer and, when the optional nnsight extra is installed, nnsight's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        import peer
        import throughput
    finally:
        sys.path.remove(str(BENCH))
    from conceptpatch.engine.checkpoints import wrap_model
    from conceptpatch.lexicons import load_lexicon
    from conceptpatch.sources.checkpoint import Checkpoint
    from conceptpatch.sources.random import _lexicon_texts, tiny_model, train_bpe
    from conceptpatch.trials import plan_trials

    torch.set_num_threads(1)
    lexicon = load_lexicon("cldr").restrict(throughput.SEEN + throughput.UNSEEN)
    tokenizer = train_bpe(_lexicon_texts(lexicon), vocab_size=512)
    model = tiny_model("llama", len(tokenizer), layers=3, hidden=64, seed=0)
    lm = wrap_model(Checkpoint(name="peer", path="<memory>"), model, tokenizer)
    resolved = throughput._resolved("per_trial", 2, 6, lexicon)
    trials = list(plan_trials(resolved, lm.tokenizer))[:4]
    layers = list(range(lm.n_layers))
    engine = throughput._engine(lm, resolved, trials, layers)
    return peer, throughput, lm, resolved, trials, layers, engine


def _check(bench, trial_fn) -> None:
    _, throughput, lm, resolved, trials, layers, engine = bench
    answers = throughput._baseline(trial_fn)(lm, resolved, trials, layers)
    assert set(answers) == {(t.trial, j) for t in trials for j in layers}
    mismatches, p_diff = throughput._compare(engine, answers)
    assert mismatches == 0
    assert p_diff < 1e-5


def test_peer_loop_answers_as_the_engine(bench) -> None:
    _check(bench, bench[0].peer_trial)


def test_nnsight_peer_answers_as_the_engine(bench) -> None:
    pytest.importorskip("nnsight")
    _check(bench, bench[0].peer_trial_nnsight)


def test_nnsight_peer_refuses_other_positions(bench) -> None:
    pytest.importorskip("nnsight")
    with pytest.raises(ValueError, match="'last' position only"):
        bench[0].peer_trial_nnsight(bench[2], None, [], [0], 0, mode="word")

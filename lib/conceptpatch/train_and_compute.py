"""The first run of an organism suite: train the organism and compute its units at the same time.

Serially, a first run trains the organism (one thread, about 13 minutes) and only then computes
its units, one core idle throughout. Here a second process trains (exactly as
`conceptpatch.organism.ensure_organism` would: the recipe's thread count, the same bytes) while
this process computes each checkpoint's units as soon as training writes the checkpoint (the
store's units are per checkpoint). When training ends, the units still missing are split over
two processes (shards). Every unit is computed by `conceptpatch.compute.run_suite` with one torch
thread; the engine's answers and probabilities do not depend on the thread count, so the store
is the one a serial run writes (the tests check this, unit by unit).

This module sits above the runner: `run_pipelined` is the entry point of a run that may train
(the ``conceptpatch run`` command); `conceptpatch.compute` never calls back into it.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from conceptpatch import compute
from conceptpatch.config.sections import ModelSection
from conceptpatch.errors import ConceptPatchError
from conceptpatch.organism import claim_training, get_recipe, organism_dir
from conceptpatch.organism.portable import portable_env
from conceptpatch.resolve import Resolved, resolve_organism
from conceptpatch.results import Store, StoreDesign

__all__ = ["OrganismTrainingError", "needs_training", "run_pipelined", "train_and_run"]

#: Seconds to wait for news from training when every checkpoint so far is computed.
_POLL_S = 1.0
#: Training tokens below which an organism trains in seconds (``tiny``): not worth a process.
MIN_TOKENS = 1_000_000


class OrganismTrainingError(ConceptPatchError):
    """The organism's training process failed (its traceback is in the message)."""


def needs_training(suite: Any) -> bool:
    """Whether ``suite`` names an organism that is not in the cache yet."""
    model = getattr(suite, "model", None)
    if not isinstance(model, ModelSection) or model.organism is None:
        return False
    where = organism_dir(model.organism, model.organism_seed)
    return not (where / "manifest.json").is_file()


def _train(variant: str, seed: int, out: str) -> None:
    """The training process: train into ``out``; one JSON line on stdout per checkpoint."""
    from conceptpatch.organism.train import train

    events = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write to the event stream

    def report(kind: str, payload: object) -> None:
        events.write(json.dumps([kind, payload]) + "\n")
        events.flush()

    try:
        train(get_recipe(variant), seed, Path(out), progress=False, variant=variant,
              on_checkpoint=lambda manifest: report("checkpoint", manifest))
    except BaseException:
        report("error", traceback.format_exc())
        raise
    report("done", None)


def _shard(suite: Any, store: str, names: list[str], shard: tuple[int, int]) -> None:
    """A helper process: compute one shard of the units of checkpoints ``names``."""
    torch.set_num_threads(1)
    compute.run_suite(suite, store, names, progress=False, shard=shard)


def _child(*args: str, stdin: bytes | None = None) -> subprocess.Popen:
    """``python -m conceptpatch.train_and_compute ARGS`` (a fresh interpreter: no __main__
    re-import); a training child gets the kernels of `conceptpatch.organism.portable` (same bits on
    every CPU), a computing child the environment of this process (the same kernels as shard 0)."""
    lib = str(Path(__file__).resolve().parents[1])  # importable even from a source tree
    path = os.pathsep.join(p for p in (lib, os.environ.get("PYTHONPATH")) if p)
    env = portable_env() if args[:1] == ("train",) else {**os.environ, "PYTHONPATH": path}
    proc = subprocess.Popen(
        [sys.executable, "-m", "conceptpatch.train_and_compute", *args],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, text=stdin is None, env=env,
    )  # fmt: skip
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    return proc


def _read_events(stream: Any, events: queue.Queue) -> None:
    for line in stream:
        if line.strip():
            events.put(tuple(json.loads(line)))
    events.put(("eof", None))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the child processes: ``train VARIANT SEED OUT`` or ``shard`` (pickle in)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["train"]:
        _train(args[1], int(args[2]), args[3])
    elif args[:1] == ["shard"]:
        suite, store, names, shard = pickle.loads(sys.stdin.buffer.read())
        _shard(suite, store, names, shard)
    else:
        raise SystemExit("usage: python -m conceptpatch.train_and_compute train VARIANT SEED OUT"
                         " | shard")


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"conceptpatch: {message}", file=sys.stderr, flush=True)


def run_pipelined(
    suite: Any,
    store: str | Path,
    checkpoints: Sequence[str] | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    replace: bool = False,
    upto: int | None = None,
) -> pd.DataFrame:
    """`conceptpatch.compute.run_suite`, but a whole suite's missing organism trains beside it.

    A sequential design's stage (``upto`` pairings) is computed alone: an organism it needs is
    trained first (training beside it would compute every stage).

    The store is bound to the suite's design first (another design's units: an error before
    anything trains, unless ``replace``). A whole suite (no ``checkpoints``, no ``shard``, not
    resolved yet) goes through `train_and_run` first; whatever that leaves (everything, when it
    declines) the runner computes, so the store is the one ``compute.run_suite`` alone writes.
    """
    plain = suite.suite if isinstance(suite, Resolved) else suite
    Store(Path(store)).bind(StoreDesign.of(plain), replace=replace)
    whole = (checkpoints is None and shard is None and upto is None
             and not isinstance(suite, Resolved))
    if whole:
        train_and_run(suite, store, progress)
    return compute.run_suite(suite, store, checkpoints, progress=progress, shard=shard,
                             upto=upto)


def train_and_run(suite: Any, store: str | Path, progress: bool = True,
                  processes: int = 2, min_tokens: int | None = None) -> bool:
    """Train ``suite``'s missing organism while computing its units into ``store``.

    Returns False, having done nothing, when the suite names no organism, the organism is
    trained already or trains on fewer than ``min_tokens`` (default `MIN_TOKENS`) tokens, or
    another process is training it (the caller then goes the serial way, which waits for that
    training). Returns True once the organism is in the cache and every unit of the suite is in
    the store.
    """
    from conceptpatch.organism.train import checkpoint_steps

    if not needs_training(suite):
        return False
    variant, seed = str(suite.model.organism), suite.model.organism_seed
    recipe = get_recipe(variant)
    if recipe.tokens < (MIN_TOKENS if min_tokens is None else min_tokens):
        return False
    planned = len(checkpoint_steps(recipe))
    done: list[str] = []
    threads = torch.get_num_threads()
    with claim_training(variant, seed) as tmp:
        if tmp is None:
            return False
        _say(progress, f"training organism {variant!r} (seed {seed}) in a second process;"
                       " each checkpoint's units are computed as soon as it is written")
        trainer = _child("train", variant, str(seed), str(tmp))
        events: queue.Queue = queue.Queue()
        threading.Thread(target=_read_events, args=(trainer.stdout, events), daemon=True).start()
        torch.set_num_threads(1)  # the other core trains
        try:
            manifest, finished, behind = None, False, False
            while not finished:
                waiting = []
                try:  # wait for news only when every checkpoint written so far is computed
                    waiting.append(events.get_nowait() if behind else events.get(timeout=_POLL_S))
                    while True:
                        waiting.append(events.get_nowait())
                except queue.Empty:
                    pass
                for kind, payload in waiting:
                    if kind == "error":
                        last = str(payload).strip().splitlines()[-1]
                        raise OrganismTrainingError(
                            f"training organism {variant!r} failed ({last}): run `conceptpatch"
                            f" organism train --variant {variant} --seed {seed}` for the whole"
                            " traceback and fix its cause"
                        )
                    if kind == "checkpoint":
                        manifest = payload
                    finished |= kind == "done"
                if any(kind == "eof" for kind, _ in waiting) and not finished:
                    trainer.wait()
                    raise OrganismTrainingError(
                        f"training organism {variant!r} stopped (exit code {trainer.returncode})"
                        " without an error message: run `conceptpatch organism train --variant"
                        f" {variant} --seed {seed}` to see why"
                    )
                if manifest is None or finished:
                    continue
                resolved = resolve_organism(suite, tmp, manifest)
                todo = [c.name for c in resolved.checkpoints if c.name not in done]
                if len(manifest["checkpoints"]) == planned and len(todo) <= 1:
                    todo = []  # the last one: training ends now, then both cores compute it
                if todo:  # one checkpoint, then look for news from training again
                    compute.run_suite(resolved, store, todo[:1], progress=progress)
                    done.append(todo[0])
                behind = len(todo) > 1
            trainer.wait()
        finally:
            torch.set_num_threads(threads)
            if trainer.poll() is None:
                trainer.terminate()
                trainer.wait()
    # The organism is in the cache now; compute what is left on every core.
    resolved = resolve_organism(suite, _trained_dir(suite))
    rest = [c.name for c in resolved.checkpoints if c.name not in done]
    _say(progress, f"organism {variant!r} trained; {len(rest)} checkpoint(s) left to compute"
                   f" in {min(processes, max(1, len(rest) * len(suite.settings)))} process(es)")
    _compute_sharded(suite, store, rest, processes, progress)
    return True


def _trained_dir(suite: Any) -> Path:
    return organism_dir(str(suite.model.organism), suite.model.organism_seed)


def _compute_sharded(suite: Any, store: str | Path, names: Sequence[str], processes: int,
                     progress: bool) -> None:
    """Compute the units of checkpoints ``names``: shard 0 here, the others in helpers."""
    if not names:
        return
    count = max(1, min(processes, len(names) * len(suite.settings)))
    helpers = [
        _child("shard", stdin=pickle.dumps((suite, str(store), list(names), (i, count))))
        for i in range(1, count)
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        compute.run_suite(suite, store, list(names), progress=progress, shard=(0, count))
        for helper in helpers:
            helper.wait()
    finally:
        torch.set_num_threads(threads)
        for helper in helpers:
            if helper.poll() is None:
                helper.terminate()
                helper.wait()
    # A helper that failed leaves its units missing: the caller's serial pass computes them.


if __name__ == "__main__":
    main()

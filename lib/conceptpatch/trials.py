"""Trials: which concepts, pairs and few-shot examples a suite runs, drawn deterministically.

A trial fixes the target prompt (pair, target concept D, examples) and the source concept C; its id
is the same across settings, layers and checkpoints, so outcomes pair up for paired tests. Source
prompts depend on the setting and are drawn from their own seeded stream.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from conceptpatch.errors import SuiteError
from conceptpatch.prompts import Pair, Prompt, build_prompt, sample_examples
from conceptpatch.suite import SETTINGS, Resolved

__all__ = ["Trial", "plan_trials", "source_pairs", "source_prompts", "target_prompt"]


@dataclass(frozen=True, slots=True)
class Trial:
    """One target prompt (pair, D, examples) and the concept C to induce in it."""

    trial: int
    pair: Pair
    concept: str
    target_concept: str
    examples: tuple[str, ...]


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _shot_pool(resolved: Resolved) -> tuple[str, ...]:
    """Concepts reserved for shared (per-pair) few-shot examples; never a query."""
    suite = resolved.suite
    if suite.shots != "per_pair":
        return ()
    concepts = resolved.lexicon.concepts
    order = _rng(suite.seed, 1).permutation(len(concepts))
    return tuple(concepts[i] for i in order[: 2 * suite.k])


def _examples(
    resolved: Resolved, pair: Pair, exclude: Sequence[str], rng: np.random.Generator
) -> tuple[str, ...]:
    suite = resolved.suite
    if suite.shots == "per_pair":
        index = resolved.lexicon.codes.index
        pair_rng = _rng(suite.seed, 2, index(pair.input), index(pair.output))
        return sample_examples(_shot_pool(resolved), suite.k, (), pair_rng)
    return sample_examples(resolved.lexicon.concepts, suite.k, exclude, rng)


def plan_trials(resolved: Resolved) -> tuple[Trial, ...]:
    """``suite.trials`` trials per output language (seen and unseen), inputs from seen languages.

    With several parts of speech, D (the target prompt's concept) is of C's part of speech.
    """
    suite, lexicon = resolved.suite, resolved.lexicon
    pool = [c for c in lexicon.concepts if c not in set(_shot_pool(resolved))]
    needed = 2 + (suite.k if suite.shots == "per_trial" else 0)
    if len(pool) < needed:
        raise SuiteError(
            f"the lexicon has {len(pool)} usable concepts in {', '.join(resolved.seen)}, a trial"
            f" needs {needed} (C, D and k={suite.k} examples): lower prompt.k or use a larger"
            " lexicon"
        )
    tags = lexicon.pos
    several = len({tags.get(c) for c in pool}) > 1
    trials: list[Trial] = []
    for o_index, output in enumerate(resolved.seen + resolved.unseen):
        inputs = [code for code in resolved.seen if code != output]
        if not inputs:
            raise SuiteError(
                f"no seen input language for output {output!r}: list at least two seen languages"
            )
        rng = _rng(suite.seed, 0, o_index)
        # C without replacement within an output language (a fresh permutation each time the
        # pool runs out), so trials are as many distinct concepts as the lexicon allows.
        order = np.concatenate([rng.permutation(len(pool))
                                for _ in range(-(-suite.trials // len(pool)))])
        for t in range(suite.trials):
            pair = Pair(inputs[int(rng.integers(len(inputs)))], output)
            c_index = int(order[t])
            d_index = (c_index + 1 + int(rng.integers(len(pool) - 1))) % len(pool)
            c, d = pool[c_index], pool[d_index]
            if several and tags.get(c) != tags.get(d):  # D of C's part of speech
                same = [x for x in pool if x != c and tags.get(x) == tags.get(c)]
                if same:
                    d = same[int(rng.integers(len(same)))]
            examples = _examples(resolved, pair, (c, d), rng)
            trials.append(Trial(len(trials), pair, c, d, examples))
    return tuple(trials)


def source_pairs(resolved: Resolved, setting: str, pair: Pair) -> list[Pair]:
    """All pairs a setting may draw source prompts from, for a target ``pair``."""
    seen = resolved.seen
    if setting == "seen":
        return [Pair(a, b) for a, b in itertools.permutations(seen, 2) if b != pair.output]
    if setting == "target":
        return [Pair(a, pair.output) for a in seen if a not in (pair.output, pair.input)]
    if setting == "en_en":
        resolved.lexicon.language("en")
        return [Pair("en", "en")]
    if setting == "self":
        return [pair]
    raise ValueError(f"setting {setting!r} has no source pairs")


def source_prompts(resolved: Resolved, trial: Trial, setting: str) -> list[Prompt]:
    """The source prompts (asking for C) whose mean latent patches ``trial`` under ``setting``."""
    suite = resolved.suite
    options = source_pairs(resolved, setting, trial.pair)
    if not options:
        raise SuiteError(
            f"setting {setting!r} has no source pair for target pair {trial.pair}: add seen"
            " languages or drop the setting"
        )
    rng = _rng(suite.seed, 3, trial.trial, SETTINGS.index(setting))
    picked = rng.choice(len(options), size=min(suite.source_pairs, len(options)), replace=False)
    prompts = []
    for i in sorted(picked):
        pair = options[int(i)]
        examples = _examples(resolved, pair, (trial.concept, trial.target_concept), rng)
        prompts.append(
            build_prompt(resolved.lexicon, trial.concept, pair, examples, suite.template)
        )
    return prompts


def target_prompt(resolved: Resolved, trial: Trial) -> Prompt:
    """The prompt that asks for D in ``trial.pair`` (the one that gets patched)."""
    suite = resolved.suite
    return build_prompt(
        resolved.lexicon, trial.target_concept, trial.pair, trial.examples, suite.template
    )

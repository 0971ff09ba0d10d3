"""Trials: the paper's crossed design of pairings, target pairs and few-shot examples, seeded.

As the paper's code (clap's ``paired_prompts_utils`` and ``obj_patching_utils.get_settings``)
runs it:

- a *pairing* is a source concept C and a target concept D whose words share no first token in
  any language of the suite (``word`` and ``" word"``, every word of the cell, under the
  checkpoint's tokenizer); C and D are each used as evenly as that rule allows;
- each pairing draws 2k few-shot examples: k for its target prompts, the other k shared by all
  its source prompts;
- each pairing is crossed with every target pair (one per output language unless the suite lists
  ``target_pairs``), so output languages are compared on the same concepts;
- a setting names the source pairs whose latents are averaged: `source_pairs`.

A trial is one (pairing, target pair); its id is the same across settings, layers and
checkpoints, so outcomes pair up for paired tests. ``sample.pairing = "any"``,
``prompt.shots = "per_pair"``, ``patch.source_pairs = N`` and ``patch.seen_sources =
"other_output"`` are departures from the paper (listed in the report).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from conceptpatch.errors import SuiteError
from conceptpatch.lexicons import Lexicon
from conceptpatch.prompts import Pair, Prompt, build_prompt, sample_examples
from conceptpatch.resolve import Resolved
from conceptpatch.trial_ids import trial_id
from conceptpatch.vocabulary import SETTINGS

__all__ = [
    "PIVOT",
    "Trial",
    "check_design",
    "count_trials",
    "first_tokens",
    "plan_trials",
    "setting_work",
    "source_pairs",
    "source_prompts",
    "target_pair_list",
    "target_prompt",
    "token_conflicts",
]

#: The language the paper's ``seen`` sources leave out (and ``en_en`` uses).
PIVOT = "en"


@dataclass(frozen=True, slots=True)
class Trial:
    """One target prompt (pair, D, examples) and the concept C to induce in it.

    ``pairing`` numbers the (C, D) pairing the trial crosses with its target pair;
    ``source_examples`` are the few-shot examples every source prompt of the pairing shows.
    """

    trial: int
    pair: Pair
    concept: str
    target_concept: str
    examples: tuple[str, ...]
    pairing: int = 0
    source_examples: tuple[str, ...] = ()


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


def _pair_examples(resolved: Resolved, pair: Pair) -> tuple[str, ...]:
    """``shots = "per_pair"``: the examples every prompt of ``pair`` shows."""
    suite, index = resolved.suite, resolved.lexicon.codes.index
    pair_rng = _rng(suite.seed, 2, index(pair.input), index(pair.output))
    return sample_examples(_shot_pool(resolved), suite.k, (), pair_rng)


def target_pair_list(resolved: Resolved) -> tuple[Pair, ...]:
    """The target pairs every pairing is crossed with.

    The suite's ``target_pairs``, or one pair per output language (seen, then unseen) whose input
    is the next seen language after the output in the suite's list (cyclically; the first seen
    language for an unseen output) that leaves the ``seen`` setting at least one source pair.
    """
    suite, seen = resolved.suite, resolved.seen
    if suite.target_pairs is not None:
        return tuple(Pair(*entry.split("-")) for entry in suite.target_pairs)
    out = []
    for output in seen + resolved.unseen:
        start = seen.index(output) + 1 if output in seen else 0
        order = [seen[(start + i) % len(seen)] for i in range(len(seen))]
        inputs = [code for code in order if code != output]
        if not inputs:
            raise SuiteError(
                f"no seen input language for output {output!r}: list at least two seen languages"
            )
        usable = [a for a in inputs if _seen_pairs(resolved, Pair(a, output))]
        out.append(Pair((usable or inputs)[0], output))
    return tuple(out)


def check_design(resolved: Resolved) -> tuple[Pair, ...]:
    """The suite's target pairs, once the design is shown possible without a tokenizer: enough
    concepts for a pairing and its examples, and a source pair for every target pair under each
    setting. `SuiteError` naming the fix otherwise."""
    suite, lexicon = resolved.suite, resolved.lexicon
    usable = len(lexicon.concepts) - len(_shot_pool(resolved))
    needed = 2 + (2 * suite.k if suite.shots == "per_trial" else 0)
    if usable < needed:
        raise SuiteError(
            f"the lexicon has {usable} usable concepts in {', '.join(resolved.seen)}, a pairing"
            f" needs {needed} (C, D and 2k={2 * suite.k} examples): lower prompt.k or use a larger"
            " lexicon"
        )
    most, several = _max_pairings(resolved)
    if suite.trials > most:  # known before any tokenizer: even pairing "any" has no more
        raise _too_few_pairings(resolved, most, several, exhausted=True)
    pairs = target_pair_list(resolved)
    if "self" in suite.settings and all(p.output == PIVOT for p in pairs):
        raise SuiteError(
            "setting 'self' runs no target pair: every target pair translates into English, where"
            " self is en_en; list a target pair into another language or drop the setting"
        )
    for setting in suite.settings:
        if setting in ("unpatched", "tgt_tgt", "self"):
            continue
        empty = [str(p) for p in pairs if not source_pairs(resolved, setting, p)]
        if empty and setting == "seen" and suite.seen_sources == "paper":
            raise SuiteError(
                f"setting 'seen' has no source pair for target pair(s) {', '.join(empty)}: the"
                " paper's rule averages every seen pair with neither the target's languages nor"
                " English, so list more seen languages (with English, four make a pair for"
                " every target), or set patch.seen_sources = \"other_output\" (a departure from"
                " the paper)"
            )
        if empty:
            raise SuiteError(
                f"setting {setting!r} has no source pair for target pair(s) {', '.join(empty)}:"
                " add seen languages, list other sample.target_pairs, or drop the setting"
            )
    return pairs


def count_trials(resolved: Resolved) -> int:
    """How many trials the suite plans (pairings x target pairs), without a tokenizer."""
    return resolved.suite.trials * len(check_design(resolved))


def setting_work(resolved: Resolved, setting: str) -> tuple[int, int]:
    """(trials run, distinct source prompts) of one unit of ``setting``, without a tokenizer.

    A pairing's source prompt for one source pair is the same for all its target pairs, so it
    is run once however many of them average it.
    """
    n, pairs = resolved.suite.trials, target_pair_list(resolved)
    if setting in ("unpatched", "tgt_tgt"):  # no source prompt of their own
        return n * len(pairs), 0
    per_target = [source_pairs(resolved, setting, p) for p in pairs]
    run = sum(1 for group in per_target if group)
    limit = resolved.suite.source_pairs
    if limit is not None:
        return n * run, n * sum(min(limit, len(group)) for group in per_target)
    return n * run, n * len({p for group in per_target for p in group})


def _words(lexicon: Lexicon, concept: str, codes: Sequence[str]) -> list[str]:
    return [w for code in codes for w in lexicon.words(concept, code)]


def first_tokens(
    tokenizer: object, lexicon: Lexicon, concepts: Sequence[str], codes: Sequence[str]
) -> list[frozenset[int]]:
    """Each concept's first tokens: of ``word`` and of ``" word"`` for every word in ``codes``.

    As clap's ``process_tokens_with_tokenization``: the spaced form counts unless its first
    token is the space alone.
    """
    words = [_words(lexicon, c, codes) for c in concepts]
    flat = [w for group in words for w in group]
    if not flat:
        return [frozenset() for _ in concepts]
    encode = tokenizer  # a transformers tokenizer: called on a list of strings
    bare = encode(flat, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    spaced = encode([" " + w for w in flat], add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    space = (encode(" ", add_special_tokens=False)["input_ids"] or [None])[0]  # type: ignore[operator]
    out, i = [], 0
    for group in words:
        tokens: set[int] = set()
        for b, s in zip(bare[i : i + len(group)], spaced[i : i + len(group)], strict=True):
            if b:
                tokens.add(int(b[0]))
            if s and s[0] != space:
                tokens.add(int(s[0]))
        out.append(frozenset(tokens))
        i += len(group)
    return out


def _compatible(token_sets: Sequence[frozenset[int]]) -> np.ndarray:
    """``[n, n]`` bool: concepts whose first-token sets are disjoint (never a concept itself)."""
    n = len(token_sets)
    ids = {t: j for j, t in enumerate(sorted({t for s in token_sets for t in s}))}
    rows = [i for i, s in enumerate(token_sets) for _ in s]
    cols = [ids[t] for s in token_sets for t in s]
    incidence = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, max(1, len(ids))))
    shared = (incidence @ incidence.T).toarray() > 0
    np.fill_diagonal(shared, True)
    return ~shared


def _pairings(resolved: Resolved, pool: Sequence[str], compatible: np.ndarray
              ) -> list[tuple[str, str]]:
    """``suite.trials`` (C, D) pairings: C as distinct as the pool allows, D balanced.

    C runs through fresh permutations of the pool; each takes, among the concepts it may pair
    with (of its part of speech when the lexicon has several), one of those used least as D so
    far, at random. A C with no partner is passed over.
    """
    suite, tags = resolved.suite, resolved.lexicon.pos
    several = len({tags.get(c) for c in pool}) > 1
    if several:
        same = np.array([[tags.get(a) == tags.get(b) for b in pool] for a in pool])
        compatible = compatible & same
    rng = _rng(suite.seed, 0)
    used_as_d = np.zeros(len(pool), dtype=np.int64)
    chosen: set[tuple[int, int]] = set()
    out: list[tuple[str, str]] = []
    while len(out) < suite.trials:
        before = len(out)
        for c in rng.permutation(len(pool)):
            options = np.flatnonzero(compatible[c])
            options = np.array([d for d in options if (int(c), int(d)) not in chosen], dtype=int)
            if options.size == 0:
                continue
            least = options[used_as_d[options] == used_as_d[options].min()]
            d = int(least[int(rng.integers(least.size))])
            chosen.add((int(c), d))
            used_as_d[d] += 1
            out.append((pool[int(c)], pool[d]))
            if len(out) == suite.trials:
                break
        if len(out) == before:
            raise _too_few_pairings(resolved, len(out), several, suite.pairing == "any")
    return out


def _too_few_pairings(resolved: Resolved, found: int, several: bool,
                      exhausted: bool) -> SuiteError:
    """The one line for a lexicon that gives fewer pairings than ``sample.trials`` asks for;
    ``exhausted``: no two distinct concepts are left at all, so ``pairing = "any"`` (suggested
    otherwise) would not help."""
    suite = resolved.suite
    kind = " of one part of speech" if several else ""
    if exhausted:
        return SuiteError(
            f"only {found} of sample.trials = {suite.trials} pairings: the lexicon has no more"
            f" distinct concept pairs (C, D){kind}: lower sample.trials (or --trials) to"
            f" {found} or less, or use a larger lexicon"
        )
    return SuiteError(
        f"only {found} of sample.trials = {suite.trials} pairings of concepts{kind} whose"
        f" words share no first token in {', '.join(resolved.seen + resolved.unseen)}: lower"
        ' sample.trials (or --trials), use a larger lexicon, or set sample.pairing = "any" (a'
        " departure from the paper)"
    )


def _max_pairings(resolved: Resolved) -> tuple[int, bool]:
    """How many pairings (C, D) the lexicon can give at most (any two distinct query concepts,
    of one part of speech where it has several), and whether it has several."""
    shots = set(_shot_pool(resolved))
    tags = resolved.lexicon.pos
    groups = Counter(tags.get(c) for c in resolved.lexicon.concepts if c not in shots)
    return sum(n * (n - 1) for n in groups.values()), len(groups) > 1


def plan_trials(
    resolved: Resolved,
    tokenizer: object | None = None,
    pairings: Sequence[tuple[str, str]] | None = None,
) -> tuple[Trial, ...]:
    """The suite's trials: its pairings crossed with every target pair, ids by target pair.

    ``tokenizer`` (the checkpoint's) decides which concepts may pair under the paper's rule; it
    may be omitted with ``sample.pairing = "any"``, or when the ``pairings`` (C, D) it gave
    are known already (read back from a store's rows).
    """
    suite, lexicon = resolved.suite, resolved.lexicon
    pairs = check_design(resolved)
    shots = set(_shot_pool(resolved))
    pool = [c for c in lexicon.concepts if c not in shots]
    if pairings is not None:
        pairings = list(pairings)
    elif suite.pairing == "token_disjoint":
        if tokenizer is None:
            raise ValueError("plan_trials needs the checkpoint's tokenizer for the token rule")
        codes = resolved.seen + resolved.unseen
        compatible = _compatible(first_tokens(tokenizer, lexicon, pool, codes))
        pairings = _pairings(resolved, pool, compatible)
    else:
        pairings = _pairings(resolved, pool, ~np.eye(len(pool), dtype=bool))
    examples = []
    for index, (c, d) in enumerate(pairings):
        if suite.shots == "per_trial":
            rng = _rng(suite.seed, 4, index)
            drawn = sample_examples(lexicon.concepts, 2 * suite.k, (c, d), rng)
            examples.append((drawn[: suite.k], drawn[suite.k :]))
        else:
            examples.append(((), ()))
    trials = []
    for t_index, pair in enumerate(pairs):
        for index, (c, d) in enumerate(pairings):
            target, source = examples[index]
            if suite.shots == "per_pair":
                target = _pair_examples(resolved, pair)
            trials.append(Trial(trial_id(t_index, index, len(pairings)), pair, c, d, target,
                                index, source))
    return tuple(trials)


def token_conflicts(
    resolved: Resolved, trials: Sequence[Trial], tokenizer: object
) -> list[Trial]:
    """The trials whose C and D share a first token under ``tokenizer`` (the paper's rule)."""
    pairs = sorted({(t.concept, t.target_concept) for t in trials})
    concepts = sorted({c for pair in pairs for c in pair})
    tokens = dict(zip(concepts, first_tokens(tokenizer, resolved.lexicon, concepts,
                                             resolved.seen + resolved.unseen), strict=True))
    bad = {(c, d) for c, d in pairs if tokens[c] & tokens[d]}
    return [t for t in trials if (t.concept, t.target_concept) in bad]


def _seen_pairs(resolved: Resolved, pair: Pair) -> list[Pair]:
    seen = resolved.seen
    if resolved.suite.seen_sources == "other_output":
        return [Pair(a, b) for a, b in itertools.permutations(seen, 2) if b != pair.output]
    avoid = {pair.input, pair.output, PIVOT}
    return [Pair(a, b) for a, b in itertools.permutations(seen, 2) if not {a, b} & avoid]


def source_pairs(resolved: Resolved, setting: str, pair: Pair) -> list[Pair]:
    """Every pair a setting averages over for a target ``pair`` (clap's ``get_settings``).

    ``seen``: every ordered pair of two seen languages with neither the target's input, nor its
    output, nor English; ``en_en``: English to English; ``tgt``: the target pair itself (asking
    for C); ``self``: the target's output into itself (none when that is English, where it is
    ``en_en``); ``tgt_tgt``: the target prompt itself (D's own latent: an identity patch, a
    control of the patching mechanics); ``target``: every other seen input into the target's
    output (conceptpatch's own, not the paper's).
    """
    if setting == "seen":
        return _seen_pairs(resolved, pair)
    if setting == "en_en":
        resolved.lexicon.language(PIVOT)
        return [Pair(PIVOT, PIVOT)]
    if setting in ("tgt", "tgt_tgt"):
        return [pair]
    if setting == "self":
        return [] if pair.output == PIVOT else [Pair(pair.output, pair.output)]
    if setting == "target":
        seen = resolved.seen
        return [Pair(a, pair.output) for a in seen if a not in (pair.output, pair.input)]
    raise ValueError(f"setting {setting!r} has no source pairs")


def source_prompts(resolved: Resolved, trial: Trial, setting: str) -> list[Prompt]:
    """The source prompts (asking for C) whose mean latent patches ``trial`` under ``setting``.

    Empty where the setting has no source for the trial's pair (``self`` into English): the trial
    is not run under that setting.
    """
    suite = resolved.suite
    if setting == "tgt_tgt":
        return [target_prompt(resolved, trial)]
    options = source_pairs(resolved, setting, trial.pair)
    if not options:
        if setting == "self":
            return []
        raise SuiteError(
            f"setting {setting!r} has no source pair for target pair {trial.pair}: add seen"
            " languages, list other sample.target_pairs, or drop the setting"
        )
    if suite.source_pairs is not None and suite.source_pairs < len(options):
        rng = _rng(suite.seed, 3, trial.trial, SETTINGS.index(setting))
        picked = rng.choice(len(options), size=suite.source_pairs, replace=False)
        options = [options[int(i)] for i in sorted(picked)]
    prompts = []
    for pair in options:
        examples = (
            trial.source_examples if suite.shots == "per_trial" else _pair_examples(resolved, pair)
        )
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

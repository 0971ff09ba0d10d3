"""Does a suite's plan fit the model's context? Its longest prompt plus ``max_new_tokens``.

A prompt longer than the model's positions (``max_position_embeddings``, ``n_positions``, ...
in ``config.json``) cannot run: positional embeddings run out, or memory does first. ``check``
bounds the longest prompt without loading weights (the first checkpoint's tokenizer when it is a
local directory, else the UTF-8 byte count, which no byte-level or byte-fallback tokenizer
exceeds); ``run`` counts the tokens of the prompts it is about to compute. Either refuses a plan
that does not fit, in one line naming the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conceptpatch.errors import SuiteError
from conceptpatch.tokenizer import load_tokenizer

__all__ = [
    "POSITION_KEYS",
    "TINY_POSITIONS",
    "check_fits",
    "check_run",
    "config_positions",
    "context_problem",
    "max_positions",
    "worst_prompts",
]

#: The ``config.json`` keys that give a model's positions, in the order they are trusted.
POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length",
                 "seq_length")
#: The positions of the tiny random models (`conceptpatch.sources.random`), before one is built.
TINY_POSITIONS = 1024
#: Prompts tokenized when the longest is looked for: the longest ones by characters.
_CANDIDATES = 16
#: Special tokens a tokenizer may add around a prompt (BOS, a leading word marker).
_SPECIALS = 2


def max_positions(config: Mapping[str, Any]) -> int | None:
    """The positions a model's config allows (its text config's for a multimodal one); None when
    it names none (ALiBi or rotary models without a limit)."""
    for key in POSITION_KEYS:
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    text = config.get("text_config")
    return max_positions(text) if isinstance(text, Mapping) else None


def config_positions(folder: str | Path) -> int | None:
    """`max_positions` of ``folder/config.json``; None when it is missing or unreadable."""
    try:
        return max_positions(json.loads((Path(folder) / "config.json").read_text("utf-8")))
    except (OSError, ValueError):
        return None


def worst_prompts(resolved: Any) -> list[str]:
    """For each ordered pair of the suite's languages, the longest prompt its lexicon can give:
    the k examples with the longest lines, the longest remaining query word (texts)."""
    from conceptpatch.prompts import Pair, build_prompt

    suite, lexicon = resolved.suite, resolved.lexicon
    codes = [c for c in (*resolved.seen, *resolved.unseen) if c in lexicon.codes]
    if len(lexicon.concepts) <= suite.k:
        return []
    out = []
    for a in codes:
        for b in codes:
            def line(c: str, a: str = a, b: str = b) -> int:
                return len(lexicon.reference(c, a)) + len(lexicon.reference(c, b))

            examples = sorted(lexicon.concepts, key=line, reverse=True)[: suite.k]
            rest = [c for c in lexicon.concepts if c not in examples]
            query = max(rest, key=lambda c, a=a: len(lexicon.reference(c, a)))
            out.append(build_prompt(lexicon, query, Pair(a, b), examples, suite.template).text)
    return out


def _longest(texts: Iterable[str], tokenizer: Any | None) -> tuple[int, str]:
    """(tokens of the longest of ``texts``, how they were counted): by the tokenizer over the
    longest ones by characters, else the UTF-8 byte bound."""
    ranked = sorted(set(texts), key=len, reverse=True)[:_CANDIDATES]
    if not ranked:
        return 0, "tokens"
    if tokenizer is None:
        return max(len(t.encode("utf-8")) for t in ranked) + _SPECIALS, "UTF-8 bytes, a bound"
    ids = tokenizer(ranked)["input_ids"]
    return max(len(row) for row in ids), "tokens"


def check_fits(prompts: Iterable[str], tokenizer: Any | None, max_new_tokens: int,
               positions: int | None, where: str) -> None:
    """Raise `SuiteError` when the longest of ``prompts`` plus ``max_new_tokens`` exceeds
    ``positions`` (nothing is checked when it is None)."""
    if positions is None:
        return
    tokens, unit = _longest(prompts, tokenizer)
    if tokens + max_new_tokens <= positions:
        return
    room = positions - tokens
    fix = (f"lower patch.max_new_tokens to at most {room}" if room > 0 else
           "lower prompt.k or drop the lexicon's longest words")
    raise SuiteError(
        f"the longest prompt ({tokens} {unit}) plus patch.max_new_tokens = {max_new_tokens} needs"
        f" {tokens + max_new_tokens} positions but {where} has {positions}: {fix}"
    )


def _local_tokenizer(resolved: Any, folder: Path) -> Any | None:
    """The first checkpoint's tokenizer when it loads from local files alone; else None."""
    shared = resolved.suite.model.tokenizer
    if shared is not None and not Path(shared).is_dir():
        return None
    if not any((folder / name).exists() for name in ("tokenizer.json", "tokenizer_config.json")):
        return None

    try:
        return load_tokenizer(resolved.checkpoints[0], **resolved.suite.load_options)
    except Exception:  # a bound replaces what cannot be loaded offline
        return None


def _positions(resolved: Any) -> tuple[int | None, str, Path | None]:
    """(the fewest positions among the checkpoints with a local config, which checkpoint, the
    first checkpoint's folder when local)."""
    found: list[tuple[int, str]] = []
    first: Path | None = None
    for i, c in enumerate(resolved.checkpoints):
        folder = Path(c.path) if c.path else None
        if folder is None:
            continue
        first = folder if i == 0 else first
        value = config_positions(folder)
        if value is None and resolved.suite.model.random is not None and not folder.exists():
            value = TINY_POSITIONS  # the tiny model `conceptpatch run` builds
        if value is not None:
            found.append((value, c.name))
    if not found:
        return None, "", first
    value, name = min(found)
    return value, f"checkpoint {name!r}", first


def context_problem(resolved: Any) -> str | None:
    """``check``'s test of the plan against the context of the suite's local checkpoints: the
    problem in one line, or None (also when no checkpoint's config is at hand)."""
    positions, where, folder = _positions(resolved)
    if positions is None:
        return None
    tokenizer = _local_tokenizer(resolved, folder) if folder is not None else None
    try:
        check_fits(worst_prompts(resolved), tokenizer, resolved.suite.max_new_tokens,
                   positions, where)
    except SuiteError as err:
        return str(err)
    return None


def check_run(lm: Any, suite: Any, texts: Sequence[str]) -> None:
    """``run``'s test, with the loaded model: its config's positions, its tokenizer's counts."""
    config = lm.model.config
    positions = max_positions(config.to_dict() if hasattr(config, "to_dict") else {})
    check_fits(texts, lm.tokenizer, suite.max_new_tokens, positions,
               f"checkpoint {lm.checkpoint.name!r}")

"""Few-shot word-translation prompts and the query position (last token of the query word).

A prompt is k example lines ``{input_name}: "{input_word}" - {output_name}: "{output_word}"`` and a
query line cut right after the opening quote of the answer. The query word's character span is
kept, so its last token is found from the tokenizer's offset mapping, exact for any fast tokenizer.

The query position is the last token that lies within the query word. When BPE merges the
word's end with the closing quote (``lehrer(in)"`` -> ``… in )"``), the merged token also covers
the quote, so the position is the token before it (the last one inside the word); only a word
with no token of its own (all of it merged with the quote) takes the merged token. Runs count
these prompts (`quote_merges`) and warn.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from conceptpatch.errors import PromptError
from conceptpatch.lexicon import Lexicon

__all__ = [
    "DEFAULT_TEMPLATE",
    "Pair",
    "Prompt",
    "Template",
    "build_prompt",
    "query_positions",
    "quote_merged",
    "quote_merges",
    "sample_examples",
    "word_token_spans",
]

DEFAULT_TEMPLATE = '{input_name}: "{input_word}" - {output_name}: "{output_word}"'
_FIELDS = ("input_name", "input_word", "output_name", "output_word")


@dataclass(frozen=True, slots=True)
class Pair:
    """An (input language, output language) pair of a translation prompt, as ISO 639 codes."""

    input: str
    output: str

    def __str__(self) -> str:
        return f"{self.input}-{self.output}"


@dataclass(frozen=True, slots=True)
class Template:
    """A prompt's line format: one line per example; the query line stops at ``{output_word}``."""

    line: str = DEFAULT_TEMPLATE
    separator: str = "\n"

    def __post_init__(self) -> None:
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(self.line) if f is not None]
        except ValueError as err:
            raise PromptError(
                f"prompt template {self.line!r} is malformed ({err}): fix its braces"
            ) from None
        missing = [f for f in _FIELDS if f not in names]
        unknown = [f for f in names if f not in _FIELDS]
        once = names.count("input_word") == names.count("output_word") == 1
        if missing or unknown or not once or names[-1] != "output_word":
            raise PromptError(
                f"prompt template {self.line!r} must use each of {{{'}, {'.join(_FIELDS)}}} "
                "(input_word and output_word exactly once) and end with {output_word} (optionally"
                " followed by a closing quote): fix the template"
            )

    def render(self, values: dict[str, str], query: bool = False) -> tuple[str, tuple[int, int]]:
        """Render one line; returns it with the character span of ``{input_word}``.

        With ``query=True`` the line stops right before ``{output_word}``.
        """
        out: list[str] = []
        span = (0, 0)
        for literal, name, _, _ in string.Formatter().parse(self.line):
            out.append(literal)
            if name is None:
                continue
            if name == "output_word" and query:
                break
            start = sum(map(len, out))
            out.append(values[name])
            if name == "input_word":
                span = (start, start + len(values[name]))
        return "".join(out), span


@dataclass(frozen=True, slots=True)
class Prompt:
    """A rendered prompt: its text, what it asks, and the character span of the query word."""

    text: str
    pair: Pair
    concept: str
    word: str
    examples: tuple[str, ...]
    span: tuple[int, int]


def sample_examples(
    concepts: Sequence[str], k: int, exclude: Sequence[str], rng: np.random.Generator
) -> tuple[str, ...]:
    """Draw ``k`` distinct example concepts from ``concepts``, never one of ``exclude``."""
    excluded = set(exclude)
    pool = [c for c in concepts if c not in excluded]
    if k > len(pool):
        raise PromptError(
            f"cannot draw k={k} few-shot examples from {len(pool)} concepts that are not the"
            " query: lower prompt.k or use a larger lexicon"
        )
    picked = rng.choice(len(pool), size=k, replace=False)
    return tuple(pool[i] for i in picked)


def build_prompt(
    lexicon: Lexicon,
    concept: str,
    pair: Pair,
    examples: Sequence[str],
    template: Template = Template(),
) -> Prompt:
    """The k-shot prompt that asks for ``concept`` from ``pair.input`` into ``pair.output``."""
    if concept in examples:
        raise PromptError(
            f"few-shot examples include the query concept {concept!r}: draw them with"
            " sample_examples(..., exclude=[query])"
        )
    src, dst = lexicon.language(pair.input), lexicon.language(pair.output)
    names = {"input_name": src.name, "output_name": dst.name}
    lines = [
        template.render(
            {
                **names,
                "input_word": lexicon.reference(c, src.code),
                "output_word": lexicon.reference(c, dst.code),
            }
        )[0]
        for c in examples
    ]
    word = lexicon.reference(concept, src.code)
    query, (start, end) = template.render({**names, "input_word": word}, query=True)
    head = template.separator.join([*lines, ""]) if lines else ""
    return Prompt(
        text=head + query,
        pair=pair,
        concept=concept,
        word=word,
        examples=tuple(examples),
        span=(len(head) + start, len(head) + end),
    )


def _overlap(offsets: torch.Tensor, spans: Sequence[tuple[int, int]]) -> torch.Tensor:
    """``[B, T]``: which tokens overlap each row's word (padding and specials never do)."""
    starts = torch.tensor([s for s, _ in spans]).unsqueeze(1)
    ends = torch.tensor([e for _, e in spans]).unsqueeze(1)
    tok_start, tok_end = offsets[..., 0], offsets[..., 1]
    return (tok_start < ends) & (tok_end > starts) & (tok_end > tok_start)


def quote_merged(offsets: torch.Tensor, spans: Sequence[tuple[int, int]]) -> torch.Tensor:
    """``[B]``: rows whose word's last token reaches past the word (merged with the closing
    quote or whatever follows); the query position is then the token before it."""
    overlap = _overlap(offsets, spans)
    ends = torch.tensor([e for _, e in spans]).unsqueeze(1)
    return (overlap & (offsets[..., 1] > ends)).any(dim=1)


def quote_merges(tokenizer: object, prompts: Sequence[Prompt]) -> int:
    """How many of ``prompts`` have their query word's end merged with the closing quote."""
    if not prompts:
        return 0
    enc = tokenizer(  # type: ignore[operator]
        [p.text for p in prompts], padding=True, return_tensors="pt", return_offsets_mapping=True
    )
    return int(quote_merged(enc["offset_mapping"], [p.span for p in prompts]).sum())


def word_token_spans(offsets: torch.Tensor, spans: Sequence[tuple[int, int]]) -> torch.Tensor:
    """For each row, the [first, last] token indices of its word (last: the query position).

    First is the first token that overlaps the word's character span; last the last token that
    ends within the word, or, when the word has none (all of it merged with the quote), the
    last one that overlaps it. ``offsets`` is a fast tokenizer's ``offset_mapping`` (batch x
    tokens x 2); padding and special tokens have empty offsets and never overlap. Works for left
    and right padding.
    """
    ends = torch.tensor([e for _, e in spans]).unsqueeze(1)
    overlap = _overlap(offsets, spans)
    if not bool(overlap.any(dim=1).all()):
        bad = int((~overlap.any(dim=1)).nonzero()[0, 0])
        raise PromptError(
            f"no token of the tokenizer covers the query word at characters {spans[bad]} of prompt"
            f" {bad}: use a fast tokenizer that returns offsets (use_fast=True) and does not strip"
            " or normalise the prompt text"
        )
    index = torch.arange(offsets.shape[1]).expand_as(overlap)
    first = torch.where(overlap, index, offsets.shape[1]).min(dim=1).values
    inside = overlap & (offsets[..., 1] <= ends)
    last_inside = torch.where(inside, index, -1).max(dim=1).values
    last_any = torch.where(overlap, index, -1).max(dim=1).values
    last = torch.where(inside.any(dim=1), last_inside, last_any)
    return torch.stack([first, last], dim=1)


def query_positions(offsets: torch.Tensor, spans: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Index of the last token of each row's query word (the paper's patch position)."""
    return word_token_spans(offsets, spans)[:, 1]

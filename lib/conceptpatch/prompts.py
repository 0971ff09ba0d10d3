"""Few-shot word-translation prompts, as text: plain data, no tokenizer and no torch.

A prompt is k example lines ``{input_name}: "{input_word}" - {output_name}: "{output_word}"`` and a
query line cut right after the opening quote of the answer. The query word's character span is
kept, so its tokens are found from the tokenizer's offset mapping (`conceptpatch.engine.positions`).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from conceptpatch.errors import PromptError
from conceptpatch.lexicons import Lexicon

__all__ = [
    "DEFAULT_TEMPLATE",
    "Pair",
    "Prompt",
    "Template",
    "build_prompt",
    "sample_examples",
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

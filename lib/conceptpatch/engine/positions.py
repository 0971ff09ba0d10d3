"""The query position: the last token of the query word, found from a tokenizer's offsets.

The query word's character span (`conceptpatch.prompts.Prompt.span`) is mapped onto tokens
through a fast tokenizer's offset mapping, exact for any fast tokenizer. The query position is the
last token that lies within the query word. When BPE merges the word's end with the closing quote
(``lehrer(in)"`` -> ``… in )"``), the merged token also covers the quote, so the position is the
token before it (the last one inside the word); only a word with no token of its own (all of it
merged with the quote) takes the merged token. Runs count these prompts (`quote_merges`) and warn.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from conceptpatch.errors import PromptError
from conceptpatch.prompts import Prompt

__all__ = ["query_positions", "quote_merged", "quote_merges", "word_token_spans"]


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

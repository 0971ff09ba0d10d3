"""Capture: batched forward passes that read latents (layer outputs) at the query positions.

States are indexed like ``hidden_states`` in transformers: state 0 is the input embedding's output,
state ``l + 1`` the output of decoder layer ``l``. A word is read at up to ``width`` token positions
aligned from its end (width 1 = the paper's last token of the query word).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import torch
from torch import nn

from conceptpatch.checkpoints import LoadedModel
from conceptpatch.prompts import Prompt, word_token_spans

__all__ = ["Batch", "capture", "concept_latents", "encode", "hidden_of", "with_hidden"]


@dataclass(frozen=True)
class Batch:
    """Tokenised prompts (left-padded) with the word's token positions aligned from its end.

    ``positions[b, w]`` is the token index of the ``w``-th token counted from the end of row ``b``'s
    query word, stored right-aligned (column ``width - 1`` is the last token); -1 where the word
    has fewer tokens.
    """

    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    position_ids: torch.Tensor  # [B, T]
    positions: torch.Tensor  # [B, W]


def encode(lm: LoadedModel, prompts: Sequence[Prompt], width: int = 1) -> Batch:
    """Tokenise ``prompts`` with left padding and locate each query word's last ``width`` tokens."""
    enc = lm.tokenizer(
        [p.text for p in prompts],
        padding=True,
        return_tensors="pt",
        return_offsets_mapping=True,
    )
    spans = word_token_spans(enc["offset_mapping"], [p.span for p in prompts])
    first, last = spans[:, 0:1], spans[:, 1:2]
    back = torch.arange(width - 1, -1, -1).unsqueeze(0)  # [1, W]: W-1 ... 0
    positions = last - back
    positions = torch.where(positions >= first, positions, -1)
    mask = enc["attention_mask"]
    device = lm.device
    return Batch(
        input_ids=enc["input_ids"].to(device),
        attention_mask=mask.to(device),
        position_ids=(mask.cumsum(-1) - 1).clamp(min=0).to(device),
        positions=positions.to(device),
    )


def hidden_of(output: object) -> torch.Tensor:
    """The hidden-state tensor of a decoder layer's (or embedding's) output."""
    return output[0] if isinstance(output, tuple) else output  # type: ignore[index]


def with_hidden(output: object, hidden: torch.Tensor) -> object:
    """``output`` with its hidden-state tensor replaced by ``hidden``."""
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden  # type: ignore[index]


class _Stop(Exception):
    """Raised by the last capture hook: nothing after the last layer needs computing."""


def _state_modules(lm: LoadedModel) -> list[nn.Module]:
    return [lm.embedding, *lm.layers]


@contextmanager
def capture(
    lm: LoadedModel, positions: torch.Tensor, stop_after: bool = True
) -> Iterator[list[torch.Tensor]]:
    """Hooks that read every state (embedding + each layer) at ``positions`` during one forward.

    Yields a list that fills with one ``[B, W, H]`` tensor per state (zeros where a position is
    -1). With ``stop_after``, the forward stops after the last layer (use `run_captured`).
    """
    read: list[torch.Tensor] = []
    valid = positions >= 0
    index = positions.clamp(min=0)
    modules = _state_modules(lm)

    def hook(module: nn.Module, args: object, output: object) -> None:
        hidden = hidden_of(output)  # [B, T, H]
        rows = torch.arange(hidden.shape[0], device=hidden.device).unsqueeze(1)
        taken = hidden[rows, index]  # [B, W, H]
        read.append(torch.where(valid.unsqueeze(-1), taken, 0.0))
        if stop_after and module is modules[-1]:
            raise _Stop

    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield read
    finally:
        for handle in handles:
            handle.remove()


def run_captured(lm: LoadedModel, batch: Batch) -> torch.Tensor:
    """One forward over ``batch`` returning its states at the query positions, ``[B, S, W, H]``."""
    with torch.no_grad(), capture(lm, batch.positions) as read, suppress(_Stop):
        lm.model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=False,
        )
    return torch.stack(read, dim=1)


def concept_latents(
    lm: LoadedModel,
    groups: Sequence[Sequence[Prompt]],
    width: int = 1,
    batch_size: int = 32,
) -> torch.Tensor:
    """The concept latent of each group: the mean state over its source prompts, ``[G, S, W, H]``.

    Word tokens are aligned from the end, so position ``w`` averages only over the sources whose
    word has that many tokens; a position no source has stays zero.
    """
    flat = [(g, p) for g, group in enumerate(groups) for p in group]
    sums: torch.Tensor | None = None
    counts = torch.zeros(len(groups), width, device=lm.device)
    for start in range(0, len(flat), batch_size):
        chunk = flat[start : start + batch_size]
        batch = encode(lm, [p for _, p in chunk], width)
        states = run_captured(lm, batch).float()  # [b, S, W, H]
        owner = torch.tensor([g for g, _ in chunk], device=lm.device)
        if sums is None:
            sums = torch.zeros(len(groups), *states.shape[1:], device=lm.device)
        sums.index_add_(0, owner, states)
        counts.index_add_(0, owner, (batch.positions >= 0).float())
    if sums is None:
        raise ValueError("concept_latents needs at least one source prompt")
    mean = sums / counts.clamp(min=1)[:, None, :, None]
    return mean

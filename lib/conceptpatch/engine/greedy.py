"""Exact greedy tokens from a large float32 output head for a fraction of its cost.

A decoding step only needs the argmax of the logits. On CPU the float32 head dominates a small
model's step (Gemma 3 270M: 168M of its 270M weights); a bfloat16 copy of it computes the
same product about five times faster where the CPU has bfloat16 instructions. The bfloat16
logits are off by at most `bound` from the float32 ones, so every token that could be the
float32 argmax lies within twice that bound of the bfloat16 maximum; those few candidates
(about a hundred of 262,144 on Gemma) are then computed in float32 and the argmax taken among
them. The answer is the float32 argmax, ties going to the lowest id as in ``torch.argmax``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn

from conceptpatch.engine.capture import decoder_of
from conceptpatch.engine.checkpoints import LoadedModel

__all__ = ["MIN_HEAD_WEIGHTS", "HeadScreen", "bound", "head_screen", "next_tokens"]

#: Heads smaller than this (vocabulary x hidden) are not worth a screen.
MIN_HEAD_WEIGHTS = 2**24
_UNIT = 2.0**-8  # bfloat16's unit roundoff (8 significant bits)
_F32 = 2.0**-24  # float32's


@dataclass(frozen=True)
class HeadScreen:
    """A float32 head ``weight`` [V, H], its bfloat16 copy, its largest row norm and the ids
    decoding never picks (``padding``, as in `conceptpatch.engine.patching.padding_mask`)."""

    weight: torch.Tensor
    coarse: torch.Tensor
    max_norm: float
    padding: torch.Tensor  # [P] int64 ids


def bound(hidden: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Per row of ``hidden`` [R, H]: a bound on |bfloat16 logit - float32 logit| for every id.

    Rounding ``h`` and ``w`` to bfloat16 moves each product by at most (2u + u^2) |h_i w_i|; the
    float32 sums of the bfloat16 and float32 products each add at most K u32 sum |h_i w_i|, and
    rounding the result to bfloat16 u times the sum again. By Cauchy-Schwarz, sum |h_i w_i| <=
    |h| |w|: in all 3u + 4u^2 + 3 K u32 (u: bfloat16's unit roundoff, u32 float32's, K the
    hidden size), taken with a quarter more as margin. On Gemma 3 270M the largest error seen
    is a fifteenth of the bound.
    """
    k = hidden.shape[-1]
    factor = 1.25 * (3 * _UNIT + 4 * _UNIT**2 + 3 * k * _F32)
    return factor * hidden.float().norm(dim=-1) * max_norm


def next_tokens(screen: HeadScreen, hidden: torch.Tensor) -> torch.Tensor:
    """The float32 argmax of ``hidden @ weight.T`` over non-padding ids, per row of ``hidden``."""
    coarse = nn.functional.linear(hidden.to(torch.bfloat16), screen.coarse)
    if screen.padding.numel():
        coarse.index_fill_(1, screen.padding, float("-inf"))
    top = coarse.max(dim=1).values.float()
    floor = top - 2 * bound(hidden, screen.max_norm)
    # compared in bfloat16, the threshold lowered first by more than its rounding can raise it
    floor = (floor - floor.abs() * 2**-7).to(torch.bfloat16)
    candidates = coarse >= floor.unsqueeze(1)
    ids = candidates.any(dim=0).nonzero().flatten()  # ascending: ties keep the lowest id
    exact = nn.functional.linear(hidden, screen.weight[ids])
    return ids[exact.argmax(dim=1)]


_SCREENS: weakref.WeakKeyDictionary[nn.Module, HeadScreen | None] = weakref.WeakKeyDictionary()


def head_screen(lm: LoadedModel, padding: torch.Tensor) -> HeadScreen | None:
    """The screen of ``lm``'s output head (built once per head), or None where it does not apply.

    It applies on CPU to a bias-free float32 linear head of at least `MIN_HEAD_WEIGHTS` weights
    whose logits are the head of the decoder's last hidden state (checked on one forward:
    post-processing such as Gemma 2's logit soft-capping rules it out), on a CPU that multiplies
    bfloat16 natively (`_native_bfloat16`): chosen by shape and device, never by timing. It
    costs two bytes per head weight (Gemma 3 270M: 320 MiB). ``padding`` is the boolean padding
    mask over the head's ids.
    """
    head = lm.model.get_output_embeddings() if hasattr(lm.model, "get_output_embeddings") else None
    if not isinstance(head, nn.Linear):
        return None
    if head not in _SCREENS:
        _SCREENS[head] = _build(lm, head, padding)
    return _SCREENS[head]


def _build(lm: LoadedModel, head: nn.Linear, padding: torch.Tensor) -> HeadScreen | None:
    weight = head.weight.detach()
    if (
        head.bias is not None
        or weight.device.type != "cpu"
        or weight.dtype != torch.float32
        or weight.numel() < MIN_HEAD_WEIGHTS
        or decoder_of(lm) is None
        or not _native_bfloat16()
        or not _head_of_decoder(lm, head)
    ):
        return None
    return HeadScreen(
        weight=weight,
        coarse=weight.to(torch.bfloat16),
        max_norm=float(weight.norm(dim=1).max()),
        padding=padding.nonzero().flatten().to(weight.device),
    )


def _native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 through oneDNN (AVX-512 BF16/AMX, Arm BF16), which
    is where a bfloat16 product beats float32 (4.5x for Gemma 3 270M's head here); elsewhere
    ATen's fallback is slower than float32. A property of the device, not of its load."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def _head_of_decoder(lm: LoadedModel, head: nn.Linear) -> bool:
    """Whether the model's logits are exactly ``head(decoder(...).last_hidden_state)``."""
    ids = torch.tensor([[1, 2, 3]], device=lm.device)
    with torch.no_grad():
        logits = lm.model(input_ids=ids, use_cache=False).logits
        hidden = decoder_of(lm)(input_ids=ids, use_cache=False).last_hidden_state  # type: ignore[misc]
        return bool(torch.equal(head(hidden), logits))

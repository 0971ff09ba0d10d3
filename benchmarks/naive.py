"""The naive reference loop: per trial and per layer, unbatched forwards and one `generate` call.

What a careful researcher writes first: each source prompt run alone to read its latents, then
for every first layer j the full target prompt generated greedily with forward hooks overwriting
the query word's states j+1..L. It shares nothing between trials, layers or prompts, and is the
reference for the engine's outputs (token for token) and speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from conceptpatch.engine.capture import (
    encode,
    group_mean,
    hidden_of,
    run_captured,
    state_hooks,
    with_hidden,
)
from conceptpatch.engine.checkpoints import LoadedModel
from conceptpatch.engine.patching import (
    UNPATCHED,
    answer_text,
    padding_mask,
    stop_token_mask,
    width_of,
)
from conceptpatch.prompts import Prompt
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

__all__ = ["Answer", "naive_generate", "naive_latent", "naive_trial"]


@dataclass(frozen=True)
class Answer:
    """One greedy answer: its token ids (stop token included), text and p(score id) at step 1."""

    tokens: tuple[int, ...]
    text: str
    p_first: float


class _StopAtQuote(StoppingCriteria):
    """Stop once the last generated token closes the answer (quote, newline or EOS)."""

    def __init__(self, stops: torch.Tensor) -> None:
        self.stops = stops

    def __call__(self, input_ids: torch.LongTensor, scores: object, **kwargs: object):
        return self.stops[input_ids[:, -1]]


def naive_latent(lm: LoadedModel, sources: Sequence[Prompt], width: int = 1) -> torch.Tensor:
    """Mean state over ``sources``, each run alone through the full model, ``[S, W, H]``."""
    states, valid = [], []
    for prompt in sources:
        batch = encode(lm, [prompt], width)
        states.append(run_captured(lm, batch)[0].float())
        valid.append(batch.positions[0] >= 0)
    return group_mean(torch.stack(states), torch.stack(valid))


@contextmanager
def _patched(lm: LoadedModel, latent: torch.Tensor, positions: torch.Tensor, first: int, emb: bool):
    """Hooks overwriting ``positions`` with ``latent`` at states >= ``first`` on the prompt pass."""
    valid = positions >= 0
    cols = valid.nonzero().squeeze(1)
    index = positions[valid]
    length = {"prompt": None}

    def make(s: int):
        def hook(module: torch.nn.Module, args: object, output: object) -> object:
            hidden = hidden_of(output)
            if hidden.shape[1] != length["prompt"]:  # a decoding step: leave it alone
                return None
            if (s == 0 and not emb) or 0 < s < first:
                return None
            hidden = hidden.clone()
            hidden[0, index] = latent[s, cols].to(hidden.dtype)
            return with_hidden(output, hidden)

        return hook

    with state_hooks(lm, make):
        yield length


def naive_generate(
    lm: LoadedModel,
    prompt: Prompt,
    latent: torch.Tensor | None,
    layer: int,
    score_id: int,
    mode: str = "last",
    max_new_tokens: int = 8,
) -> Answer:
    """Greedy answer of ``prompt`` patched with ``latent`` from layer ``layer`` (-1: unpatched)."""
    batch = encode(lm, [prompt], width_of(mode))  # type: ignore[arg-type]
    tok = lm.tokenizer
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tok.pad_token_id,  # type: ignore[attr-defined]
        eos_token_id=None,
        bos_token_id=None,
        return_dict_in_generate=True,
        output_logits=True,
        output_scores=True,
        # ids no tokenizer entry decodes (a padded vocabulary) are never picked, as in the engine
        suppress_tokens=padding_mask(lm).nonzero().flatten().tolist() or None,
    )
    stops = StoppingCriteriaList([_StopAtQuote(stop_token_mask(lm))])
    first = layer + 1 if layer != UNPATCHED else 10**9
    emb = mode == "word+embeddings" and layer != UNPATCHED
    values = latent if latent is not None else torch.zeros(0)
    with torch.no_grad(), _patched(lm, values, batch.positions[0], first, emb) as length:
        length["prompt"] = batch.input_ids.shape[1] if latent is not None else -1
        out = lm.model.generate(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            generation_config=config,
            stopping_criteria=stops,
        )
    tokens = tuple(out.sequences[0, batch.input_ids.shape[1] :].tolist())
    p_first = float(out.scores[0][0].float().softmax(-1)[score_id])  # padding suppressed
    return Answer(tokens, answer_text(lm, tokens), p_first)


def naive_trial(
    lm: LoadedModel,
    target: Prompt,
    sources: Sequence[Prompt],
    layers: Sequence[int],
    score_id: int,
    mode: str = "last",
    max_new_tokens: int = 8,
    share_sources: bool = False,
) -> dict[int, Answer]:
    """One trial at each first layer, recomputing the concept latent for every layer.

    ``share_sources`` computes it once for all layers instead (the peer method, `peer.py`).
    """
    width = width_of(mode)  # type: ignore[arg-type]
    latent: torch.Tensor | None = None
    out = {}
    for layer in layers:
        patched = layer != UNPATCHED
        if patched and (latent is None or not share_sources):
            latent = naive_latent(lm, sources, width)
        out[layer] = naive_generate(lm, target, latent if patched else None, layer, score_id,
                                    mode, max_new_tokens)
    return out

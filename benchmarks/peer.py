"""The peer method: concept patching as the paper's public nnsight code runs it, trial by trial.

That code (``object_lens`` over ``collect_activations_batched``) reads the latents of *all* layers
from one forward per source prompt, averages them into the concept latent, and then, for every
first layer j, runs one patched greedy generation of the target prompt (the query word's last
token overwritten at layers j..L-1 on the prompt pass). It shares the source forwards between
layers, but nothing between trials, layers' prompt passes or few-shot prefixes. This is the
figure a user comparing tools sees, so `throughput.py` names its ratio first.

Two implementations of the same loop:

- `peer_trial`: plain PyTorch hooks and ``generate`` (always available; the default figure);
- `peer_trial_nnsight`: the same loop written with nnsight's ``trace``/``generate`` (only with
  the optional ``nnsight`` extra: ``pip install -e ".[nnsight]"``).

The public code also runs a separate traced forward per layer for next-token probabilities; here
the first generation step's logits give them instead, so both peer figures are lower bounds on
the public code's cost.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from conceptpatch.engine.capture import encode
from conceptpatch.engine.checkpoints import LoadedModel
from conceptpatch.engine.patching import UNPATCHED, answer_text, padding_mask, stop_token_mask
from conceptpatch.prompts import Prompt
from naive import Answer, naive_trial

__all__ = ["nnsight_available", "peer_trial", "peer_trial_nnsight"]


def peer_trial(
    lm: LoadedModel,
    target: Prompt,
    sources: Sequence[Prompt],
    layers: Sequence[int],
    score_id: int,
    mode: str = "last",
    max_new_tokens: int = 8,
) -> dict[int, Answer]:
    """One trial at each first layer: source forwards once, one patched generation per layer."""
    return naive_trial(lm, target, sources, layers, score_id, mode, max_new_tokens,
                       share_sources=True)


def nnsight_available() -> bool:
    """Whether the optional nnsight package imports."""
    try:
        import nnsight  # noqa: F401
    except ImportError:
        return False
    return True


_WRAPPED: dict[int, object] = {}


def _nn_model(lm: LoadedModel):
    """nnsight's wrapper of ``lm.model`` (built once per model)."""
    from nnsight import LanguageModel

    key = id(lm.model)
    if key not in _WRAPPED:
        with warnings.catch_warnings():  # 0.8 prefers TransformersModel; both wrap a module
            warnings.simplefilter("ignore")
            _WRAPPED[key] = LanguageModel(lm.model, tokenizer=lm.tokenizer)
    return _WRAPPED[key]


def _layer_output(layer):
    """A decoder layer's hidden-state output (a tensor, or the first item of a tuple)."""
    out = layer.output
    return out[0] if isinstance(out, tuple) else out


def peer_trial_nnsight(
    lm: LoadedModel,
    target: Prompt,
    sources: Sequence[Prompt],
    layers: Sequence[int],
    score_id: int,
    mode: str = "last",
    max_new_tokens: int = 8,
) -> dict[int, Answer]:
    """`peer_trial` written with nnsight (``mode = "last"``): trace each source, generate per j."""
    if mode != "last":
        raise ValueError(f"the nnsight peer runs the paper's 'last' position only, not {mode!r}")
    nn_model = _nn_model(lm)
    decoder = nn_model.model.layers
    n_layers = lm.n_layers
    states = []
    for prompt in sources:  # one forward per source prompt, every layer read from it
        batch = encode(lm, [prompt], 1)
        pos = int(batch.positions[0, 0])
        saved: list = []
        with torch.no_grad(), nn_model.trace(batch.input_ids):
            for i in range(n_layers):
                saved.append(_layer_output(decoder[i])[0, pos].save())
        states.append(torch.stack([torch.as_tensor(s) for s in saved]).float())
    latent = torch.stack(states).mean(0) if states else None  # [L, H]
    batch = encode(lm, [target], 1)
    pos, length = int(batch.positions[0, 0]), batch.input_ids.shape[1]
    stops = stop_token_mask(lm)
    out = {}
    for j in layers:
        with torch.no_grad(), nn_model.generate(
            batch.input_ids, max_new_tokens=max_new_tokens, do_sample=False,
            pad_token_id=lm.tokenizer.pad_token_id, eos_token_id=None,
            output_logits=True, output_scores=True, return_dict_in_generate=True,
            suppress_tokens=padding_mask(lm).nonzero().flatten().tolist() or None,
        ) as tracer:  # fmt: skip
            if j != UNPATCHED and latent is not None:
                for i in range(j, n_layers):  # the prompt pass only (nnsight's first step)
                    hidden = _layer_output(decoder[i])
                    hidden[0, pos] = latent[i].to(lm.embedding.weight.dtype)
            result = tracer.result.save()
        result = getattr(result, "value", result)
        generated = result.sequences[0, length:].tolist()
        tokens = []
        for t in generated:  # greedy answer up to and including its stop token
            tokens.append(t)
            if bool(stops[t]):
                break
        p_first = float(result.scores[0][0].float().softmax(-1)[score_id])  # padding suppressed
        out[j] = Answer(tuple(tokens), answer_text(lm, tokens), p_first)
    return out

"""Decoder discovery on tiny random models of the families transformers builds offline.

No table lists these architectures: each is found on the model itself, so the test holds the
claim that the next architecture a user brings needs no change in conceptpatch.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from conceptpatch.engine.checkpoints import check_architecture, decoder_layers
from conceptpatch.errors import CheckpointError
from conceptpatch.sources.checkpoint import Checkpoint
from torch import nn

#: model_type -> extra config keys a tiny model of that family needs.
FAMILIES: dict[str, dict] = {
    "llama": {}, "mistral": {}, "mixtral": {"num_local_experts": 3}, "qwen2": {}, "qwen3": {},
    "qwen3_moe": {"num_experts": 3, "num_experts_per_tok": 2}, "gemma": {"head_dim": 8},
    "gemma2": {"head_dim": 8}, "gemma3_text": {"head_dim": 8}, "olmo": {}, "olmo2": {},
    "phi": {}, "phi3": {}, "gpt2": {},
    "gpt_neox": {}, "gptj": {"rotary_dim": 4}, "bloom": {}, "falcon": {}, "opt": {},
    "stablelm": {}, "starcoder2": {}, "mpt": {}, "gpt_bigcode": {}, "apertus": {}, "xglm": {},
}  # fmt: skip
N_LAYERS = 3
VOCAB = 96


def tiny(model_type: str) -> nn.Module:
    """A 3-layer random causal LM of ``model_type`` built from its config alone (offline)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        model_type, num_hidden_layers=N_LAYERS, hidden_size=32, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=64, vocab_size=VOCAB, pad_token_id=0,
        bos_token_id=0, eos_token_id=0, **FAMILIES[model_type],
    )  # fmt: skip
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoModelForCausalLM.from_config(config).eval()


def _outputs(model: nn.Module, layers: tuple[nn.Module, ...]) -> tuple[list, object]:
    seen: list[torch.Tensor] = []

    def keep(module, args, output):
        seen.append(output[0] if isinstance(output, tuple) else output)

    hooks = [layer.register_forward_hook(keep) for layer in layers]
    try:
        with torch.no_grad():
            out = model(torch.arange(1, 8).unsqueeze(0), output_hidden_states=True)
    finally:
        for hook in hooks:
            hook.remove()
    return seen, out


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_discovery_finds_the_layers_transformers_runs_in_order(model_type):
    """Layer i's output is the model's own hidden state i + 1 (the last is before the final
    norm in most families, so it is left out); the embedding is ``get_input_embeddings()``."""
    model = tiny(model_type)
    layers, embedding = decoder_layers(model)
    assert len(layers) == N_LAYERS
    assert embedding is model.get_input_embeddings()
    seen, out = _outputs(model, layers)
    assert len(seen) == N_LAYERS
    for i in range(N_LAYERS - 1):
        torch.testing.assert_close(seen[i], out.hidden_states[i + 1])


@pytest.mark.parametrize("model_type", ["gemma3_text", "gpt2", "opt"])
def test_check_finds_the_layers_from_config_json_alone(model_type, tmp_path):
    """`check` builds a weightless skeleton from config.json: the same count as a load."""
    tiny(model_type).config.save_pretrained(tmp_path)
    assert check_architecture(Checkpoint("c", path=str(tmp_path))) == N_LAYERS


def test_an_architecture_transformers_does_not_know_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mamba9"}))
    with pytest.raises(CheckpointError) as err:
        check_architecture(Checkpoint("c", path=str(tmp_path)))
    assert "\n" not in str(err.value) and "upgrade transformers" in str(err.value)


def test_a_list_of_equal_length_elsewhere_does_not_confuse_discovery():
    """Experts or a vision tower with as many blocks: the list beside the embedding wins."""
    model = tiny("llama")
    model.adapters = nn.ModuleList(nn.Linear(2, 2) for _ in range(N_LAYERS))
    layers, _ = decoder_layers(model)
    assert layers == tuple(model.model.layers)


def test_two_candidate_lists_are_an_error_naming_layers_path_and_the_key_resolves_it():
    model = tiny("llama")
    model.model.twins = nn.ModuleList(nn.Linear(2, 2) for _ in range(N_LAYERS))
    with pytest.raises(CheckpointError) as err:
        decoder_layers(model)
    assert "layers_path" in str(err.value) and "model.twins" in str(err.value)
    assert decoder_layers(model, "model.layers")[0] == tuple(model.model.layers)


@pytest.mark.parametrize("path", ["model.nowhere", "model.norm"])
def test_a_wrong_layers_path_says_what_it_names(path):
    with pytest.raises(CheckpointError) as err:
        decoder_layers(tiny("llama"), path)
    assert "\n" not in str(err.value) and repr(path) in str(err.value)

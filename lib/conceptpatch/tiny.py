"""Tiny random-weight models for tests and the ``tiny-random`` suite: nothing is downloaded.

A byte-level BPE tokenizer is trained on the fly from the lexicon's words in prompt lines (seeded,
deterministic) and a model of a named architecture is built from a small config, then both are
saved with ``save_pretrained`` so that they load through the very same path as real checkpoints.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from conceptpatch.errors import SuiteError
from conceptpatch.files import share_tree
from conceptpatch.lexicon import Lexicon

__all__ = ["ARCHITECTURES", "build_tiny", "tiny_model", "train_bpe"]

SPECIAL = "<|endoftext|>"


def train_bpe(texts: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE fast tokenizer trained on ``texts`` (deterministic for the same texts)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=SPECIAL,
        eos_token=SPECIAL,
        pad_token=SPECIAL,
        padding_side="left",
    )


def _lexicon_texts(lexicon: Lexicon) -> Iterable[str]:
    for concept in lexicon.concepts:
        for a, b in itertools.permutations(lexicon.languages, 2):
            wa, wb = lexicon.words(concept, a.code), lexicon.words(concept, b.code)
            if wa and wb:
                yield f'{a.name}: "{wa[0]}" - {b.name}: "{wb[0]}"\n'


def _llama(vocab: int, layers: int, hidden: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=1024, bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def _gpt2(vocab: int, layers: int, hidden: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab, n_embd=hidden, n_layer=layers, n_head=4, n_positions=1024,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


def _gpt_neox(vocab: int, layers: int, hidden: int):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, max_position_embeddings=1024,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return GPTNeoXForCausalLM(config)


def _olmo2(vocab: int, layers: int, hidden: int):
    from transformers import Olmo2Config, Olmo2ForCausalLM

    config = Olmo2Config(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, max_position_embeddings=1024,
        bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    return Olmo2ForCausalLM(config)


#: Architectures a tiny random model can take.
ARCHITECTURES: dict[str, Callable[[int, int, int], torch.nn.Module]] = {
    "llama": _llama,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "olmo2": _olmo2,
}


def tiny_model(architecture: str, vocab: int, layers: int = 4, hidden: int = 64, seed: int = 0):
    """A randomly initialised causal LM of ``architecture`` (seeded)."""
    if architecture not in ARCHITECTURES:
        raise SuiteError(
            f"unknown random architecture {architecture!r}: use one of"
            f" {', '.join(sorted(ARCHITECTURES))}"
        )
    torch.manual_seed(seed)
    return ARCHITECTURES[architecture](vocab, layers, hidden).eval()


def build_tiny(
    architecture: str,
    lexicon: Lexicon,
    out: Path,
    layers: int = 4,
    hidden: int = 64,
    vocab_size: int = 512,
    seed: int = 0,
    pad_vocab: int = 0,
) -> Path:
    """Train a tokenizer on ``lexicon``, build a random model, save both to ``out``.

    ``pad_vocab`` extra rows pad the model's vocabulary beyond the tokenizer, as real models do
    (Pythia: 50,304 logits for 50,277 tokens): ids no tokenizer entry decodes.
    """
    tokenizer = train_bpe(_lexicon_texts(lexicon), vocab_size)
    model = tiny_model(architecture, len(tokenizer) + pad_vocab, layers, hidden, seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    share_tree(out)  # safetensors writes the weights 0600, whatever the umask
    return out

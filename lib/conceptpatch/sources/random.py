"""A tiny random model of a named architecture, built on first use: tests without downloads.

A byte-level BPE tokenizer is trained on the fly from the lexicon's words in prompt lines (seeded,
deterministic) and a model of a named architecture is built from a small config, then both are
saved with ``save_pretrained`` so that they load through the very same path as real checkpoints.
Listing the checkpoint (`random_checkpoint` without ``build``) imports no torch.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from conceptpatch.errors import SuiteError
from conceptpatch.files import share_tree
from conceptpatch.lexicons.core import Lexicon
from conceptpatch.sources.checkpoint import Checkpoint

if TYPE_CHECKING:
    import torch

    from conceptpatch.config.suite import Suite

__all__ = ["ARCHITECTURES", "build_tiny", "random_checkpoint", "tiny_model", "train_bpe"]


def random_checkpoint(suite: Suite, lexicon: Lexicon, root: Path, build: bool) -> Checkpoint:
    """The tiny random ``model.random`` model over the suite's languages, built once under ``root``.

    Its directory is keyed by a hash of what it is built from, so a changed suite builds anew.
    """
    from filelock import FileLock

    model = suite.model
    arch = str(model.random)
    spec = {
        "arch": arch,
        "layers": model.random_layers,
        "hidden": model.random_hidden,
        "seed": suite.seed,
        **({"pad": model.random_pad_vocab} if model.random_pad_vocab else {}),
        "lexicon": lexicon.name,
        "languages": suite.languages,
        **({"constructed": asdict(suite.constructed)} if suite.constructed else {}),
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    target = root / "random" / f"{arch}-{key}"
    if build and not (target / "config.json").exists():  # built on first use, once
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):
            if not (target / "config.json").exists():
                tmp = target.with_name(target.name + ".tmp")
                build_tiny(
                    arch,
                    lexicon.restrict(suite.languages),
                    tmp,
                    layers=spec["layers"],
                    hidden=spec["hidden"],
                    seed=suite.seed,
                    pad_vocab=model.random_pad_vocab,
                )
                tmp.rename(target)
    return Checkpoint(name=f"random-{arch}", path=str(target), step=0, tokens=0, phase=1)


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
#: ``[model] random`` -> the builder of that architecture (names: `RANDOM_ARCHITECTURES`).
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
    import torch

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

"""Train the organism: a plain PyTorch loop over two data phases, log-spaced checkpoints.

Same recipe and seed give identical weights on CPU: documents come from seeded ``random.Random``
streams, the model is initialised after ``torch.manual_seed(seed)``, batches follow a seeded
permutation, and the thread count is fixed by the recipe (float reductions depend on it).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from transformers.utils import logging as hf_logging

from conceptpatch.organism.curriculum import (
    Curriculum,
    build_curriculum,
    phase_documents,
    write_lexicon,
)
from conceptpatch.organism.recipes import Recipe
from conceptpatch.organism.tokenizer import train_tokenizer

CONFIG_FILE = "conceptpatch.json"


@dataclass(frozen=True)
class PhaseCorpus:
    """The documents of one phase in training order, and their token stream cut into blocks."""

    documents: tuple[str, ...]
    kinds: tuple[str, ...]
    blocks: torch.Tensor  # (n_blocks, seq_len) int64


def tokenizer_for(curriculum: Curriculum, recipe: Recipe, seed: int) -> PreTrainedTokenizerFast:
    """The BPE tokenizer, trained on documents of both phases in proportion to their steps."""
    n_two = round(recipe.tokenizer_docs * recipe.phase_two_fraction)
    docs = [t for _, t in itertools.islice(phase_documents(curriculum, recipe, seed, 1),
                                           recipe.tokenizer_docs - n_two)]
    docs += [t for _, t in itertools.islice(phase_documents(curriculum, recipe, seed, 2), n_two)]
    return train_tokenizer(docs, recipe.vocab_size)


def phase_corpus(curriculum: Curriculum, recipe: Recipe, seed: int, phase: int,
                 tokenizer: PreTrainedTokenizerFast, n_blocks: int) -> PhaseCorpus:
    """Enough documents of a phase to fill n_blocks training sequences (each doc = bos .. eos)."""
    need = n_blocks * recipe.seq_len
    docs: list[str] = []
    kinds: list[str] = []
    ids: list[np.ndarray] = []
    have = 0
    stream = phase_documents(curriculum, recipe, seed, phase)
    eos = tokenizer.eos_token_id
    while have < need:
        chunk = list(itertools.islice(stream, 2000))
        encoded = tokenizer([t for _, t in chunk]).input_ids
        for (kind, text), row in zip(chunk, encoded, strict=True):
            if have >= need:
                break
            docs.append(text)
            kinds.append(kind)
            ids.append(np.asarray([*row, eos], dtype=np.int64))
            have += len(row) + 1
    flat = torch.from_numpy(np.concatenate(ids)[:need])
    return PhaseCorpus(tuple(docs), tuple(kinds), flat.view(n_blocks, recipe.seq_len))


def checkpoint_steps(recipe: Recipe) -> list[int]:
    """Log-spaced steps over phase one (ending at its last step), then evenly over phase two."""
    one = recipe.phase_one_steps
    log = np.geomspace(min(recipe.first_checkpoint, one), one, recipe.n_checkpoints_one)
    steps = sorted({round(float(s)) for s in log})
    two = recipe.steps - one
    if two > 0:
        steps += [one + round(two * (i + 1) / recipe.n_checkpoints_two)
                  for i in range(recipe.n_checkpoints_two)]
    return sorted(set(steps))


def model_config(recipe: Recipe, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    """The Llama configuration of the organism."""
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.n_layers,
        num_attention_heads=recipe.n_heads,
        num_key_value_heads=recipe.n_heads,
        max_position_embeddings=max(512, 4 * recipe.seq_len),
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _lr_factor(recipe: Recipe, step: int) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio at the last step."""
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    progress = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return recipe.min_lr_ratio + (1 - recipe.min_lr_ratio) * cosine


def _save_checkpoint(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, path: Path,
                     info: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    (path / CONFIG_FILE).write_text(json.dumps(info, indent=2) + "\n")


def _manifest(recipe: Recipe, seed: int, variant: str | None, curriculum: Curriculum,
              model: LlamaForCausalLM, checkpoints: list[dict]) -> dict:
    """The manifest of an organism whose checkpoints so far are ``checkpoints``."""
    return {
        "variant": variant,
        "seed": seed,
        "recipe": recipe.to_dict(),
        "languages": [{"code": lang.code, "name": lang.name, "seen": lang.seen}
                      for lang in curriculum.languages],
        "heldout_concepts": sorted(curriculum.heldout),
        "checkpoints": [dict(c) for c in checkpoints],
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }


def train(recipe: Recipe, seed: int, out: Path, progress: bool = True,
          variant: str | None = None,
          on_checkpoint: Callable[[dict], object] | None = None) -> Path:
    """Train an organism into `out`: manifest.json, lexicon.csv, checkpoints/<name>/; return out.

    ``on_checkpoint(manifest)``, when given, is called after each checkpoint is written with the
    manifest so far (its checkpoints up to this one, no ``train_seconds``), so that a caller can
    evaluate checkpoints while training goes on; it never touches the model.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        curriculum = build_curriculum(recipe, seed)
        write_lexicon(curriculum, out / "lexicon.csv")
        tokenizer = tokenizer_for(curriculum, recipe, seed)
        one = recipe.phase_one_steps
        corpora = {
            1: phase_corpus(curriculum, recipe, seed, 1, tokenizer, one * recipe.batch_size),
            2: phase_corpus(curriculum, recipe, seed, 2, tokenizer,
                            (recipe.steps - one) * recipe.batch_size),
        }
        torch.manual_seed(seed)
        model = LlamaForCausalLM(model_config(recipe, tokenizer))
        model.train()
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": recipe.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=recipe.lr, betas=(0.9, 0.95),
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(recipe, s))
        generator = torch.Generator().manual_seed(seed)
        orders = {p: torch.randperm(len(c.blocks), generator=generator)
                  for p, c in corpora.items()}
        saves = set(checkpoint_steps(recipe))
        checkpoints = []
        bar = tqdm(range(1, recipe.steps + 1), desc=f"organism {variant or ''}".strip(),
                   disable=not progress, unit="step")
        for step in bar:
            phase = 1 if step <= one else 2
            local = (step - 1) if phase == 1 else (step - 1 - one)
            idx = orders[phase][local * recipe.batch_size:(local + 1) * recipe.batch_size]
            batch = corpora[phase].blocks[idx]
            loss = model(input_ids=batch, labels=batch).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            scheduler.step()
            if step % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}", phase=phase)
            if step in saves:
                name = f"step_{step:06d}"
                info = {"name": name, "step": step,
                        "tokens": step * recipe.batch_size * recipe.seq_len, "phase": phase}
                model.eval()
                _save_checkpoint(model, tokenizer, out / "checkpoints" / name, info)
                model.train()
                checkpoints.append({**info, "path": f"checkpoints/{name}",
                                    "loss": round(float(loss.item()), 4)})
                if on_checkpoint is not None:
                    on_checkpoint(_manifest(recipe, seed, variant, curriculum, model, checkpoints))
        manifest = {**_manifest(recipe, seed, variant, curriculum, model, checkpoints),
                    "train_seconds": round(time.perf_counter() - start, 1)}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    finally:
        torch.set_num_threads(threads)
    return out

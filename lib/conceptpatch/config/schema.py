"""The suite file's schema: each section's keys, their types and the bounds of integer settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conceptpatch.sources.kinds import ENTRY_SOURCES

__all__ = [
    "CHECKPOINT_KEYS",
    "CHECKPOINT_SOURCES",
    "CLAIM_IDS",
    "CONSTRUCTED_KEYS",
    "INT_RANGES",
    "PHASE_KEYS",
    "SCHEMA",
    "TYPES",
    "is_int",
    "str_list",
]


def is_int(v: Any) -> bool:
    """An integer that is not a bool (TOML has both)."""
    return isinstance(v, int) and not isinstance(v, bool)


def str_list(v: Any) -> bool:
    """A list of strings."""
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


#: type name -> (its check, how an error message names it).
TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (is_int, "an integer"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "strs": (str_list, "a list of strings"),
    "layers": (
        lambda v: v == "all" or (isinstance(v, list) and all(is_int(x) for x in v)),
        '"all" or a list of integers',
    ),
    "tables": (
        lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
        "an array of tables",
    ),
    "batch": (lambda v: v == "auto" or (is_int(v) and v > 0), '"auto" or a positive integer'),
    "band": (
        lambda v: v in ("early", "mid", "late") or (isinstance(v, list) and v
                                                     and all(is_int(x) for x in v)),
        '"early", "mid", "late" or a list of layers',
    ),
    "fraction": (lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1,
                 "a number in (0, 1]"),
    "str_or_strs": (lambda v: isinstance(v, str) or str_list(v), "a string or a list of strings"),
    "int_or_all": (lambda v: v == "all" or is_int(v), '"all" or an integer'),
    "stages": (lambda v: is_int(v) or (isinstance(v, list) and v and all(is_int(x) for x in v)),
               "a number of looks (an integer) or a list of pairing counts"),
    "table": (lambda v: isinstance(v, dict), 'an inline table such as {code = "qcl", seed = 0}'),
}

#: The claims an ``[[expect]]`` entry may name (the keys of `conceptpatch.claims.MODULES`).
CLAIM_IDS: tuple[str, ...] = (
    "concept_induction", "layer_sensitivity", "early_emergence", "stability", "phase_two",
    "unseen_language", "language_dependence", "regression",
)

#: section -> key -> type name. The top level is section "".
SCHEMA: dict[str, dict[str, str]] = {
    "": {"name": "str", "description": "str", "seed": "int", "expect": "tables"},
    "model": {
        "organism": "str", "organism_seed": "int",
        "random": "str", "random_layers": "int", "random_hidden": "int", "random_pad_vocab": "int",
        "checkpoints": "tables",
        "glob": "str", "step_pattern": "str", "tokens_per_step": "int", "phases": "tables",
        "dtype": "str", "device": "str", "device_map": "str", "trust_remote_code": "bool",
        "batch_size": "batch", "layers_path": "str", "tokenizer": "str",
    },
    "lexicon": {
        "builtin": "str", "path": "str", "format": "str", "pos": "str_or_strs",
        "claims_pos": "str_or_strs",
    },
    "languages": {"seen": "strs", "unseen": "strs", "constructed": "table"},
    "prompt": {"k": "int", "template": "str", "separator": "str", "shots": "str"},
    "patch": {
        "layers": "layers", "position": "str", "settings": "strs", "max_new_tokens": "int",
        "source_pairs": "int_or_all", "seen_sources": "str",
    },
    "sample": {"trials": "int", "target_pairs": "strs", "pairing": "str", "stages": "stages"},
    "claims": {
        "band": "band", "reference": "str", "early_fraction": "fraction",
        "high_resource": "strs", "low_resource": "strs", "gate_window": "int",
        "gate_margin": "fraction",
    },
}  # fmt: skip
CHECKPOINT_KEYS: dict[str, str] = {
    "name": "str", "path": "str", "hub": "str", "revision": "str", "gguf": "str",
    "gguf_package": "str", "step": "int", "tokens": "int", "phase": "int",
}  # fmt: skip
#: The keys of a checkpoint entry that say where it comes from: each entry has exactly one.
CHECKPOINT_SOURCES: tuple[str, ...] = tuple(ENTRY_SOURCES)
PHASE_KEYS: dict[str, str] = {"from_step": "int", "phase": "int"}
#: ``[languages] constructed``: a constructed unseen language (`conceptpatch.lexicons.constructed`).
CONSTRUCTED_KEYS: dict[str, str] = {"code": "str", "name": "str", "seed": "int"}
#: Inclusive bounds of integer settings: a value outside them is a typo, not a request.
INT_RANGES: dict[str, tuple[int, int]] = {
    "seed": (0, 2**63 - 1), "organism_seed": (0, 2**63 - 1),
    "random_layers": (1, 256), "random_hidden": (8, 65536), "tokens_per_step": (0, 2**62),
    "random_pad_vocab": (0, 1_000_000),
    "k": (0, 1000), "max_new_tokens": (1, 4096), "source_pairs": (1, 10_000),
    "trials": (1, 10_000_000), "step": (0, 2**62), "tokens": (0, 2**62), "phase": (1, 1000),
    "from_step": (0, 2**62), "layers": (-10_000, 10_000), "batch_size": (1, 1_000_000),
    "gate_window": (1, 10_000),
}  # fmt: skip

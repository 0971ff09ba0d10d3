"""The model organism: a small Llama that conceptpatch trains itself on a synthetic curriculum.

`ensure_organism` returns a cached organism directory (training it on first use), `RECIPES`
names the variants, `cli_train` backs ``conceptpatch organism train``.
"""

from conceptpatch.organism.cache import (
    claim_training,
    cli_train,
    default_root,
    ensure_organism,
    organism_dir,
)
from conceptpatch.organism.recipes import RECIPES, Mix, Recipe, UnknownVariantError, get_recipe

__all__ = [
    "RECIPES",
    "Mix",
    "Recipe",
    "UnknownVariantError",
    "claim_training",
    "cli_train",
    "default_root",
    "ensure_organism",
    "get_recipe",
    "organism_dir",
]

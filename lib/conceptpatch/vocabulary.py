"""The outcome vocabulary, defined once: the six automatic categories and the finer manual labels.

Scoring, the store's schema check, the claims, the annotation sheets and the report's figures
and tables all import these names from here, so they can never disagree on a spelling or an
order (docs/results-store.md, docs/claims-and-statistics.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

__all__ = [
    "CATEGORIES",
    "DTYPE_NAMES",
    "LABELS",
    "LABEL_TO_CATEGORY",
    "POSITION_MODES",
    "RANDOM_ARCHITECTURES",
    "SETTINGS",
    "Category",
    "DType",
    "PositionMode",
]

#: Source settings: the paper's (clap's ``get_settings``: seen, en_en, tgt, self, tgt_tgt),
#: conceptpatch's own ``target`` (every other input into the target's output), and the
#: unpatched baseline (`conceptpatch.trials.source_pairs`); a store's unit files are named by them.
SETTINGS: tuple[str, ...] = ("seen", "en_en", "tgt", "self", "tgt_tgt", "target", "unpatched")

DType = Literal["float32", "bfloat16", "float16", "float64"]
#: The torch dtypes a suite may load checkpoints in (`conceptpatch.engine.checkpoints.DTYPES` maps
#: them).
DTYPE_NAMES: tuple[str, ...] = get_args(DType)

PositionMode = Literal["last", "word", "word+embeddings"]
#: What is read and patched: the query word's last token (the paper), its tokens, or its tokens
#: and their input embeddings (`conceptpatch.engine.patching`).
POSITION_MODES: tuple[str, ...] = get_args(PositionMode)

#: Architectures a tiny random model can have (``[model] random``; `conceptpatch.sources.random`).
RANDOM_ARCHITECTURES: tuple[str, ...] = ("llama", "gpt2", "gpt_neox", "olmo2")

Category = Literal["exact", "synonym", "target", "copy", "other_language", "unrelated"]
#: The automatic outcome categories, in the order `conceptpatch.scoring.categorize` checks them
#: (the first that matches wins); every table and figure lists them in this order too.
CATEGORIES: tuple[str, ...] = get_args(Category)

#: The paper's finer outcome labels a reader may give (`conceptpatch.annotate`), in the order
#: figures stack them: each automatic category followed by the finer labels it covers.
LABELS: tuple[str, ...] = (
    "exact",           # C's reference word in the output language
    "synonym",         # another word for C in the output language
    "hypernym",        # a broader word (animal for dog)
    "hyponym",         # a narrower word (poodle for dog)
    "related",         # related in meaning but not C (bone for dog)
    "other_language",  # C's word in another language, not split further
    "untranslated",    # C's word left in the input language
    "wrong_language",  # C's word in a language that is neither input nor output
    "copy",            # the target prompt's own query word copied
    "target",          # D in the output language: the patch had no effect
    "unrelated",       # anything else
    "empty",           # no answer
)

#: The finer labels on the six categories the claims test: a broader or narrower word for C is a
#: partial success (synonym-like), C's word in another language is ``other_language``, an empty
#: answer or a merely related word is ``unrelated``.
LABEL_TO_CATEGORY: Mapping[str, str] = {
    "exact": "exact", "synonym": "synonym", "hypernym": "synonym", "hyponym": "synonym",
    "related": "unrelated", "other_language": "other_language",
    "untranslated": "other_language", "wrong_language": "other_language", "copy": "copy",
    "target": "target", "unrelated": "unrelated", "empty": "unrelated",
}  # fmt: skip

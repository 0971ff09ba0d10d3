"""The lexicon registry: one place names every format and built-in, and the suite accepts them."""

from __future__ import annotations

import importlib

import conceptpatch.lexicons as lexicon
from conceptpatch.config.suite import LEXICON_FORMATS
from conceptpatch.lexicons.registry import BUILTIN_LOADERS, BUILTINS, FORMATS


def test_suite_formats_are_the_registry() -> None:
    assert LEXICON_FORMATS == tuple(FORMATS) == ("long_csv", "multisimlex", "concepticon")
    assert BUILTINS == tuple(BUILTIN_LOADERS) == ("cldr", "multisimlex")


def test_each_format_is_one_source_module() -> None:
    for fmt, loader in FORMATS.items():
        module = importlib.import_module(loader.__module__)
        assert module.__name__ == f"conceptpatch.lexicons.{fmt}", fmt
        assert loader.__name__ == "read"


def test_public_names_stay_importable_from_lexicon() -> None:
    for name in lexicon.__all__:
        assert getattr(lexicon, name) is not None, name

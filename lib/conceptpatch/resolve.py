"""A suite made concrete: its checkpoints listed from their sources and its lexicon loaded.

`resolve` is where a `conceptpatch.config.suite.Suite` meets the world: the checkpoint sources
(`conceptpatch.sources`), the lexicon files, the organism's cache. Nothing here loads a model;
an organism or a tiny random model is trained or built on first use only with ``build``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conceptpatch.config.sections import LexiconSection
from conceptpatch.config.suite import Suite
from conceptpatch.errors import MissingData, OrganismNotTrained, SuiteError
from conceptpatch.lexicons.constructed import with_constructed
from conceptpatch.lexicons.core import DEFAULT_POS, Lexicon
from conceptpatch.lexicons.multisimlex import MULTISIMLEX_URL
from conceptpatch.lexicons.registry import load_lexicon
from conceptpatch.paths import cache_root
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.glob import glob_checkpoints, glob_missing
from conceptpatch.sources.kinds import listed_checkpoints
from conceptpatch.sources.organism import organism_root, read_organism
from conceptpatch.sources.random import random_checkpoint

__all__ = [
    "MissingData",
    "OrganismNotTrained",
    "Resolved",
    "missing_data",
    "resolve",
    "resolve_organism",
    "restrict_lexicon",
    "suite_checkpoints",
    "suite_lexicon",
]


@dataclass(frozen=True)
class Resolved:
    """A suite made concrete: its checkpoints, its lexicon, and its seen/unseen languages."""

    suite: Suite
    checkpoints: tuple[Checkpoint, ...]
    lexicon: Lexicon
    seen: tuple[str, ...]
    unseen: tuple[str, ...]


def suite_checkpoints(suite: Suite, missing_ok: bool = False) -> tuple[Checkpoint, ...]:
    """The listed and globbed checkpoints of a suite (not organism/random), ordered by step.

    Hub checkpoints are taken as written: nothing touches the network. A glob that matches no
    directory raises `MissingData`, or gives no checkpoints with ``missing_ok``.
    """
    model = suite.model
    found = list(listed_checkpoints(model))
    if "glob" in model:
        found += glob_checkpoints(model, missing_ok)
        found.sort(key=lambda c: (c.step, c.name))  # listed first among equal steps (stable)
    names = [c.name for c in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SuiteError(
            f"checkpoint name(s) {', '.join(twice)} occur twice in [model] (listed and globbed):"
            " give the listed checkpoints other names"
        )
    return tuple(found)


def _lexicon_missing(spec: LexiconSection) -> str | None:
    """The download instruction for a Multi-SimLex file the suite names but lacks, else None.

    Other lexicon files are the user's own: a missing one is a wrong path, an error.
    """
    if spec.format != "multisimlex" or spec.path is None or Path(spec.path).exists():
        return None
    return (
        f"Multi-SimLex file {spec.path!r} is missing: download translation.csv from"
        f" {MULTISIMLEX_URL} (Vulic et al., 2020; not redistributed with conceptpatch) and put it"
        " at that path"
    )


def missing_data(suite: Suite) -> list[str]:
    """One instruction per piece of local data the suite names that is not there yet."""
    out = []
    lexicon = _lexicon_missing(suite.lexicon)
    if lexicon is not None:
        out.append(lexicon)
    if "glob" in suite.model and not glob_checkpoints(suite.model, missing_ok=True):
        out.append(glob_missing(suite.model))
    return out


def suite_lexicon(suite: Suite) -> Lexicon:
    """The suite's lexicon, all languages and parts of speech, with its constructed language's
    words (``[languages] constructed``); `MissingData` if absent."""
    spec = suite.lexicon
    if spec.builtin is not None:
        lexicon = load_lexicon(spec.builtin)
    else:
        missing = _lexicon_missing(spec)
        if missing is not None:
            raise MissingData(missing)
        lexicon = load_lexicon(str(spec.path), spec.format, pos=None)
    return lexicon if suite.constructed is None else with_constructed(lexicon, suite.constructed)


def restrict_lexicon(
    lexicon: Lexicon, codes: tuple[str, ...], pos: str | tuple[str, ...] | None
) -> Lexicon:
    """``lexicon`` over ``codes`` with its complete concepts of the parts of speech ``pos``.

    None keeps nouns (`DEFAULT_POS`) when the lexicon tags them, else every concept.
    """
    for code in codes:
        lexicon.language(code)
    tags = sorted(set(lexicon.pos.values()))
    if pos is None:
        return lexicon.restrict(codes, DEFAULT_POS if DEFAULT_POS in tags else None)
    wanted = (pos,) if isinstance(pos, str) else tuple(pos)
    if not tags:
        raise SuiteError(
            f"lexicon.pos = {list(wanted)!r} but lexicon {lexicon.name!r} has no part-of-speech"
            " column: drop lexicon.pos or use a lexicon with a pos (PoS) column"
        )
    unknown = [p for p in wanted if p not in tags]
    if unknown:
        raise SuiteError(
            f"lexicon.pos {', '.join(map(repr, unknown))} matches no concept of lexicon"
            f" {lexicon.name!r}: use its tags {', '.join(tags)}"
        )
    return lexicon.restrict(codes, wanted)


def resolve(suite: Suite, build: bool = True, missing_ok: bool = False) -> Resolved:
    """Concrete checkpoints and lexicon of ``suite``.

    With ``build`` (the default) a missing organism is trained and a tiny random model built;
    without it, an organism that is not trained yet raises `SuiteError` (used by ``check``).
    Missing local data (lexicon file, globbed directories) raises `MissingData`; with
    ``missing_ok`` a glob that matches nothing yet just adds no checkpoints.
    """
    model = suite.model
    seen, unseen = suite.seen, suite.unseen
    if "organism" in model:
        return resolve_organism(suite, organism_root(model, build))
    if "random" in model:
        lexicon = suite_lexicon(suite)
        checkpoints = (random_checkpoint(suite, lexicon, cache_root(), build),)
    else:
        lexicon = suite_lexicon(suite)
        checkpoints = suite_checkpoints(suite, missing_ok)
    restricted = restrict_lexicon(lexicon, seen + unseen, suite.pos)
    return Resolved(suite, checkpoints, restricted, seen, unseen)


def resolve_organism(suite: Suite, root: Path, manifest: dict | None = None) -> Resolved:
    """``suite`` resolved against the organism in directory ``root``.

    ``manifest`` defaults to ``root/manifest.json``; an organism still in training passes the
    manifest so far (`conceptpatch.organism.train.train`'s ``on_checkpoint``), so that the
    checkpoints written up to now can be computed while training goes on.
    """
    checkpoints, lexicon, languages = read_organism(Path(root), manifest)
    made = suite.constructed
    listed = tuple(c for c in suite.unseen if made is None or c != made.code)
    seen = suite.seen or tuple(code for code, is_seen in languages if is_seen)
    unseen = listed or tuple(code for code, is_seen in languages if not is_seen)
    if made is not None:
        lexicon = with_constructed(lexicon, made)
        unseen = suite.unseen if listed else (*unseen, made.code)
    restricted = restrict_lexicon(lexicon, seen + unseen, suite.pos)
    return Resolved(suite, checkpoints, restricted, seen, unseen)



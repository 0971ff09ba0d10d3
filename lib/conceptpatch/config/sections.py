"""The suite's tables as typed, frozen sections: each key's type and default is declared once here.

A section also records which keys the file gave (``given``): the design hash and the store's
record of the design hash exactly those, so a default spelled out in a file and one left implicit
keep the hashes stores were written under. Validation is in `conceptpatch.config.suite`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar

from conceptpatch.lexicons.core import DEFAULT_POS
from conceptpatch.vocabulary import DType

__all__ = [
    "SOURCES",
    "ClaimsSection",
    "LexiconSection",
    "ModelSection",
    "Section",
    "Source",
    "plain",
    "section",
]

#: Where a suite's checkpoints come from (``[model]``): exactly one of these, except that listed
#: checkpoints and a glob may be combined.
Source = Literal["organism", "random", "checkpoints", "glob"]
SOURCES: tuple[str, ...] = ("organism", "random", "checkpoints", "glob")

S = TypeVar("S", bound="Section")


@dataclass(frozen=True)
class Section:
    """What every section shares: the keys the file gave, and those keys' values as plain data."""

    given: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The keys the file gave, with their (normalised) values: lists, dicts, scalars."""
        return {key: plain(getattr(self, key)) for key in self.given}

    def __contains__(self, key: str) -> bool:
        """Whether the file gave ``key`` (``"glob" in suite.model``)."""
        return key in self.given


def plain(value: Any) -> Any:
    """``value`` as TOML gave it: tuples as lists, tables as dicts."""
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def _frozen(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):  # a plain dict: suites are pickled to workers and deep-copied
        return {k: _frozen(v) for k, v in value.items()}
    return value


def section(cls: type[S], table: Mapping[str, Any]) -> S:
    """``cls`` from a validated TOML table: lists become tuples, tables dicts of their own."""
    known = {f.name for f in fields(cls)} - {"given"}
    unknown = [key for key in table if key not in known]
    if unknown:  # the schema and the section disagree: a bug here, not the user's
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
    return cls(**{k: _frozen(v) for k, v in table.items()}, given=tuple(table))


@dataclass(frozen=True)
class ModelSection(Section):
    """``[model]``: the checkpoint source and how to load each checkpoint."""

    organism: str | None = None
    organism_seed: int = 0
    random: str | None = None
    random_layers: int = 4
    random_hidden: int = 64
    random_pad_vocab: int = 0
    checkpoints: tuple[Mapping[str, Any], ...] = ()
    glob: str | None = None
    step_pattern: str = r"(\d+)"
    tokens_per_step: int = 0
    phases: tuple[Mapping[str, int], ...] = ()
    dtype: DType = "float32"
    device: str = "cpu"
    device_map: str | None = None
    trust_remote_code: bool = False
    batch_size: int | Literal["auto"] = "auto"
    layers_path: str | None = None
    tokenizer: str | None = None

    @property
    def sources(self) -> tuple[Source, ...]:
        """The checkpoint sources the section names (validated: one, or checkpoints and glob)."""
        return tuple(s for s in SOURCES if s in self.given)  # type: ignore[misc]

    @property
    def load_options(self) -> dict[str, Any]:
        """The keyword arguments of `conceptpatch.engine.checkpoints.load_checkpoint` this section
        sets."""
        return {
            "dtype": self.dtype, "device": self.device, "trust_remote_code": self.trust_remote_code,
            "device_map": self.device_map, "layers_path": self.layers_path,
            "tokenizer": self.tokenizer,
        }  # fmt: skip


@dataclass(frozen=True)
class LexiconSection(Section):
    """``[lexicon]``: a built-in lexicon or a file, its format, the parts of speech run and
    tested."""

    builtin: str | None = None
    path: str | None = None
    format: Literal["long_csv", "multisimlex", "concepticon"] = "long_csv"
    pos: str | tuple[str, ...] | None = None
    claims_pos: str | tuple[str, ...] | None = None

    @property
    def pos_tags(self) -> tuple[str, ...] | None:
        """The parts of speech the suite runs; None: the default (nouns where the lexicon tags
        parts of speech, else every concept)."""
        return _tags(self.pos)

    @property
    def claims_pos_tags(self) -> tuple[str, ...] | None:
        """The parts of speech claims are tested on: nouns when the suite runs nouns, unless the
        suite says otherwise; None: every row."""
        if self.claims_pos is not None:
            return _tags(self.claims_pos)
        runs = self.pos_tags
        return (DEFAULT_POS,) if runs is None or DEFAULT_POS in runs else None


def _tags(value: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    return None if value is None else (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class ClaimsSection(Section):
    """``[claims]``: what the claims pre-declare (`conceptpatch.claims.common.Design`) and the
    regression gate's window (earlier checkpoints compared with) and margin (None: the gate
    claim's own SESOI, `conceptpatch.claims.regression.CLAIM`)."""

    band: Literal["early", "mid", "late"] | tuple[int, ...] = "mid"
    reference: str | None = None
    early_fraction: float = 1 / 3
    high_resource: tuple[str, ...] = ()
    low_resource: tuple[str, ...] = ()
    gate_window: int = 2
    gate_margin: float | None = None

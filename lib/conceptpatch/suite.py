"""Suites: a TOML file that says which checkpoints, languages, lexicon, prompts and layers to run.

`parse_suite` validates a TOML document into a frozen `Suite` without loading any model: unknown
keys get a "did you mean", wrong types and values a one-line fix. `resolve` then turns the suite's
model section into concrete checkpoints and its lexicon section into a `Lexicon` (training the
organism or building a tiny random model on first use). The schema is `conceptpatch.suite_schema`;
each checkpoint source is one module of `conceptpatch.sources`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from conceptpatch.checkpoints import DTYPES, Checkpoint
from conceptpatch.errors import ConceptPatchError, MissingData, OrganismNotTrained, SuiteError
from conceptpatch.lexicon import (
    BUILTINS,
    DEFAULT_POS,
    MULTISIMLEX_CODES,
    MULTISIMLEX_URL,
    Lexicon,
    language,
    load_lexicon,
)
from conceptpatch.lexicons.constructed import (
    DEFAULT_CODE,
    PRIVATE_USE,
    Constructed,
    constructed_name,
    name_problem,
    with_constructed,
)
from conceptpatch.lexicons.registry import FORMATS
from conceptpatch.patching import POSITION_MODES
from conceptpatch.prompts import DEFAULT_TEMPLATE, Template
from conceptpatch.sources.glob import glob_checkpoints, glob_missing
from conceptpatch.sources.listed import listed_checkpoints
from conceptpatch.sources.organism import organism_root
from conceptpatch.sources.organism import read_organism as _organism
from conceptpatch.sources.random import random_checkpoint
from conceptpatch.suite_schema import (
    CHECKPOINT_KEYS,
    CHECKPOINT_SOURCES,
    CLAIM_IDS,
    CONSTRUCTED_KEYS,
    INT_RANGES,
    PHASE_KEYS,
    SCHEMA,
    TYPES,
    is_int,
)
from conceptpatch.vocabulary import SETTINGS

__all__ = [
    "SETTINGS",
    "MissingData",
    "OrganismNotTrained",
    "Resolved",
    "Suite",
    "load_suite",
    "missing_data",
    "parse_suite",
    "resolve",
    "resolve_organism",
    "suite_checkpoints",
    "suite_lexicon",
]

#: Version of the trial plan (conceptpatch.trials): 3 is the paper's crossed design (token-disjoint
#: pairings, each crossed with every target pair, examples shared per pairing). Part of the
#: settings hash, so stores of an older plan are never mixed in.
TRIAL_PLAN = 3
SHOTS: tuple[str, ...] = ("per_trial", "per_pair")
#: Which pairs ``seen`` averages over: the paper's rule, or every pair into another output.
SEEN_SOURCES: tuple[str, ...] = ("paper", "other_output")
#: How C and D are paired: no shared first token (the paper's rule), or any two concepts.
PAIRINGS: tuple[str, ...] = ("token_disjoint", "any")
LEXICON_FORMATS: tuple[str, ...] = tuple(FORMATS)


@dataclass(frozen=True)
class Suite:
    """A validated suite. Paths are absolute; ``model`` keeps the raw (validated) model section."""

    name: str
    seed: int
    model: Mapping[str, Any]
    lexicon: Mapping[str, Any]
    seen: tuple[str, ...]
    unseen: tuple[str, ...]
    k: int = 5
    template: Template = field(default_factory=Template)
    shots: str = "per_trial"
    layers: tuple[int, ...] | None = None  # None = all layers
    position: str = "last"
    settings: tuple[str, ...] = ("seen", "en_en", "unpatched")
    max_new_tokens: int = 10
    source_pairs: int | None = None  # None: every eligible pair (the paper)
    seen_sources: str = "paper"
    trials: int = 100  # pairings, each crossed with every target pair
    target_pairs: tuple[str, ...] | None = None  # "in-out"; None: one per output language
    pairing: str = "token_disjoint"
    claims: Mapping[str, Any] = field(default_factory=dict)  # [claims]: what claims pre-declare
    expect: tuple[Mapping[str, str], ...] = ()  # [[expect]]: verdicts a model is known to give
    constructed: Constructed | None = None  # [languages] constructed: an unseen language made up
    description: str = ""
    path: str | None = None

    @property
    def dtype(self) -> str:
        return str(self.model.get("dtype", "float32"))

    @property
    def device(self) -> str:
        return str(self.model.get("device", "cpu"))

    @property
    def load_options(self) -> dict[str, Any]:
        """The keyword arguments of `conceptpatch.checkpoints.load_checkpoint` this suite sets."""
        model = self.model
        return {
            "dtype": self.dtype, "device": self.device,
            "trust_remote_code": bool(model.get("trust_remote_code", False)),
            "device_map": model.get("device_map"), "layers_path": model.get("layers_path"),
            "tokenizer": model.get("tokenizer"),
        }  # fmt: skip

    @property
    def languages(self) -> tuple[str, ...]:
        return self.seen + self.unseen

    @property
    def pos(self) -> tuple[str, ...] | None:
        """The parts of speech the suite runs (``[lexicon] pos``); None: the default (nouns where
        the lexicon tags parts of speech, else every concept)."""
        value = self.lexicon.get("pos")
        return None if value is None else (value,) if isinstance(value, str) else tuple(value)

    @property
    def claims_pos(self) -> tuple[str, ...] | None:
        """The parts of speech claims are tested on (``[lexicon] claims_pos``): nouns when the
        suite runs nouns, unless the suite says otherwise; None: every row."""
        value = self.lexicon.get("claims_pos")
        if value is not None:
            return (value,) if isinstance(value, str) else tuple(value)
        runs = self.pos
        return (DEFAULT_POS,) if runs is None or DEFAULT_POS in runs else None

    def to_dict(self) -> dict[str, Any]:
        """The suite as plain JSON-able data (for hashing, reports and the store)."""
        data = asdict(self)
        data["template"] = {"line": self.template.line, "separator": self.template.separator}
        data["model"] = dict(self.model)
        data["lexicon"] = dict(self.lexicon)
        if self.constructed is None:  # absent: the data (and settings hash) of suites before it
            data.pop("constructed")
        return data

    def design_data(self) -> dict[str, Any]:
        """Everything that determines a unit's rows apart from its checkpoint and setting: what
        `settings_hash` hashes and what a store records of the design that wrote it.

        The list of settings is left out (a unit's rows depend on its own setting only), so
        computing a subset of the settings gives the units the whole suite reads.
        """
        data = self.to_dict()
        for key in ("name", "description", "path", "claims", "expect", "settings"):
            data.pop(key)
        data["trial_plan"] = TRIAL_PLAN
        for key in ("checkpoints", "glob", "phases", "device", "device_map", "batch_size"):
            data["model"].pop(key, None)
        lexicon = Path(data["lexicon"].get("path", ""))
        if lexicon.is_file():  # by content: the same file under another mount, another clone
            data["lexicon"]["path"] = "sha256:" + hashlib.sha256(lexicon.read_bytes()).hexdigest()
        return json.loads(json.dumps(data, sort_keys=True, default=str))

    def settings_hash(self) -> str:
        """Hash of `design_data`: units with another hash belong to another design."""
        blob = json.dumps(self.design_data(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _suggest(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _section(key: str) -> str:
    return f"[{key}]" if key.isprintable() and key.strip() == key else repr(key)


def _check_keys(where: str, table: Mapping[str, Any], schema: Mapping[str, str]) -> None:
    for key, value in table.items():
        if key not in schema:
            hint = _suggest(key, list(schema))
            raise SuiteError(
                f"unknown key {key!r} in {where}{hint}: valid keys are {', '.join(schema)}"
            )
        check, what = TYPES[schema[key]]
        if not check(value):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise SuiteError(f"{where}.{key} must be {what}, got {shown}: fix the suite file")
        _check_range(f"{where}.{key}", key, value)


def _check_range(where: str, key: str, value: Any) -> None:
    if key not in INT_RANGES:
        return
    low, high = INT_RANGES[key]
    for v in value if isinstance(value, list) else [value]:
        if is_int(v) and not low <= v <= high:
            raise SuiteError(f"{where} = {v} is out of range {low}..{high}: fix the suite file")


def _choice(where: str, value: str, options: tuple[str, ...]) -> str:
    if value not in options:
        hint = _suggest(value, list(options))
        raise SuiteError(f"{where} = {value!r} is not known{hint}: use one of {', '.join(options)}")
    return value


def _positive(where: str, value: int) -> int:
    if value < 1:
        raise SuiteError(f"{where} must be at least 1, got {value}: fix the suite file")
    return value


def _validate_model(model: Mapping[str, Any]) -> None:
    sources = [k for k in ("organism", "random", "checkpoints", "glob") if k in model]
    if not sources or (len(sources) > 1 and set(sources) != {"checkpoints", "glob"}):
        raise SuiteError(
            "[model] must name exactly one checkpoint source: organism, random, or checkpoints"
            f" and/or glob (found {', '.join(sources) or 'none'}): keep one of them"
        )
    _choice("model.dtype", str(model.get("dtype", "float32")), tuple(DTYPES))
    device = str(model.get("device", "cpu"))
    if not re.fullmatch(r"cpu|mps|(cuda|xpu)(:\d+)?", device):
        hint = ' (did you mean "cuda"?)' if device.startswith("gpu") else ""
        raise SuiteError(
            f"model.device {device!r} is not a torch device{hint}: use \"cpu\", \"cuda\","
            ' "cuda:1", ... or "mps"'
        )
    if "random" in model:
        from conceptpatch.tiny import ARCHITECTURES

        _choice("model.random", model["random"], tuple(ARCHITECTURES))
    for i, entry in enumerate(model.get("checkpoints", [])):
        _check_keys(f"model.checkpoints[{i}]", entry, CHECKPOINT_KEYS)
        given = [k for k in CHECKPOINT_SOURCES if k in entry]
        if len(given) != 1:
            raise SuiteError(
                f"model.checkpoints[{i}] must have exactly one of path, hub, gguf or gguf_package"
                f" (found {', '.join(given) or 'none'}): give a local directory, a hub id (with"
                " revision), a .gguf file, or a package that holds or assembles one"
            )
    names = [e.get("name") or e.get("revision") or next(e[k] for k in CHECKPOINT_SOURCES
                                                         if k in e)
             for e in model.get("checkpoints", []) if any(k in e for k in CHECKPOINT_SOURCES)]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SuiteError(
            f"model.checkpoints has duplicate names {', '.join(map(str, duplicated))}:"
            " give each checkpoint a unique name"
        )
    for i, entry in enumerate(model.get("phases", [])):
        _check_keys(f"model.phases[{i}]", entry, PHASE_KEYS)
        missing = [k for k in PHASE_KEYS if k not in entry]
        if missing:
            raise SuiteError(
                f"model.phases[{i}] lacks {', '.join(missing)}: give each phase from_step and"
                " phase, e.g. {from_step = 1000, phase = 2}"
            )
    if "step_pattern" in model:
        try:
            groups = re.compile(model["step_pattern"]).groups
        except (re.error, RecursionError, OverflowError) as err:
            raise SuiteError(f"model.step_pattern is not a valid regex ({err}): fix it") from None
        if groups < 1:
            raise SuiteError(
                "model.step_pattern has no group: capture the step number, e.g. 'step(\\d+)'"
            )


def _local(base: Path, path: str) -> str:
    """A suite's local path: ``~`` and ``$VARS`` expanded, relative to the suite's folder."""
    return os.path.normpath(base / os.path.expanduser(os.path.expandvars(path)))


def parse_suite(data: Mapping[str, Any], base: Path | None = None, name: str = "suite") -> Suite:
    """Validate a parsed TOML document into a `Suite`; ``base`` resolves relative paths."""
    if not isinstance(data, Mapping):
        raise SuiteError("a suite must be a TOML table: see suites/tiny-random.toml for the format")
    for key, value in data.items():
        if not isinstance(key, str):
            raise SuiteError(f"suite key {key!r} is not a string: fix the suite file")
        if key in SCHEMA and key and not isinstance(value, dict):
            raise SuiteError(
                f"[{key}] must be a table, got {type(value).__name__}: write it as a [{key}]"
                " section"
            )
    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in data.items() if isinstance(v, dict)}
    for key in sections:
        if key not in SCHEMA or key == "":
            hint = _suggest(key, [s for s in SCHEMA if s])
            raise SuiteError(
                f"unknown section {_section(key)}{hint}: valid sections are"
                f" {', '.join(s for s in SCHEMA if s)}"
            )
    _check_keys("the top level", top, SCHEMA[""])
    for key, table in sections.items():
        _check_keys(f"[{key}]", table, SCHEMA[key])
    model = dict(sections.get("model", {}))
    _validate_model(model)
    base = base or Path.cwd()
    if "glob" in model:
        model["glob"] = _local(base, model["glob"])
    if "tokenizer" in model and Path(_local(base, model["tokenizer"])).exists():
        model["tokenizer"] = _local(base, model["tokenizer"])  # a local folder, else a hub id
    if "checkpoints" in model:
        model["checkpoints"] = [
            {**e, **{k: _local(base, e[k]) for k in ("path", "gguf") if k in e}}
            for e in model["checkpoints"]
        ]
    lexicon = dict(sections.get("lexicon", {}))
    if "builtin" in lexicon and "path" in lexicon:
        raise SuiteError("[lexicon] names both builtin and path: keep one of them")
    if "builtin" in lexicon:
        _choice("lexicon.builtin", lexicon["builtin"], BUILTINS)
    for key in ("pos", "claims_pos"):
        tags = [lexicon[key]] if isinstance(lexicon.get(key), str) else lexicon.get(key, ["x"])
        if not tags or not all(t.strip() for t in tags):
            raise SuiteError(
                f'lexicon.{key} is empty: name parts of speech such as "nouns" or drop the key'
            )
    if "path" in lexicon:
        lexicon["path"] = _local(base, lexicon["path"])
    _choice("lexicon.format", lexicon.get("format", "long_csv"), LEXICON_FORMATS)
    if not lexicon and "organism" not in model:
        raise SuiteError('the suite has no [lexicon]: add builtin = "cldr" or path = "lexicon.csv"')
    languages = sections.get("languages", {})
    seen = tuple(languages.get("seen", ()))
    unseen = tuple(languages.get("unseen", ()))
    made = _constructed(languages.get("constructed"), seen)
    real = [c for c in seen + unseen if made is None or c != made.code]
    for code in seen + unseen:
        try:
            language(code)
        except ConceptPatchError as err:
            raise SuiteError(f"[languages]: {err}{_language_hint(code)}") from None
    if lexicon.get("format") == "multisimlex":
        absent = [c for c in real if c not in MULTISIMLEX_CODES.values()]
        if absent:
            raise SuiteError(
                f"[languages] {', '.join(absent)} not in Multi-SimLex: use its languages"
                f" {', '.join(MULTISIMLEX_CODES.values())}"
            )
    if lexicon.get("builtin") == "multisimlex":
        listed = [c for c in MULTISIMLEX_CODES.values() if c != "sw"]
        absent = [c for c in real if c not in listed]
        if absent:
            extra = (
                ': Swahili is only in translation.csv (path = "translation.csv",'
                f' format = "multisimlex", from {MULTISIMLEX_URL})'
                if absent == ["sw"]
                else f": use its languages {', '.join(listed)}"
            )
            raise SuiteError(
                f"[languages] {', '.join(absent)} not in the built-in Multi-SimLex list{extra}"
            )
    repeated = sorted({c for group in (seen, unseen) for c in group if group.count(c) > 1})
    if repeated:
        raise SuiteError(f"[languages] lists {', '.join(repeated)} twice: list each code once")
    both = sorted(set(seen) & set(unseen))
    if both:
        raise SuiteError(f"languages {', '.join(both)} are both seen and unseen: keep them in one")
    if not seen and "organism" not in model:
        raise SuiteError("[languages] seen is empty: list at least two seen language codes")
    if made is not None and made.code not in unseen:
        unseen += (made.code,)  # unseen by construction: listing it only places it
    prompt = sections.get("prompt", {})
    patch = sections.get("patch", {})
    sample = sections.get("sample", {})
    settings = tuple(patch.get("settings", ("seen", "en_en", "unpatched")))
    for s in settings:
        _choice("patch.settings entry", s, SETTINGS)
    layers = patch.get("layers", "all")
    if layers == []:
        raise SuiteError('patch.layers is empty: list the first patched layers, or "all"')
    try:
        template = Template(
            line=prompt.get("template", DEFAULT_TEMPLATE), separator=prompt.get("separator", "\n")
        )
    except ConceptPatchError as err:
        raise SuiteError(f"[prompt] {err}") from None
    return Suite(
        name=_suite_name(data.get("name"), name),
        seed=int(data.get("seed", 0)),
        description=str(data.get("description", "")),
        model=model,
        lexicon=lexicon,
        seen=seen,
        unseen=unseen,
        k=_positive("prompt.k", prompt.get("k", 5)) if prompt.get("k", 5) != 0 else 0,
        template=template,
        shots=_choice("prompt.shots", prompt.get("shots", "per_trial"), SHOTS),
        layers=None if layers == "all" else tuple(layers),
        position=_choice("patch.position", patch.get("position", "last"), POSITION_MODES),
        settings=settings,
        max_new_tokens=_positive("patch.max_new_tokens", patch.get("max_new_tokens", 10)),
        source_pairs=(None if patch.get("source_pairs", "all") == "all"
                      else _positive("patch.source_pairs", patch["source_pairs"])),
        seen_sources=_choice("patch.seen_sources", patch.get("seen_sources", "paper"),
                             SEEN_SOURCES),
        trials=_positive("sample.trials", sample.get("trials", 100)),
        target_pairs=_target_pairs(sample.get("target_pairs"), seen, unseen),
        pairing=_choice("sample.pairing", sample.get("pairing", "token_disjoint"), PAIRINGS),
        claims=dict(sections.get("claims", {})),
        expect=_expectations(data.get("expect", [])),
        constructed=made,
    )


def _constructed(table: Mapping[str, Any] | None, seen: tuple[str, ...]) -> Constructed | None:
    """``[languages] constructed``: a private-use code (default qcl), a name, a seed (default 0)."""
    if table is None:
        return None
    where = "languages.constructed"
    _check_keys(where, table, CONSTRUCTED_KEYS)
    code, seed = table.get("code", DEFAULT_CODE), int(table.get("seed", 0))
    if not PRIVATE_USE.fullmatch(code):
        raise SuiteError(f"{where}.code {code!r} is not a private-use code: use one of qaa-qtz"
                         f' (e.g. "{DEFAULT_CODE}"), which no real language has')
    if code in seen:
        raise SuiteError(f"{where}.code {code!r} is listed in seen: a constructed language is"
                         " unseen by construction; remove it from seen")
    name = table.get("name", constructed_name(seed))
    problem = name_problem(name)
    if problem is not None:
        raise SuiteError(f"{where}.name {name!r} {problem}: give a plain name such as \"Veltish\""
                         " or drop it (one is derived from the seed)")
    return Constructed(code, name, seed)


def _target_pairs(
    entries: list[str] | None, seen: tuple[str, ...], unseen: tuple[str, ...]
) -> tuple[str, ...] | None:
    """``[sample] target_pairs``: "in-out" pairs, input seen, output any language of the suite."""
    if entries is None:
        return None
    if not entries:
        raise SuiteError("sample.target_pairs is empty: list pairs such as \"fr-de\", or drop it")
    out = []
    for entry in entries:
        parts = entry.split("-")
        if len(parts) != 2 or not all(parts):
            raise SuiteError(f"sample.target_pairs entry {entry!r} is not \"in-out\" (e.g."
                             " \"fr-de\"): write the input and output codes joined by '-'")
        src, dst = parts
        if seen and src not in seen:
            raise SuiteError(f"sample.target_pairs {entry!r}: input {src!r} is not a seen language"
                             f" ({', '.join(seen)}): use a seen input")
        if seen and dst not in seen + unseen:
            raise SuiteError(f"sample.target_pairs {entry!r}: output {dst!r} is not a language of"
                             " the suite: add it to [languages] or fix the pair")
        if src == dst:
            raise SuiteError(f"sample.target_pairs {entry!r} translates a language into itself:"
                             " use two different languages")
        if entry in out:
            raise SuiteError(f"sample.target_pairs lists {entry!r} twice: list each pair once")
        out.append(entry)
    return tuple(out)


#: A suite name: one folder name (the default store and report are named after it) of letters and
#: digits of any script, inner spaces and . _ - + ( ), starting with a letter or digit.
_SAFE_NAME = re.compile(r"[^\W_](?:[\w .+()-]{0,98}[\w.+()-])?")


def _suite_name(given: str | None, stem: str) -> str:
    """The suite's ``name`` (else the file's stem), refused unless it is a safe folder name: a
    name such as "../x" or "/tmp/x" would put the default store and report outside their place."""
    name = stem if given is None else given
    if _SAFE_NAME.fullmatch(name):
        return name
    shown = repr(name) if len(name) <= 60 else repr(name[:57]) + "..."
    where = f"name = {shown}" if given is not None else f"the file name gives name {shown}"
    fix = "fix the name" if given is not None else "set name = \"...\" in the suite"
    raise SuiteError(
        f"suite {where} is not a safe folder name (it names the default store and report"
        " folders): use letters, digits, inner spaces and . _ - + ( ), starting with a letter"
        f" or digit, at most 100 characters; {fix}"
    )


_EXPECT_KEYS: dict[str, str] = {"claim": "str", "case": "str", "verdict": "str", "reason": "str"}


def _expectations(entries: list[Mapping[str, Any]]) -> tuple[Mapping[str, str], ...]:
    """``[[expect]]`` entries: claim, optional case, the verdict the model gives, and why."""
    out = []
    for i, entry in enumerate(entries):
        _check_keys(f"expect[{i}]", entry, _EXPECT_KEYS)
        missing = [k for k in ("claim", "verdict", "reason") if not entry.get(k)]
        if missing:
            raise SuiteError(f"expect[{i}] lacks {', '.join(missing)}: give claim, verdict and the "
                             "measured reason (case is optional)")
        _choice(f"expect[{i}].verdict", entry["verdict"], ("supported", "refuted", "inconclusive"))
        _choice(f"expect[{i}].claim", entry["claim"], CLAIM_IDS)
        out.append(dict(entry))
    return tuple(out)


def _language_hint(code: str) -> str:
    """A "did you mean" for a language name or misspelt code, e.g. "english" -> "en"."""
    import langcodes

    try:
        found = langcodes.find(code).language
    except (LookupError, ValueError, TypeError):
        return ""
    return f" (did you mean {found!r}?)" if found else ""


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM: Windows editors
    except FileNotFoundError:
        raise SuiteError(f"suite file {str(path)!r} does not exist: check the path") from None
    except IsADirectoryError:
        raise SuiteError(f"suite {str(path)!r} is a directory: pass a .toml file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SuiteError(f"suite file {str(path)!r} cannot be read ({err}): fix it") from None
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as err:
        raise SuiteError(
            f"suite file {str(path)!r} is not valid TOML ({err}): fix the syntax"
        ) from None
    except RecursionError:
        raise SuiteError(
            f"suite file {str(path)!r} nests arrays or tables too deeply: fix the syntax"
        ) from None
    suite = parse_suite(data, base=path.parent.resolve(), name=path.stem)
    return Suite(**{**suite.__dict__, "path": str(path.resolve())})


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
    found = list(listed_checkpoints(model)) if "checkpoints" in model else []
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


def _lexicon_missing(spec: Mapping[str, Any]) -> str | None:
    """The download instruction for a Multi-SimLex file the suite names but lacks, else None.

    Other lexicon files are the user's own: a missing one is a wrong path, an error.
    """
    if spec.get("format") != "multisimlex" or "path" not in spec or Path(spec["path"]).exists():
        return None
    return (
        f"Multi-SimLex file {spec['path']!r} is missing: download translation.csv from"
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
    if "builtin" in spec:
        lexicon = load_lexicon(spec["builtin"])
    else:
        missing = _lexicon_missing(spec)
        if missing is not None:
            raise MissingData(missing)
        lexicon = load_lexicon(spec["path"], spec.get("format", "long_csv"), pos=None)
    return lexicon if suite.constructed is None else with_constructed(lexicon, suite.constructed)


def _restrict(
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
    from conceptpatch.paths import cache_root

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
    restricted = _restrict(lexicon, seen + unseen, suite.pos)
    return Resolved(suite, checkpoints, restricted, seen, unseen)


def resolve_organism(suite: Suite, root: Path, manifest: dict | None = None) -> Resolved:
    """``suite`` resolved against the organism in directory ``root``.

    ``manifest`` defaults to ``root/manifest.json``; an organism still in training passes the
    manifest so far (`conceptpatch.organism.train.train`'s ``on_checkpoint``), so that the
    checkpoints written up to now can be computed while training goes on.
    """
    checkpoints, lexicon, languages = _organism(Path(root), manifest)
    made = suite.constructed
    listed = tuple(c for c in suite.unseen if made is None or c != made.code)
    seen = suite.seen or tuple(code for code, is_seen in languages if is_seen)
    unseen = listed or tuple(code for code, is_seen in languages if not is_seen)
    if made is not None:
        lexicon = with_constructed(lexicon, made)
        unseen = suite.unseen if listed else (*unseen, made.code)
    restricted = _restrict(lexicon, seen + unseen, suite.pos)
    return Resolved(suite, checkpoints, restricted, seen, unseen)



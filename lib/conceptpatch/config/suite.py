"""Suites: a TOML file that says which checkpoints, languages, lexicon, prompts and layers to run.

`parse_suite` validates a TOML document into a frozen `Suite` without loading any model or torch:
unknown keys get a "did you mean", wrong types and values a one-line fix, one validator per
section. Its typed sections and their defaults are `conceptpatch.config.sections`; the keys and
their types are `conceptpatch.config.schema`. `conceptpatch.resolve` then makes a suite concrete.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import tomllib

from conceptpatch.config.schema import (
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
from conceptpatch.config.sections import (
    SOURCES,
    ClaimsSection,
    LexiconSection,
    ModelSection,
    section,
)
from conceptpatch.errors import ConceptPatchError, SuiteError
from conceptpatch.lexicons.constructed import (
    DEFAULT_CODE,
    PRIVATE_USE,
    Constructed,
    constructed_name,
    name_problem,
)
from conceptpatch.lexicons.core import language
from conceptpatch.lexicons.multisimlex import MULTISIMLEX_CODES, MULTISIMLEX_URL
from conceptpatch.lexicons.registry import BUILTINS, FORMATS
from conceptpatch.prompts import DEFAULT_TEMPLATE, Template
from conceptpatch.vocabulary import (
    DTYPE_NAMES,
    POSITION_MODES,
    RANDOM_ARCHITECTURES,
    SETTINGS,
    PositionMode,
)

__all__ = [
    "PAIRINGS",
    "SEEN_SOURCES",
    "SETTINGS",
    "SHOTS",
    "TRIAL_PLAN",
    "Suite",
    "load_suite",
    "parse_suite",
    "stage_pairings",
    "suite_layers",
]

#: Version of the trial plan (conceptpatch.trials): 3 is the paper's crossed design (token-disjoint
#: pairings, each crossed with every target pair, examples shared per pairing). Part of the
#: settings hash, so stores of an older plan are never mixed in.
TRIAL_PLAN = 3
#: The most looks a sequential design (``sample.stages``) may take.
MAX_LOOKS = 8
Shots = Literal["per_trial", "per_pair"]
SHOTS: tuple[str, ...] = get_args(Shots)
#: Which pairs ``seen`` averages over: the paper's rule, or every pair into another output.
SeenSources = Literal["paper", "other_output"]
SEEN_SOURCES: tuple[str, ...] = get_args(SeenSources)
#: How C and D are paired: no shared first token (the paper's rule), or any two concepts.
Pairing = Literal["token_disjoint", "any"]
PAIRINGS: tuple[str, ...] = get_args(Pairing)
LEXICON_FORMATS: tuple[str, ...] = tuple(FORMATS)


@dataclass(frozen=True)
class Suite:
    """A validated suite. Paths are absolute; ``model``, ``lexicon`` and ``claims`` are typed
    sections (`conceptpatch.config.sections`) that also know which keys the file gave."""

    name: str
    seed: int
    model: ModelSection
    lexicon: LexiconSection
    seen: tuple[str, ...]
    unseen: tuple[str, ...]
    k: int = 5
    template: Template = field(default_factory=Template)
    shots: Shots = "per_trial"
    layers: tuple[int, ...] | None = None  # None = all layers
    position: PositionMode = "last"
    settings: tuple[str, ...] = ("seen", "en_en", "unpatched")
    max_new_tokens: int = 10
    source_pairs: int | None = None  # None: every eligible pair (the paper)
    seen_sources: SeenSources = "paper"
    trials: int = 100  # pairings, each crossed with every target pair
    stages: tuple[int, ...] | None = None  # sequential: pairings at each look; None: fixed
    target_pairs: tuple[str, ...] | None = None  # "in-out"; None: one per output language
    pairing: Pairing = "token_disjoint"
    claims: ClaimsSection = field(default_factory=ClaimsSection)  # [claims]: pre-declared
    expect: tuple[Mapping[str, str], ...] = ()  # [[expect]]: verdicts a model is known to give
    constructed: Constructed | None = None  # [languages] constructed: an unseen language made up
    description: str = ""
    path: str | None = None

    @property
    def dtype(self) -> str:
        return self.model.dtype

    @property
    def device(self) -> str:
        return self.model.device

    @property
    def load_options(self) -> dict[str, Any]:
        """The keyword arguments of `conceptpatch.engine.checkpoints.load_checkpoint` this suite
        sets."""
        return self.model.load_options

    @property
    def languages(self) -> tuple[str, ...]:
        return self.seen + self.unseen

    @property
    def pos(self) -> tuple[str, ...] | None:
        """The parts of speech the suite runs (``[lexicon] pos``); None: the default (nouns where
        the lexicon tags parts of speech, else every concept)."""
        return self.lexicon.pos_tags

    @property
    def claims_pos(self) -> tuple[str, ...] | None:
        """The parts of speech claims are tested on (``[lexicon] claims_pos``): nouns when the
        suite runs nouns, unless the suite says otherwise; None: every row."""
        return self.lexicon.claims_pos_tags

    def to_dict(self) -> dict[str, Any]:
        """The suite as plain JSON-able data (for hashing, reports and the store): the sections
        hold the keys the file gave, never a default it left out."""
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data["template"] = {"line": self.template.line, "separator": self.template.separator}
        for key in ("model", "lexicon", "claims"):
            data[key] = getattr(self, key).to_dict()
        data["expect"] = [dict(e) for e in self.expect]
        if self.constructed is None:  # absent: the data (and settings hash) of suites before it
            data.pop("constructed")
        else:
            data["constructed"] = asdict(self.constructed)
        if self.stages is None:  # a fixed design: the data (and settings hash) it always had
            data.pop("stages")
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


def suite_layers(suite: Suite, n_layers: int) -> list[int]:
    """The first patch layers a suite sweeps on a model with ``n_layers`` decoder layers."""
    if suite.layers is None:
        return list(range(n_layers))
    bad = [j for j in suite.layers if not -n_layers <= j < n_layers]
    if bad:
        raise SuiteError(
            f"patch.layers {bad} out of range for a model with {n_layers} layers: use 0.."
            f"{n_layers - 1} (or negative indices from the end)"
        )
    return sorted({j % n_layers for j in suite.layers})


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


def _model(table: Mapping[str, Any], base: Path) -> ModelSection:
    """``[model]``: one checkpoint source, a torch dtype and device, valid checkpoint entries,
    phases and step pattern; local paths made absolute against ``base``."""
    given = [k for k in SOURCES if k in table]
    if not given or (len(given) > 1 and set(given) != {"checkpoints", "glob"}):
        raise SuiteError(
            "[model] must name exactly one checkpoint source: organism, random, or checkpoints"
            f" and/or glob (found {', '.join(given) or 'none'}): keep one of them"
        )
    model = dict(table)
    defaults = ModelSection()
    _choice("model.dtype", str(model.get("dtype", defaults.dtype)), DTYPE_NAMES)
    device = str(model.get("device", defaults.device))
    if not re.fullmatch(r"cpu|mps|(cuda|xpu)(:\d+)?", device):
        hint = ' (did you mean "cuda"?)' if device.startswith("gpu") else ""
        raise SuiteError(
            f"model.device {device!r} is not a torch device{hint}: use \"cpu\", \"cuda\","
            ' "cuda:1", ... or "mps"'
        )
    if "random" in model:
        _choice("model.random", model["random"], RANDOM_ARCHITECTURES)
    _checkpoint_entries(model.get("checkpoints", []))
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
    if "glob" in model:
        model["glob"] = _local(base, model["glob"])
    if "tokenizer" in model and Path(_local(base, model["tokenizer"])).exists():
        model["tokenizer"] = _local(base, model["tokenizer"])  # a local folder, else a hub id
    if "checkpoints" in model:
        model["checkpoints"] = [
            {**e, **{k: _local(base, e[k]) for k in ("path", "gguf") if k in e}}
            for e in model["checkpoints"]
        ]
    return section(ModelSection, model)


def _checkpoint_entries(entries: list[Mapping[str, Any]]) -> None:
    """``[[model.checkpoints]]``: known keys, exactly one source each, unique names."""
    for i, entry in enumerate(entries):
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
             for e in entries if any(k in e for k in CHECKPOINT_SOURCES)]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise SuiteError(
            f"model.checkpoints has duplicate names {', '.join(map(str, duplicated))}:"
            " give each checkpoint a unique name"
        )


def _local(base: Path, path: str) -> str:
    """A suite's local path: ``~`` and ``$VARS`` expanded, relative to the suite's folder."""
    return os.path.normpath(base / os.path.expanduser(os.path.expandvars(path)))


def _lexicon(table: Mapping[str, Any], base: Path, model: ModelSection) -> LexiconSection:
    """``[lexicon]``: a built-in or a file (absolute against ``base``) in a known format, and
    non-empty part-of-speech lists; only the organism brings its own lexicon."""
    lexicon = dict(table)
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
    _choice("lexicon.format", lexicon.get("format", LexiconSection().format), LEXICON_FORMATS)
    if not lexicon and "organism" not in model:
        raise SuiteError('the suite has no [lexicon]: add builtin = "cldr" or path = "lexicon.csv"')
    return section(LexiconSection, lexicon)


def _languages(
    table: Mapping[str, Any], lexicon: LexiconSection, model: ModelSection
) -> tuple[tuple[str, ...], tuple[str, ...], Constructed | None]:
    """``[languages]``: seen and unseen codes (known, once each, in the lexicon's languages) and
    a constructed unseen language, which joins ``unseen`` when not listed there."""
    seen = tuple(table.get("seen", ()))
    unseen = tuple(table.get("unseen", ()))
    made = _constructed(table.get("constructed"), seen)
    real = [c for c in seen + unseen if made is None or c != made.code]
    for code in seen + unseen:
        try:
            language(code)
        except ConceptPatchError as err:
            raise SuiteError(f"[languages]: {err}{_language_hint(code)}") from None
    if lexicon.format == "multisimlex":
        absent = [c for c in real if c not in MULTISIMLEX_CODES.values()]
        if absent:
            raise SuiteError(
                f"[languages] {', '.join(absent)} not in Multi-SimLex: use its languages"
                f" {', '.join(MULTISIMLEX_CODES.values())}"
            )
    if lexicon.builtin == "multisimlex":
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
    return seen, unseen, made


def _prompt(table: Mapping[str, Any]) -> dict[str, Any]:
    """``[prompt]``: the number of examples, the line template and how examples are drawn."""
    defaults = Suite.__dataclass_fields__
    k = table.get("k", defaults["k"].default)
    try:
        template = Template(line=table.get("template", DEFAULT_TEMPLATE),
                            separator=table.get("separator", "\n"))
    except ConceptPatchError as err:
        raise SuiteError(f"[prompt] {err}") from None
    return {
        "k": _positive("prompt.k", k) if k != 0 else 0,
        "template": template,
        "shots": _choice("prompt.shots", table.get("shots", defaults["shots"].default), SHOTS),
    }


def _patch(table: Mapping[str, Any]) -> dict[str, Any]:
    """``[patch]``: the first patched layers, the position, the source settings, the answer's
    length and the source pairs averaged."""
    defaults = Suite.__dataclass_fields__
    settings = tuple(table.get("settings", defaults["settings"].default))
    for s in settings:
        _choice("patch.settings entry", s, SETTINGS)
    layers = table.get("layers", "all")
    if layers == []:
        raise SuiteError('patch.layers is empty: list the first patched layers, or "all"')
    pairs = table.get("source_pairs", "all")
    return {
        "layers": None if layers == "all" else tuple(layers),
        "position": _choice("patch.position", table.get("position", defaults["position"].default),
                            POSITION_MODES),
        "settings": settings,
        "max_new_tokens": _positive(
            "patch.max_new_tokens", table.get("max_new_tokens", defaults["max_new_tokens"].default)
        ),
        "source_pairs": None if pairs == "all" else _positive("patch.source_pairs", pairs),
        "seen_sources": _choice("patch.seen_sources",
                                table.get("seen_sources", defaults["seen_sources"].default),
                                SEEN_SOURCES),
    }


def _sample(table: Mapping[str, Any], seen: tuple[str, ...],
            unseen: tuple[str, ...]) -> dict[str, Any]:
    """``[sample]``: pairings, target pairs and how C and D are paired."""
    defaults = Suite.__dataclass_fields__
    stages = table.get("stages")
    trials = table.get("trials", stages[-1] if isinstance(stages, list) else
                       defaults["trials"].default)
    trials = _positive("sample.trials", trials)
    return {
        "trials": trials,
        "stages": None if stages is None else stage_pairings(stages, trials),
        "target_pairs": _target_pairs(table.get("target_pairs"), seen, unseen),
        "pairing": _choice("sample.pairing", table.get("pairing", defaults["pairing"].default),
                           PAIRINGS),
    }


def stage_pairings(value: int | list[int], trials: int) -> tuple[int, ...]:
    """``sample.stages``: the pairings computed by each look of a sequential design, the last
    being ``sample.trials``. An integer K halves back from ``trials``: K = 3 at 100 trials looks
    at 25, 50 and 100 pairings."""
    if isinstance(value, int):
        if not 2 <= value <= MAX_LOOKS:
            raise SuiteError(f"sample.stages = {value}: a sequential design has 2 to {MAX_LOOKS}"
                             " looks; give their number or list their pairing counts")
        looks = tuple(max(1, round(trials / 2 ** (value - 1 - i))) for i in range(value))
        if len(set(looks)) < value:
            raise SuiteError(f"sample.stages = {value} halves sample.trials = {trials} below one"
                             " pairing: use fewer looks or more trials")
        return looks
    looks = tuple(value)
    if len(looks) < 2 or len(looks) > MAX_LOOKS:
        raise SuiteError(f"sample.stages {list(looks)}: a sequential design has 2 to {MAX_LOOKS}"
                         " looks; list that many pairing counts (or drop the key: a fixed design)")
    if looks[0] < 1 or any(b <= a for a, b in itertools.pairwise(looks)):
        raise SuiteError(f"sample.stages {list(looks)} must increase from at least 1 pairing:"
                         " list each look's pairings in order, e.g. [25, 50, 100]")
    if looks[-1] != trials:
        raise SuiteError(f"sample.stages {list(looks)} ends at {looks[-1]} pairings but"
                         f" sample.trials (or --trials) is {trials}: the last look is the whole"
                         " plan, so end the stages at it (or give the number of looks instead)")
    return looks


def _tables(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The document's top-level keys and its sections, each checked against the schema."""
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
    return top, sections


def parse_suite(data: Mapping[str, Any], base: Path | None = None, name: str = "suite") -> Suite:
    """Validate a parsed TOML document into a `Suite`; ``base`` resolves relative paths."""
    top, sections = _tables(data)
    base = base or Path.cwd()
    model = _model(sections.get("model", {}), base)
    lexicon = _lexicon(sections.get("lexicon", {}), base, model)
    seen, unseen, made = _languages(sections.get("languages", {}), lexicon, model)
    return Suite(
        name=_suite_name(top.get("name"), name),
        seed=int(top.get("seed", 0)),
        description=str(top.get("description", "")),
        model=model,
        lexicon=lexicon,
        seen=seen,
        unseen=unseen,
        **_prompt(sections.get("prompt", {})),
        **_patch(sections.get("patch", {})),
        **_sample(sections.get("sample", {}), seen, unseen),
        claims=section(ClaimsSection, sections.get("claims", {})),
        expect=_expectations(top.get("expect", [])),
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
    return replace(suite, path=str(path.resolve()))



"""What ``conceptpatch run`` will do before it does it: the suite with the command line's
overrides of its keys, and the dry run that lists each unit as done or to compute."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomllib

from conceptpatch.config.suite import Suite, load_suite, parse_suite, suite_layers
from conceptpatch.errors import CheckpointError, ConceptPatchError, OrganismNotTrained, SuiteError
from conceptpatch.resolve import resolve
from conceptpatch.sources import gguf
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.local import (
    check_folder,
    check_tokenizer_code,
    config_layers,
    remote_code_error,
)

__all__ = ["checkpoint_problems", "dry_run", "layers_arg", "list_arg", "preflight",
           "with_overrides"]


def with_overrides(path: str | Path, *, device: str | None = None, dtype: str | None = None,
                   trials: int | None = None, layers: str | list[int] | None = None,
                   settings: list[str] | None = None) -> Suite:
    """The suite at ``path`` with the given keys replaced, validated as if the TOML file said so
    (a bad value is the same one-line error); None leaves a key as the file has it."""
    suite = load_suite(path)
    given = {
        "model": {"device": device, "dtype": dtype},
        "sample": {"trials": trials},
        "patch": {"layers": layers, "settings": settings},
    }
    given = {sec: {k: v for k, v in keys.items() if v is not None} for sec, keys in given.items()}
    if not any(given.values()):
        return suite
    path = Path(path)
    data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    for section, keys in given.items():  # each alone first: an error names its option
        for key, value in keys.items():
            _parse_with(data, path, {section: {key: value}}, f"{_OPTIONS[key]} {_shown(value)}")
    merged = _parse_with(data, path, given, "the command line's overrides")
    return dataclasses.replace(merged, path=suite.path)


#: The suite key each ``run`` option overrides -> the option.
_OPTIONS = {"device": "--device", "dtype": "--dtype", "trials": "--trials", "layers": "--layers",
            "settings": "--settings"}


def _shown(value: Any) -> str:
    """An override's value as the command line spelt it."""
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return text or "''"


def _parse_with(data: dict[str, Any], path: Path, given: dict[str, dict[str, Any]],
                source: str) -> Suite:
    """The suite ``data`` with ``given`` keys replaced; a bad value is a `SuiteError` that blames
    ``source`` (the option that gave it), not the suite file."""
    merged = {**data, **{sec: {**data.get(sec, {}), **keys} for sec, keys in given.items()}}
    try:
        return parse_suite(merged, base=path.parent.resolve(), name=path.stem)
    except SuiteError as err:
        text = str(err).replace("fix the suite file", f"fix {source.split()[0]}")
        raise SuiteError(f"{source}: {text}") from None


def layers_arg(text: str) -> str | list[int]:
    """``--layers``: "all" or comma-separated first patched layers."""
    if text == "all":
        return "all"
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--layers {text!r} is not 'all' or comma-separated integers like 0,6,12"
        ) from None


def list_arg(text: str) -> list[str]:
    """A comma-separated list of names."""
    return [part.strip() for part in text.split(",") if part.strip()]


def dry_run(suite: Suite, store: Path | str, checkpoints: Sequence[str] | None = None,
            shard: tuple[int, int] | None = None, heading: str = "dry run of",
            resolved: Any = None) -> int:
    """Print the units a run would compute (done / to compute) and the forwards they take;
    ``resolved``: the suite already resolved and its checkpoints checked (``check`` has done
    both); otherwise the checkpoints to compute are checked as `preflight` does."""
    from conceptpatch.compute import plan_units
    from conceptpatch.results import Store, StoreDesign
    from conceptpatch.trials import count_trials, setting_work

    checked = resolved is not None  # `check` has checked its checkpoints already
    try:
        resolved = resolved or resolve(suite, build=False, missing_ok=True)
    except OrganismNotTrained as err:
        print(f"{heading.split()[0]}: {err}; `conceptpatch run` would train it first")
        return 0
    units = plan_units(resolved, checkpoints, shard)
    target = Store(Path(store)) if Path(str(store)).is_dir() else None
    if target is not None:  # read only: a dry run writes nothing, not even the store's marker
        target.check_design(StoreDesign.of(suite))
    digest = suite.settings_hash()
    if not checked:  # what the run would die of, refused as the run refuses it
        raise_problems(checkpoint_problems(suite, _to_compute(units, target, digest)))
    trials = count_trials(resolved)
    per_layer = "every layer" if suite.layers is None else f"{len(suite.layers)} layers"
    todo = 0
    print(f"{heading} {suite.name}: {len(units)} unit(s), {trials} trials each, store {store}")
    for unit in units:
        done = target is not None and target.has(unit.checkpoint.name, unit.setting, digest)
        todo += not done
        patched = unit.setting != "unpatched"
        runs, sources = setting_work(resolved, unit.setting)
        work = (f"{runs} x {per_layer} patched generations, {sources} source prompts"
                if patched else f"{runs} generations")
        print(f"  {'done   ' if done else 'compute'} {unit.checkpoint.name}/{unit.setting}: {work}")
    print(f"{todo} unit(s) to compute; nothing was loaded. Time depends on model and device:"
          " measured rates are in docs/real-models.md and benchmarks/throughput.py")
    if target is not None:
        planned = {target.unit_path(u.checkpoint.name, u.setting) for u in units}
        others = [p for p in target.units() if p not in planned]
        if others:
            names = ", ".join(f"{p.parent.name}/{p.stem}" for p in others[:6])
            more = f" and {len(others) - 6} more" if len(others) > 6 else ""
            print(f"  also in the store, not read for this plan: {len(others)} unit(s) ({names}"
                  f"{more})")
        foreign = target.foreign_files()
        if foreign:
            names = ", ".join(str(p.relative_to(target.root)) for p in foreign[:6])
            more = f" and {len(foreign) - 6} more" if len(foreign) > 6 else ""
            print(f"  not conceptpatch's, ignored: {len(foreign)} file(s) ({names}{more})")
    return 0


def raise_problems(problems: Sequence[str]) -> None:
    """Raise the first of ``problems`` (counting the others) as a `CheckpointError`."""
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise CheckpointError(problems[0] + more)


def _to_compute(units: Sequence[Any], target: Any, digest: str) -> list[Checkpoint]:
    """The checkpoints of ``units`` that the store ``target`` (None: none yet) lacks a unit of."""
    return list(dict.fromkeys(u.checkpoint for u in units if target is None
                              or not target.has(u.checkpoint.name, u.setting, digest)))


def preflight(suite: Suite, store: Path | str, checkpoints: Sequence[str] | None = None,
              shard: tuple[int, int] | None = None) -> None:
    """Refuse, before the store is touched, what ``run`` would die of at the checkpoints it has
    to load (`checkpoint_problems`); a suite that resolves only by building is left to the run."""
    from conceptpatch.compute import plan_units
    from conceptpatch.results import Store

    try:
        resolved = resolve(suite, build=False, missing_ok=True)
    except ConceptPatchError:  # an organism to train, missing data: the run says so itself
        return
    units = plan_units(resolved, checkpoints, shard)
    target = Store(Path(store)) if Path(str(store)).is_dir() else None
    raise_problems(checkpoint_problems(suite, _to_compute(units, target, suite.settings_hash())))


def checkpoint_problems(suite: Suite, checkpoints: Sequence[Checkpoint]) -> list[str]:
    """What a run would die of at each checkpoint, found without loading weights: a missing
    folder or config.json, pickle-only weights, an architecture transformers cannot build or that
    needs custom code, a tokenizer that needs it, patch layers out of range; GGUF problems."""
    problems: list[str] = []
    layers: dict[bytes, int] = {}
    for c in checkpoints:
        try:
            if c.is_gguf:
                problems += gguf.problems(c)
            elif c.path is not None:
                _check_folder(suite, c, layers)
        except ConceptPatchError as err:
            problems.append(str(err))
    return problems


def _check_folder(suite: Suite, checkpoint: Checkpoint, known: dict[bytes, int | None]) -> None:
    """`checkpoint_problems` of one local folder; ``known``: layer counts by config.json bytes
    (the checkpoints of one training run share one config: its skeleton is built once)."""
    path = Path(str(checkpoint.path))
    if suite.model.random is not None and not path.exists():  # built on first run: known depth
        suite_layers(suite, suite.model.random_layers)
        return
    check_folder(checkpoint)
    config = (path / "config.json").read_bytes()
    if config not in known:
        known[config] = _architecture_layers(suite, checkpoint, config)
    if known[config] is not None:
        suite_layers(suite, known[config])
    if engine_installed():
        check_tokenizer_code(checkpoint, suite.model.tokenizer, suite.model.trust_remote_code)


def engine_installed() -> bool:
    """Whether torch can be imported here (found, not imported: `check` loads no engine)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _architecture_layers(suite: Suite, checkpoint: Checkpoint, config: bytes) -> int | None:
    """A local checkpoint's decoder layers: found on a weightless skeleton as a load finds them
    where torch is installed; else read from its config.json (custom code refused as a load
    refuses it), None when it declares no layer count."""
    model = suite.model
    if engine_installed():
        from conceptpatch.engine.checkpoints import check_architecture

        return check_architecture(checkpoint, model.layers_path, model.trust_remote_code)
    try:
        declared = json.loads(config)
    except ValueError:
        declared = None
    if not isinstance(declared, dict):
        raise CheckpointError(f"checkpoint {checkpoint.name!r}: its config.json is not a JSON"
                              " object: copy the checkpoint's config.json again")
    if "auto_map" in declared and not model.trust_remote_code:
        raise remote_code_error(checkpoint, checkpoint.source)
    return config_layers(declared)

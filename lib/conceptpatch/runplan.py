"""What ``conceptpatch run`` will do before it does it: the suite with the command line's
overrides of its keys, and the dry run that lists each unit as done or to compute."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomllib

from conceptpatch.suite import Suite, load_suite, parse_suite

__all__ = ["dry_run", "layers_arg", "list_arg", "with_overrides"]


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
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for section, keys in given.items():
        data[section] = {**data.get(section, {}), **keys}
    merged = parse_suite(data, base=path.parent.resolve(), name=path.stem)
    return dataclasses.replace(merged, path=suite.path)


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
    ``resolved``: the suite already resolved (``check`` has done it)."""
    from conceptpatch.results import Store
    from conceptpatch.run import plan_units
    from conceptpatch.suite import OrganismNotTrained, resolve
    from conceptpatch.trials import count_trials, setting_work

    try:
        resolved = resolved or resolve(suite, build=False, missing_ok=True)
    except OrganismNotTrained as err:
        print(f"{heading.split()[0]}: {err}; `conceptpatch run` would train it first")
        return 0
    units = plan_units(resolved, checkpoints, shard)
    target = Store(Path(store)).open() if Path(str(store)).exists() else None
    digest = suite.settings_hash()
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
    return 0

"""``conceptpatch compare``: several stores (or suites) measured by depth into one report.

:func:`inputs` turns the command's arguments into `conceptpatch.depth.ModelInput` s (a suite
file stands for its default store in the cache; labels default to the suite name the store
records, else its folder's name); :func:`write_comparison` writes ``index.html`` (the figure,
the models' table, the comparison's tests), ``depth.png``, ``comparison.csv`` (the tests),
``models.csv`` (one row per model) and ``curves.csv`` (each model's exact rate by layer) into
one folder, each file atomically and ``index.html`` last, so a reader never sees a page whose
files are half-written. Every string reaches the page through the template's autoescaping.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from conceptpatch.config.suite import load_suite
from conceptpatch.depth import EDGES, Comparison, ModelInput
from conceptpatch.errors import ConceptPatchError
from conceptpatch.files import atomic_write
from conceptpatch.numbers import MISSING, cell, p_cell
from conceptpatch.paths import default_store
from conceptpatch.results import Store, load_store

__all__ = ["Source", "inputs", "model_table", "sources", "store_label", "write_comparison"]

_TEMPLATE = "compare.html.jinja2"
_HASHED = re.compile(r"^(?P<name>.+)-(?P<hash>[0-9a-f]{16})$")  # a default store's folder


@dataclass(frozen=True)
class Source:
    """Where one model's results are: a store folder, its label (None: the default) and the
    checkpoint to measure (None: the last)."""

    store: Path
    label: str | None = None
    checkpoint: str | None = None


def sources(paths: Sequence[str | Path], labels: Sequence[str] | None = None,
            checkpoints: Sequence[str] | None = None) -> list[Source]:
    """The stores of the command's arguments: a folder is a store; a ``.toml`` file is a suite,
    standing for its default store (``$CONCEPTPATCH_CACHE/stores/<name>-<hash>``) and labelled
    with its name. ``labels`` and ``checkpoints`` (``last``: the last) give one per store."""
    for option, given in (("--label", labels), ("--checkpoint", checkpoints)):
        if given and len(given) != len(paths):
            raise ConceptPatchError(f"{len(given)} {option} for {len(paths)} store(s): give"
                                    f" {option} once per store, in the stores' order")
    out = []
    for i, raw in enumerate(paths):
        path, label = Path(raw), labels[i] if labels else None
        checkpoint = checkpoints[i] if checkpoints else None
        if path.is_file() and path.suffix == ".toml":
            path, name = _suite_store(path)
            label = label or name
        elif path.is_file():
            raise ConceptPatchError(f"{path} is a file, not a store folder or a suite .toml:"
                                    " pass the folder `conceptpatch run --store` wrote")
        out.append(Source(path, label, None if checkpoint == "last" else checkpoint))
    return out


def _suite_store(path: Path) -> tuple[Path, str]:
    """A suite's default store and its name; refused when nothing was computed there."""
    suite = load_suite(path)
    store = default_store(suite.name, suite.settings_hash())
    if not store.is_dir():
        raise ConceptPatchError(f"suite {suite.name!r} has no results in its store {store}:"
                                f" run `conceptpatch run {path}` first, or pass the store folder")
    return store, str(suite.name)


def store_label(store: Path, table: pd.DataFrame) -> str:
    """A store's default label: the suite name its design records, else its folder's name
    (without the ``-<suite hash>`` of a default store's folder)."""
    design = Store(store).design()
    if design is not None:
        return design.suite
    name = store.resolve().name
    found = _HASHED.match(name)
    hashes = set(table["suite_hash"].astype(str)) if "suite_hash" in table else set()
    return found.group("name") if found and found.group("hash") in hashes else name


def inputs(given: Sequence[Source]) -> list[ModelInput]:
    """Each source's results table, labelled."""
    out = []
    for source in given:
        table = load_store(source.store)
        label = source.label or store_label(source.store, table)
        out.append(ModelInput(label, table, source.checkpoint, str(source.store)))
    return out


# ---- the page and its files ------------------------------------------------------------------


def _interval(value: float, low: float, high: float) -> str:
    text = cell(value)
    return text if text == MISSING or not math.isfinite(low) else \
        f"{text} [{cell(low)}, {cell(high)}]"


def model_table(comparison: Comparison) -> pd.DataFrame:
    """One row per model: where it came from, its depth, band, peak, floor and translation."""
    rows = []
    for m in comparison.models:
        band = m.band_layers
        rows.append({
            "model": m.label, "source": m.source, "checkpoint": m.checkpoint, "step": m.step,
            "n_layers": m.n_layers, "layers": len(m.layers), "setting": m.setting,
            "concepts": m.concepts, "trials_per_layer": m.trials,
            "band_first_layer": band[0] if band else None,
            "band_last_layer": band[1] if band else None,
            **{f"{e}{s}": getattr(m.edge(e), k) for e in EDGES
               for s, k in (("", "value"), ("_low", "low"), ("_high", "high"))},
            "clear": m.clear, "peak_layer": m.peak_layer, "peak_depth": (m.peak_layer + 0.5)
            / m.n_layers, "peak": m.peak.value, "peak_low": m.peak.low,
            "peak_high": m.peak.high, "floor": m.floor.value, "translation": m.translation.value,
            "translation_low": m.translation.low, "translation_high": m.translation.high,
            "translation_trials": m.translation_trials, "undefined_draws": m.undefined_draws,
        })
    return pd.DataFrame(rows)


def _curves(comparison: Comparison) -> pd.DataFrame:
    return pd.concat([m.curve.assign(model=m.label, n_layers=m.n_layers)
                      for m in comparison.models], ignore_index=True)[
        ["model", "n_layers", "layer", "depth", "trials", "exact", "concepts", "rate", "low",
         "high"]]


def _model_records(comparison: Comparison) -> list[dict[str, str]]:
    out = []
    for m in comparison.models:
        band = m.band_layers
        out.append({
            "model": m.label, "checkpoint": m.checkpoint, "layers": str(m.n_layers),
            "band": f"{band[0]}–{band[1]}" if band else "none",
            **{e: _interval(m.edge(e).value, m.edge(e).low, m.edge(e).high) for e in EDGES},
            "peak": f"{_interval(m.peak.value, m.peak.low, m.peak.high)} at layer"
                    f" {m.peak_layer}",
            "floor": cell(m.floor.value),
            "clear_band": "yes" if m.clear else "no",
            "translation": _interval(m.translation.value, m.translation.low,
                                     m.translation.high),
            "undefined": f"{m.undefined_draws}/{comparison.draws}",
            "source": m.source,
        })
    return out


def _test_records(comparison: Comparison) -> list[dict[str, str]]:
    out = []
    for r in comparison.tests.to_dict("records"):
        pair = r["kind"] == "pair"
        out.append({
            "models": f"{r['model_a']} − {r['model_b']}" if pair else str(r["model_a"]),
            "edge": str(r["edge"]),
            "difference": _interval(r["difference"], r["low"], r["high"]) if pair else "",
            "se": cell(r["se"]) if pair else "",
            "statistic": cell(r["statistic"], 2), "df": str(r["df"]),
            "p": p_cell(r["p"]), "draws": str(r["draws"]), "reading": str(r["reading"]),
        })
    return out


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("conceptpatch", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render(comparison: Comparison, png: bytes) -> str:
    """The comparison's page, the figure ``png`` embedded."""
    from conceptpatch.report import package_versions

    return _environment().get_template(_TEMPLATE).render(
        title="conceptpatch: models compared by depth",
        models=_model_records(comparison), tests=_test_records(comparison),
        figure=base64.b64encode(png).decode("ascii"), setting=comparison.setting,
        threshold=f"{comparison.threshold:g}", level=f"{comparison.level:.0%}",
        alpha=f"{1 - comparison.level:.2g}",
        draws=comparison.draws, seed=comparison.seed, margin=f"{comparison.margin:g}",
        several=len(comparison.models) >= 3,
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        versions=package_versions(("conceptpatch", "pandas", "numpy", "scipy")),
    )


def _png(comparison: Comparison) -> bytes:
    from conceptpatch.figures.common import fig_to_base64
    from conceptpatch.figures.depth import depth_figure

    return base64.b64decode(fig_to_base64(depth_figure(comparison)))


def write_comparison(comparison: Comparison, out_dir: str | Path) -> Path:
    """Write the comparison's files into ``out_dir`` (``index.html`` last); returns the page."""
    out_dir = Path(out_dir)
    png = _png(comparison)
    page = render(comparison, png)
    files = {
        "depth.png": png,
        "comparison.csv": comparison.tests.to_csv(index=False),
        "models.csv": model_table(comparison).to_csv(index=False),
        "curves.csv": _curves(comparison).to_csv(index=False),
        "index.html": page,
    }
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for name, data in files.items():
            atomic_write(out_dir / name, data)
    except OSError:
        if made and not any(out_dir.iterdir()):  # a full disk leaves no empty folder behind
            out_dir.rmdir()
        raise
    return out_dir / "index.html"

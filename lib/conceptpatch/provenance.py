"""What a report needs to be audited and reproduced: how it was made, and where its experiment
departs from the paper's.

`provenance` gathers the command, conceptpatch's version and source commit, the store, the
device and the machine; `suite_text` the suite file as written; `departures` one line per way the
suite's experiment differs from the paper's (EuroLLM-1.7B, 26 checkpoints, Multi-SimLex, k = 5,
the `last` position, 100 trials, 10 new tokens, the mid band, the paper code's trial design).

Versions are read here once: `installed_versions` (packages' installed versions from their
metadata: the report's, the comparison's and those stored with every unit) and
`conceptpatch_version` (``conceptpatch --version``, the report's provenance, the W&B config).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from conceptpatch import __version__
from conceptpatch.config.sections import ModelSection, plain

__all__ = ["conceptpatch_version", "departures", "installed_versions", "provenance",
           "suite_text"]

#: The paper's setting (arXiv 2601.22851 and its public code).
PAPER_SETTING = {"model": "EuroLLM-1.7B", "checkpoints": 26, "lexicon": "Multi-SimLex",
                 "k": 5, "position": "last", "trials": 100, "max_new_tokens": 10, "band": "mid"}


def _device(model: ModelSection | None) -> str:
    """The device and dtype a suite's model runs on (the defaults when no suite is known)."""
    model = model or ModelSection()
    return f"{model.device}, {model.dtype}" + (
        f", device_map {model.device_map}" if model.device_map else "")


def installed_versions(names: Sequence[str], missing: str = "not installed") -> dict[str, str]:
    """Each distribution's installed version by name, read from its metadata (nothing is
    imported), in the order given; ``missing`` for one that is not installed."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = missing
    return out


def conceptpatch_version() -> str:
    """The installed distribution's version (the source tree's ``__version__`` when not
    installed)."""
    try:
        return version("conceptpatch")
    except PackageNotFoundError:
        return __version__


def _commit() -> str:
    """The git commit of conceptpatch's source tree (``+dirty`` with local changes), or why not."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=5, check=True).stdout
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout (an installed package)"
    return head.strip() + ("+dirty" if dirty.strip() else "")


def _hardware() -> str:
    parts = [platform.platform(), f"{os.cpu_count()} CPUs"]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
        if torch.cuda.is_available():
            parts.append(", ".join(torch.cuda.get_device_name(i)
                                   for i in range(torch.cuda.device_count())))
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return "; ".join(parts)


def provenance(suite: Any, store: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """How the report was made, as label -> text."""
    own = conceptpatch_version()
    model = suite.model if isinstance(getattr(suite, "model", None), ModelSection) else None
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "—",
        "conceptpatch": f"{own} (commit {_commit()})",
        "store": str(store) if store is not None else "— (results passed in memory)",
        "device": _device(model),
        "machine": _hardware(),
        "compute time": _compute_time(store),
        "working directory": os.getcwd(),
    }


def _compute_time(store: str | os.PathLike[str] | None) -> str:
    """The store's units' wall time, from their timing records (`Store.write_timing`)."""
    if store is None or not Path(store).is_dir():
        return "— (no local store)"
    from conceptpatch.results import Store

    records = Store(Path(store)).timings()
    if not records:
        return "— (the store's units have no timing records)"
    total = sum(float(r.get("seconds", 0.0)) for r in records)
    minutes, seconds = divmod(round(total), 60)
    where = sorted({f"{r.get('device', '?')} on {r.get('host', '?')}" for r in records})
    return (f"{minutes} min {seconds} s over {len(records)} unit(s) (model loading not"
            f" included); {', '.join(where)}")


def suite_text(suite: Any) -> str | None:
    """The suite file as written, or None for a suite that has no file (in memory, a dict)."""
    path = getattr(suite, "path", None)
    try:
        return Path(path).read_text(encoding="utf-8") if path else None
    except OSError:
        return None


def _model_line(model: ModelSection) -> str:
    if model.organism is not None:
        return f"the built-in organism ({model.organism}), not {PAPER_SETTING['model']}"
    if model.random is not None:
        return f"a random-weight {model.random} model (tests only), not EuroLLM-1.7B"
    sources = [e.get("hub") or e.get("gguf_package") or e.get("gguf") or e.get("path")
               for e in model.checkpoints]
    named = ", ".join(str(s) for s in sources[:2]) + (" ..." if len(sources) > 2 else "")
    if any("EuroLLM-1.7B" in str(s) for s in sources):
        return ""
    return f"model {named or model.glob or '?'}, not {PAPER_SETTING['model']}"


def _design_departures(suite: Any) -> list[str]:
    """Where the suite's trial design leaves the paper's (its code, clap): docs/suites.md."""
    out = []
    if getattr(suite, "source_pairs", None) is not None:
        out.append(f"source_pairs = {suite.source_pairs}: each trial averages a sample of that many"
                   " source pairs, not every eligible one")
    if getattr(suite, "seen_sources", "paper") != "paper":
        out.append("seen_sources = \"other_output\": seen sources are every seen pair into another"
                   " output (the target's input and English included), not the paper's pairs"
                   " without the target's languages and English")
    if getattr(suite, "pairing", "token_disjoint") != "token_disjoint":
        out.append("pairing = \"any\": C and D may share a first token (the paper pairs only"
                   " concepts whose words share none)")
    if "target" in getattr(suite, "settings", ()):
        out.append("setting 'target' (every other input into the target's output) is"
                   " conceptpatch's own, not one of the paper's")
    return out


def departures(suite: Any, n_checkpoints: int | None = None) -> list[str]:
    """One line per way the suite's experiment differs from the paper's (empty: none found)."""
    if suite is None or not hasattr(suite, "model"):
        return ["the suite is unknown (a report of a store): compare its settings by hand"]
    paper = PAPER_SETTING
    out = [_model_line(suite.model)]
    if n_checkpoints is not None and n_checkpoints != paper["checkpoints"]:
        out.append(f"{n_checkpoints} checkpoint(s), not the paper's {paper['checkpoints']}")
    given = suite.lexicon
    lexicon = given.builtin or (given.format if "format" in given else None)
    if lexicon != "multisimlex" and suite.model.organism is None:
        out.append(f"lexicon {lexicon or given.path}, not Multi-SimLex")
    for key, label in (("k", "few-shot examples k"), ("position", "patch position"),
                       ("trials", "pairings (trials per target pair)"),
                       ("max_new_tokens", "new tokens decoded")):
        value = getattr(suite, key)
        if value != paper[key]:
            out.append(f"{label} = {value}, not the paper's {paper[key]}")
    made = getattr(suite, "constructed", None)
    if made is not None:
        out.append(made.describe())
    if suite.shots != "per_trial":
        out.append(f"shots = {suite.shots!r}: examples shared per language pair, not per trial")
    band = plain(suite.claims.band)
    if band != paper["band"]:
        out.append(f"declared concept band {band!r}, not the paper's mid layers")
    if suite.expect:
        out.append(f"{len(suite.expect)} declared expectation(s) ([[expect]]): those cases are "
                   "held to the suite's verdict, not the paper's")
    out += _design_departures(suite)
    return [line for line in out if line]

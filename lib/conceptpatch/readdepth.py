"""Read depth: how far into the network the positions after the query word still read the word.

Self-patch every token of the query word (the ``word`` position mode) with the mean latent of a
source prompt of the target's own language pair asking for another concept C (the ``tgt``
setting), from first layer j on. The positions after the word (the closing quote, the output
language's name, the answer's opening quote) read the word through attention; once they have
read it, overwriting the word changes nothing. The **read layer** is the highest first layer j at
which the patch still changes at least half of the answers (an answer changes when it differs
from the same trial's unpatched answer; seen output languages only, since an unseen language has
no answer to change). The **read depth** is ``j / n_layers``: the share of the network's depth
after which the positions after the word still read it (0 also when no layer changes half of the
answers: then ``layer`` is -1). Large models are reported to read concepts around the middle of
the network; the default organism (6 layers) reads at 2/6 (layer 2 changes 0.6 of the answers,
layer 3 0.1).

Plain functions: `word_self_suite` (the measuring suite), `changed_by_layer` and `read_layer` on a
results table (rows of settings ``tgt`` and ``unpatched`` in ``word`` mode, e.g. from a store),
`read_depth` (patch and measure one loaded model) and `suite_read_depth` (load a suite's
checkpoint, usually the last one, and measure it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from conceptpatch.config.suite import Suite
from conceptpatch.engine.checkpoints import LoadedModel, load_checkpoint
from conceptpatch.errors import SuiteError
from conceptpatch.resolve import Resolved, resolve

__all__ = [
    "READ_THRESHOLD",
    "ReadDepth",
    "changed_by_layer",
    "read_depth",
    "read_depth_of",
    "read_layer",
    "suite_read_depth",
    "word_self_suite",
]

#: Share of answers a patch must change for the word to count as not yet read.
READ_THRESHOLD = 0.5
#: Trials per output language of the read-depth measurement (unless the caller says otherwise).
READ_TRIALS = 40


@dataclass(frozen=True)
class ReadDepth:
    """The read-depth measurement of one checkpoint."""

    checkpoint: str
    n_layers: int
    layer: int  # highest first layer j whose self word patch changes >= threshold; -1 if none
    depth: float  # layer / n_layers (0 when layer is -1)
    changed: dict[int, float]  # first layer j -> share of seen-language answers changed
    exact: dict[int, float]  # first layer j -> share of seen-language answers that say C
    trials: int  # trials per layer (seen output languages)
    threshold: float = READ_THRESHOLD

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able form."""
        return dataclasses.asdict(self)


def word_self_suite(suite: Suite, trials: int | None = READ_TRIALS) -> Suite:
    """``suite`` turned into the read-depth measurement: ``word`` position, settings ``tgt`` and
    ``unpatched``, every layer; ``trials`` per output language (None keeps the suite's)."""
    return dataclasses.replace(
        suite,
        position="word",
        settings=("tgt", "unpatched"),
        layers=None,
        trials=suite.trials if trials is None else trials,
    )


def changed_by_layer(frame: pd.DataFrame, setting: str = "tgt") -> pd.Series:
    """Share of answers that differ from the same trial's unpatched answer, by first layer.

    ``frame`` holds rows of ``setting`` and of ``unpatched`` (one checkpoint, one position mode);
    only seen output languages count. Indexed by layer, ascending.
    """
    rows = frame[frame["output_seen"].astype(bool)]
    base = rows[rows["setting"] == "unpatched"].set_index("trial")["output"]
    if base.empty:
        raise ValueError("changed_by_layer needs the unpatched rows of the same trials")
    patched = rows[rows["setting"] == setting]
    if patched.empty:
        raise ValueError(f"changed_by_layer found no rows of setting {setting!r}")
    unpatched = patched["trial"].map(base)
    if unpatched.isna().any():
        raise ValueError("some patched trials have no unpatched row: compute both settings")
    changed = patched["output"].to_numpy() != unpatched.to_numpy()
    return pd.Series(changed, index=patched["layer"].to_numpy()).groupby(level=0).mean()


def read_layer(changed: Mapping[int, float] | pd.Series, threshold: float = READ_THRESHOLD) -> int:
    """The highest first layer whose patch changes at least ``threshold`` of the answers (-1:
    none)."""
    layers = [int(j) for j, share in dict(changed).items() if share >= threshold]
    return max(layers, default=-1)


def read_depth_of(frame: pd.DataFrame, n_layers: int | None = None, setting: str = "tgt",
                  threshold: float = READ_THRESHOLD) -> ReadDepth:
    """Read depth from a results table of one checkpoint (rows of ``setting`` and
    ``unpatched``, ``word`` mode); ``n_layers`` defaults to the table's ``n_layers`` column."""
    checkpoints = frame["checkpoint"].unique()
    if len(checkpoints) != 1:
        raise ValueError(f"read_depth_of takes one checkpoint's rows, got {len(checkpoints)}")
    if n_layers is None:
        n_layers = int(frame["n_layers"].iloc[0])
    changed = changed_by_layer(frame, setting)
    seen = frame[frame["output_seen"].astype(bool) & (frame["setting"] == setting)]
    exact = (seen["category"] == "exact").groupby(seen["layer"]).mean()
    layer = read_layer(changed, threshold)
    return ReadDepth(
        checkpoint=str(checkpoints[0]),
        n_layers=n_layers,
        layer=layer,
        depth=max(layer, 0) / n_layers,
        changed={int(j): round(float(v), 4) for j, v in changed.items()},
        exact={int(j): round(float(v), 4) for j, v in exact.items()},
        trials=int(seen["trial"].nunique()),
        threshold=threshold,
    )


def read_depth(lm: LoadedModel, resolved: Resolved, threshold: float = READ_THRESHOLD,
               trials: int | None = READ_TRIALS) -> ReadDepth:
    """Measure the read depth of a loaded model on ``resolved``'s lexicon and languages.

    Runs the ``word``/``tgt`` patch at every layer and the unpatched baseline over ``trials``
    trials per output language (the suite's seed, prompts and sources); nothing is stored.
    """
    from conceptpatch.compute import run_unit
    from conceptpatch.trials import plan_trials

    suite = word_self_suite(resolved.suite, trials)
    measured = dataclasses.replace(resolved, suite=suite)
    planned = plan_trials(measured, lm.tokenizer)
    frame = pd.concat(
        [run_unit(lm, measured, setting, planned) for setting in ("unpatched", "tgt")],
        ignore_index=True,
    )
    return read_depth_of(frame, lm.n_layers, "tgt", threshold)


def suite_read_depth(suite: Suite, checkpoints: Sequence[str] | None = None,
                     threshold: float = READ_THRESHOLD,
                     trials: int | None = READ_TRIALS) -> list[ReadDepth]:
    """Read depth of a suite's checkpoints (default: its last one), one `ReadDepth` each."""
    resolved = resolve(suite)
    known = {c.name: c for c in resolved.checkpoints}
    if checkpoints is None:
        chosen = [resolved.checkpoints[-1]]
    else:
        unknown = [name for name in checkpoints if name not in known]
        if unknown:
            raise SuiteError(
                f"checkpoint(s) {', '.join(unknown)} are not in suite {suite.name!r}"
                f" (it has {', '.join(known)}): fix the name"
            )
        chosen = [known[name] for name in checkpoints]
    out = []
    for checkpoint in chosen:
        lm = load_checkpoint(checkpoint, **suite.load_options)
        out.append(read_depth(lm, resolved, threshold, trials))
        del lm
    return out

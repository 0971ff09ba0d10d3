"""A local checkpoint directory (``path``): config.json, tokenizer files, *.safetensors.

Listing an entry and checking a folder read files only (no torch): `conceptpatch check` uses
them before any model is loaded; `conceptpatch.engine.checkpoints` loads what they admit. This
module is the local `conceptpatch.sources.kinds.CheckpointKind`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conceptpatch.errors import CheckpointError
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.entry import entry_checkpoint

__all__ = [
    "TOKENIZER_FILES",
    "WEIGHT_GLOB",
    "check_folder",
    "check_tokenizer_code",
    "checkpoint",
    "config_layers",
    "describe",
    "layer_count",
    "location",
    "needs_remote_code",
    "no_tokenizer_message",
    "remote_code_error",
    "remote_tokenizer_error",
    "weight_files",
]

#: The files that hold a checkpoint folder's weights (what a load reads, what a fingerprint hashes).
WEIGHT_GLOB = "*.safetensors"


def checkpoint(entry: Mapping[str, Any]) -> Checkpoint:
    """The entry's directory, named by its last path component unless the entry names it."""
    return entry_checkpoint(entry, Path(entry["path"]).name)


def check_folder(checkpoint: Checkpoint) -> None:
    path = Path(str(checkpoint.path))
    if not path.is_dir():
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r}: local directory {str(path)!r} does not exist:"
            " fix the path in the suite or train/download the checkpoint there"
        )
    if not any(path.glob("*.safetensors")):
        pickled = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
        what = f"only pickle weights ({', '.join(pickled)})" if pickled else "no weights"
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r} at {str(path)!r} has {what}: conceptpatch loads"
            " safetensors only; convert it with"
            " `model.save_pretrained(dir, safe_serialization=True)`"
        )
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"checkpoint {checkpoint.name!r}: folder {str(path)!r} has weights but no config.json"
            " (transformers builds the model from it): copy the checkpoint's config.json into"
            " the folder (`model.save_pretrained(dir)` writes it beside the weights)"
        )


#: Files any one of which lets ``AutoTokenizer`` load a checkpoint's tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def no_tokenizer_message(checkpoint: Checkpoint, where: str, why: str) -> str:
    return (
        f"checkpoint {checkpoint.name!r}: no tokenizer at {where!r} ({why}): copy the tokenizer"
        " files of the final checkpoint there, or set [model] tokenizer = \"DIR or hub id\" to"
        " one tokenizer for every checkpoint"
    )


def needs_remote_code(err: BaseException) -> bool:
    """Whether transformers refused a load because the repository's own code would have to run
    (``auto_map`` in its config) and ``trust_remote_code`` is off."""
    return "trust_remote_code" in str(err)


def _model_type(source: str) -> str:
    """The ``model_type`` of a local checkpoint's config.json, quoted, or "its model type"."""
    import json

    try:
        found = json.loads((Path(source) / "config.json").read_text(encoding="utf-8"))
        return f"its model type {str(found['model_type'])!r}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its model type"


def remote_code_error(checkpoint: Checkpoint, source: str) -> CheckpointError:
    """The one line for a model whose architecture is code shipped with the repository."""
    return CheckpointError(
        f"checkpoint {checkpoint.name!r} ({source}): {_model_type(source)} needs custom code"
        " from the repository (config.json auto_map), which conceptpatch does not run unless"
        " told: set [model] trust_remote_code = true in the suite only if you trust the"
        " repository"
    )


def remote_tokenizer_error(checkpoint: Checkpoint, where: str, shared: bool) -> CheckpointError:
    """The one line for a tokenizer that is code shipped with its repository."""
    fix = ("set [model] tokenizer to a tokenizer that needs none (custom code is never run for"
           " the shared tokenizer)" if shared else
           "set [model] trust_remote_code = true in the suite only if you trust the repository,"
           " or set [model] tokenizer to a tokenizer that needs none")
    return CheckpointError(
        f"checkpoint {checkpoint.name!r}: the tokenizer at {where!r} needs custom code from its"
        f" repository (auto_map in tokenizer_config.json), which conceptpatch does not run: {fix}"
    )


def check_tokenizer_code(
    checkpoint: Checkpoint, tokenizer: str | None = None, trust_remote_code: bool = False
) -> None:
    """Raise `CheckpointError` if a local checkpoint's tokenizer is custom code the suite does
    not allow. Only a tokenizer whose files name code (``auto_map``) is loaded to find out, with
    remote code off: nothing runs."""
    import json

    if tokenizer is not None or trust_remote_code or checkpoint.path is None:
        return
    folder = Path(checkpoint.path)
    maps = []
    for name in ("tokenizer_config.json", "config.json"):
        try:
            maps.append(json.loads((folder / name).read_text(encoding="utf-8")).get("auto_map"))
        except (OSError, ValueError, AttributeError):
            continue
    if any((isinstance(m, dict) and "AutoTokenizer" in m) or isinstance(m, list) for m in maps):
        from conceptpatch.tokenizer import load_tokenizer

        load_tokenizer(checkpoint)


def config_layers(config: Mapping[str, Any]) -> int | None:
    """The layer count a config.json declares (its text model's, for a multimodal one)."""
    for key in ("num_hidden_layers", "n_layer", "num_layers"):
        if isinstance(config.get(key), int):
            return int(config[key])
    text = config.get("text_config")
    return config_layers(text) if isinstance(text, dict) else None


def describe(c: Checkpoint) -> str:
    """Where the checkpoint comes from, as `conceptpatch check` lists it."""
    return str(c.path)


def location(c: Checkpoint) -> str:
    """The folder a load reads, checked first (a one-line error names what is missing)."""
    check_folder(c)
    return str(c.path)


def weight_files(c: Checkpoint) -> list[Path] | None:
    """The folder's weight files, or None where the folder is gone (deleted after computing)."""
    return folder_weights(Path(str(c.path)))


def folder_weights(folder: Path | None) -> list[Path] | None:
    """The weight files of a checkpoint folder, or None where there are none."""
    if folder is None or not folder.is_dir():
        return None
    return sorted(folder.glob(WEIGHT_GLOB)) or None


def layer_count(c: Checkpoint) -> int | None:
    """The decoder layers its config.json declares, read without torch (None: unknown)."""
    try:
        return config_layers(json.loads((Path(str(c.path)) / "config.json").read_text()))
    except (OSError, ValueError):
        return None

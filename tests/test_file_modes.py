"""Files a lab can share: every atomically written file gets ``0666 & ~umask`` (issue 15).

The store's parquet and JSON files, their lock files, the report, annotation sheets and the
organism cache, under umask 022 (readable by all) and 002 (group-writable, the shared-store
recipe of the README), and a setgid directory's bit kept on the organism's directory. Then a
first run as a user makes one (issue 22): every file and directory of the cache (the weights
safetensors writes 0600 included), the stores and the reports, found by walking the trees.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conceptpatch.annotate import ANNOTATIONS_FILE, export_sheet, import_sheet
from conceptpatch.cli import main
from conceptpatch.files import atomic_write, current_umask, shared_mkdtemp
from conceptpatch.organism import cache
from conceptpatch.paths import ENV_CACHE
from conceptpatch.report import write_report
from conceptpatch.results import Store
from test_annotate import _results, _rows, _write

SUITES = Path(__file__).resolve().parents[1] / "suites"


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request: pytest.FixtureRequest):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_without_changing(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask


def test_atomic_write_gives_the_mode_open_gives(umask: int, tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    for i, data in enumerate((b"bytes", "text", lambda tmp: Path(tmp).write_text("fn"))):
        path = atomic_write(tmp_path / f"f{i}", data)
        assert _mode(path) == _mode(plain) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0", "f1", "f2", "plain.txt"]


def test_store_report_and_sheets_honour_the_umask(umask: int, tmp_path: Path) -> None:
    want = 0o666 & ~umask
    store = Store(tmp_path / "store").open()
    frame = _results()
    for (ck, setting), unit in frame.groupby(["checkpoint", "setting"]):
        with store.lock(ck, setting):
            store.write(ck, setting, unit, meta={"suite_hash": "h"})
    written = [p for p in store.root.rglob("*") if p.is_file()]
    assert {p.suffix for p in written} >= {".parquet", ".json", ".lock"}
    assert {str(p.relative_to(store.root)): _mode(p) for p in written} == \
        {str(p.relative_to(store.root)): want for p in written}
    sheet = export_sheet(store.root, tmp_path / "sheets" / "sheet.csv", per_cell=1)
    assert _mode(sheet) == want
    rows = _rows(sheet)[:1]
    rows[0]["label"] = "exact"
    assert import_sheet(_write(tmp_path / "filled.csv", rows), store.root) == 1
    assert _mode(store.root / ANNOTATIONS_FILE) == want
    report = write_report(frame, [], {"name": "modes"}, tmp_path / "report")
    assert _mode(report) == want
    assert [p.name for p in report.parent.iterdir()] == ["index.html"]


def test_organism_cache_directory_honours_the_umask(umask: int, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from conceptpatch.organism import portable

    def fake_train(variant, seed, out, progress=True):
        (Path(out) / "manifest.json").write_text(json.dumps({"variant": variant}))

    monkeypatch.setattr(portable, "train_portably", fake_train)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o2775)  # a group-shared cache: setgid directory
    target = cache.build_into(shared / "tiny-seed0-x", "tiny", 0, progress=False)
    assert _mode(target) == (0o777 & ~umask) | stat.S_ISGID
    assert _mode(target / "manifest.json") == 0o666 & ~umask
    plain = shared_mkdtemp(prefix=".t-", dir=tmp_path)
    assert _mode(plain) == 0o777 & ~umask


def _unshared(root: Path, umask: int) -> list[str]:
    """Every entry under ``root`` whose mode is not the one ``open()``/``mkdir`` give under a
    setgid ``root`` (files ``0666 & ~umask``, directories ``0777 & ~umask`` plus setgid)."""
    want_file, want_dir = 0o666 & ~umask, (0o777 & ~umask) | stat.S_ISGID
    bad = []
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(here, name)
            want = want_dir if path.is_dir() else want_file
            if not path.is_symlink() and _mode(path) != want:
                bad.append(f"{oct(_mode(path))} {path.relative_to(root)}")
    return bad


def test_a_first_run_leaves_every_cache_store_and_report_file_shareable(
        umask: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    os.chmod(lab, (0o777 & ~umask) | stat.S_ISGID)  # a group-shared directory
    monkeypatch.setenv(ENV_CACHE, str(lab / "cache"))
    for name in ("tiny-random", "organism-tiny"):  # random weights, then a trained organism
        store = lab / "stores" / name
        assert main(["run", str(SUITES / f"{name}.toml"), "--store", str(store), "--quiet"]) == 0
        assert main(["report", str(store), "--out", str(lab / "reports" / name)]) == 0
    weights = list((lab / "cache").rglob("*.safetensors"))
    assert {p.relative_to(lab / "cache").parts[0] for p in weights} == {"random", "organism"}
    assert len(list((lab / "reports").rglob("index.html"))) == 2
    assert _unshared(lab, umask) == []

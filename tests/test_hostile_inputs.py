"""Hostile data and faulty surroundings (issue 28): each ends in one line naming the fix.

Words a prompt cannot carry are dropped with a count; a plan longer than the model's context is
refused by ``check`` and ``run``; files in the way, a damaged annotations file, an unwritable
cache or working directory, a full disk and a closed stdout each end in one line (exit 2, exit 1
for the closed pipe, as Python's own note on SIGPIPE does) with nothing half-written left behind.
"""

from __future__ import annotations

import csv
import errno
import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _tiny import dump_toml, suite_data, write_suite
from conceptpatch.annotate import ANNOTATIONS_FILE, KEY
from conceptpatch.cli import main
from conceptpatch.lexicons import Lexicon, load_lexicon
from conceptpatch.lexicons.core import MAX_WORD_CHARS, promptable
from conceptpatch.prompts import Pair, build_prompt
from conceptpatch.results import Store
from test_annotate import _results

#: Every test here runs against the session's tiny-suite cache, on one torch thread.
pytestmark = pytest.mark.usefixtures("tiny_suite_env")

TINY_RANDOM = Path(__file__).resolve().parents[1] / "suites" / "tiny-random.toml"
#: Words the paper's prompt format cannot carry, one per kind.
BAD_WORDS = ('say "hi"', "line1\nline2", "tab\there", "esc\x1bape", "para\u2029graph",
             "x" * 10_000)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit status, stdout, stderr); a failure is one line, no trace."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    if code != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert lines[0].startswith("conceptpatch: error: "), err
        assert "Traceback" not in err and "internal error" not in err
    return code, out, err.strip()


def _files(folder: Path) -> set[str]:
    """Every path under ``folder``, relative (temp files included)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _lexicon_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("concept", "language", "word"))
        writer.writerows(rows)
    return path


_GOOD = {"dog": ("dog", "chien", "Hund"), "cat": ("cat", "chat", "Katze"),
         "house": ("house", "maison", "Haus"), "tree": ("tree", "arbre", "Baum"),
         "water": ("water", "eau", "Wasser"), "sun": ("sun", "soleil", "Sonne"),
         "moon": ("moon", "lune", "Mond"), "book": ("book", "livre", "Buch"),
         "fish": ("fish", "poisson", "Fisch"), "bird": ("bird", "oiseau", "Vogel")}


def _hostile_lexicon(path: Path) -> Path:
    """Ten good concepts, six whose English word is bad, and one whose bad French reference has
    a good synonym (the synonym must not become the reference)."""
    rows = [(c, code, w) for c, words in _GOOD.items()
            for code, w in zip(("en", "fr", "de"), words, strict=True)]
    for i, word in enumerate(BAD_WORDS):
        rows += [(f"bad{i}", "en", word), (f"bad{i}", "fr", f"mot{i}"), (f"bad{i}", "de", f"W{i}")]
    rows += [("syn", "en", "syn"), ("syn", "fr", 'le "mot"'), ("syn", "fr", "mot"),
             ("syn", "de", "Syn")]
    return _lexicon_csv(path, rows)


def _lexicon_suite(tmp_path: Path, **patch: object) -> Path:
    data = suite_data(sample={"pairing": "any"}, patch=patch)
    data["lexicon"] = {"path": str(_hostile_lexicon(tmp_path / "hostile.csv"))}
    path = tmp_path / "suite.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


# --- Data that breaks the prompt or the machine ------------------------------------------------


def test_check_drops_words_a_prompt_cannot_carry_and_says_how_many(capsys, tmp_path):
    code, out, _ = _cli(capsys, "check", str(_lexicon_suite(tmp_path)))
    assert code == 0
    assert "lexicon: hostile, 10 complete concepts" in out
    assert (f"dropped 7 word(s) a prompt cannot carry (6 with a double quote, line break or control"
            f" character, 1 over {MAX_WORD_CHARS} characters)") in out


def test_prompts_of_the_loaded_lexicon_keep_the_papers_shape(tmp_path):
    lexicon = load_lexicon(_hostile_lexicon(tmp_path / "hostile.csv")).restrict(("en", "fr"))
    assert sorted(lexicon.concepts) == sorted(_GOOD)  # bad*, and syn without its reference
    prompt = build_prompt(lexicon, "dog", Pair("en", "fr"), ("cat", "house"))
    assert prompt.text.count("\n") == 2 and prompt.text.count('"') == 11


def test_a_dropped_reference_never_promotes_its_synonym():
    lexicon = Lexicon("x", (), table={"a": {"en": ('"a"', "alt", "syn"), "fr": ("ok",)}},
                      exact={"a": {"en": 2}})
    kept = promptable(lexicon)
    assert kept.words("a", "en") == ("alt", "syn") and kept.exact_words("a", "en") == ("alt",)
    assert kept.meta["dropped_words"] == {"quote_or_control": 1}
    only = promptable(Lexicon("y", (), table={"a": {"en": ('"a"', "syn"), "fr": ("ok",)}}))
    assert only.words("a", "en") == ()  # the concept is incomplete in English now


def test_check_refuses_max_new_tokens_beyond_the_models_positions(capsys, tmp_path):
    suite = write_suite(tmp_path, patch={"max_new_tokens": 4096})
    code, _, err = _cli(capsys, "check", str(suite))
    assert code == 2
    assert "has 1024" in err and "lower patch.max_new_tokens to at most" in err


def test_run_refuses_a_plan_beyond_the_context_before_computing(capsys, tmp_path):
    suite = write_suite(tmp_path, patch={"max_new_tokens": 4096})
    store = tmp_path / "store"
    code, _, err = _cli(capsys, "run", str(suite), "--store", str(store), "--quiet")
    assert code == 2
    assert "tokens) plus patch.max_new_tokens = 4096" in err and "at most" in err
    assert not list(store.rglob("*.parquet"))


# --- Files in the way ---------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A small results store (the annotation tests' synthetic rows)."""
    root = Store(tmp_path / "store").open()
    for (ck, setting), unit in _results().groupby(["checkpoint", "setting"]):
        root.write(ck, setting, unit, meta={"suite_hash": "h"})
    return root.root


def test_report_out_naming_an_existing_file(capsys, tmp_path, store):
    target = tmp_path / "taken.html"
    target.write_text("keep me", encoding="utf-8")
    before = _files(tmp_path)
    code, _, err = _cli(capsys, "report", str(store), "--out", str(target))
    assert code == 2 and "is an existing file, not a folder: name a folder" in err
    assert target.read_text(encoding="utf-8") == "keep me" and _files(tmp_path) == before


def test_claims_report_naming_an_existing_file_fails_before_pytest(capsys, tmp_path):
    target = tmp_path / "verdicts"
    target.write_text("keep me", encoding="utf-8")
    suite = write_suite(tmp_path)
    before = _files(tmp_path)
    code, out, err = _cli(capsys, "claims", str(suite), "--report", str(target))
    assert code == 2 and "--report" in err and "name a folder" in err
    assert "test session starts" not in out  # pytest never ran
    assert target.read_text(encoding="utf-8") == "keep me" and _files(tmp_path) == before


def test_plugin_cp_report_naming_an_existing_file_is_a_usage_error(tmp_path):
    target = tmp_path / "verdicts"
    target.write_text("keep me", encoding="utf-8")
    suite = write_suite(tmp_path)
    tests = Path(__file__).resolve().parents[1] / "lib" / "conceptpatch" / "claim_tests"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(tests), "-p", "conceptpatch.pytest_plugin",
         "-p", "no:cacheprovider", "--cp-suite", str(suite), "--cp-report", str(target)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "conceptpatch: --cp-report" in proc.stderr and "name a folder" in proc.stderr
    assert "INTERNALERROR" not in proc.stdout + proc.stderr
    assert target.read_text(encoding="utf-8") == "keep me"


def test_annotate_export_out_naming_a_folder(capsys, tmp_path, store):
    folder = tmp_path / "sheets"
    folder.mkdir()
    code, _, err = _cli(capsys, "annotate", "export", str(store), "--out", str(folder))
    assert code == 2 and "is a folder; name the CSV file" in err
    assert not list(folder.iterdir())


def _truncated_annotations(store: Path) -> Path:
    """Write a valid annotations file into ``store``, then cut it in half."""
    labels = _results().head(2)[list(KEY)].assign(label="exact", note="")
    path = store / ANNOTATIONS_FILE
    labels.to_parquet(path, index=False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def test_truncated_annotations_are_named_with_the_fix(capsys, tmp_path, store):
    path = _truncated_annotations(store)
    code, _, err = _cli(capsys, "annotate", "export", str(store), "--out", str(tmp_path / "s.csv"))
    assert code == 2 and str(path) in err and "delete it, then re-import" in err
    assert not (tmp_path / "s.csv").exists()


def test_claims_on_truncated_annotations_fails_before_pytest(capsys, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    _truncated_annotations(store)
    suite = write_suite(tmp_path)
    code, out, err = _cli(capsys, "claims", str(suite), "--store", str(store),
                          "--report", str(tmp_path / "rep"))
    assert code == 2 and ANNOTATIONS_FILE in err and "delete it" in err
    assert "test session starts" not in out and not (tmp_path / "rep").exists()


def test_unwritable_cache_names_conceptpatch_cache(capsys, tmp_path, monkeypatch):
    cache = tmp_path / "read-only-cache"
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(cache))
    real = pathlib.Path.mkdir

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        if self.is_relative_to(cache):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only)
    suite = write_suite(tmp_path)
    code, _, err = _cli(capsys, "run", str(suite), "--store", str(tmp_path / "store"), "--quiet")
    assert code == 2 and "Read-only file system" in err
    assert "set CONCEPTPATCH_CACHE to a writable folder" in err
    assert not cache.exists()


def test_cache_under_a_file_names_conceptpatch_cache(capsys, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("", encoding="utf-8")
    monkeypatch.setenv("CONCEPTPATCH_CACHE", str(tmp_path / "afile" / "cache"))
    suite = write_suite(tmp_path)
    code, _, err = _cli(capsys, "run", str(suite), "--store", str(tmp_path / "store"), "--quiet")
    assert code == 2 and "CONCEPTPATCH_CACHE" in err


def _read_only_cwd(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``folder`` the working directory and have it report itself read-only (root may
    write anywhere, so `os.access` says what a read-only mount would)."""
    monkeypatch.chdir(folder)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p).resolve() == folder
                        else real(p, mode, **kw))


def test_report_default_out_in_a_read_only_working_directory(capsys, tmp_path, store,
                                                              monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    _read_only_cwd(monkeypatch, work)
    code, _, err = _cli(capsys, "report", str(store))
    assert code == 2 and "reports/store" in err and "pass --out" in err
    assert not list(work.iterdir())


def test_claims_default_report_in_a_read_only_working_directory(capsys, tmp_path, monkeypatch):
    suite = write_suite(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    _read_only_cwd(monkeypatch, work)
    code, out, err = _cli(capsys, "claims", str(suite))
    assert code == 2 and "pass --report" in err and "test session starts" not in out
    assert not list(work.iterdir())


def _full_disk(*_: object, **__: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_while_writing_the_report(capsys, tmp_path, store, monkeypatch):
    monkeypatch.setattr(os, "fsync", _full_disk)
    out = tmp_path / "report"
    code, _, err = _cli(capsys, "report", str(store), "--out", str(out))
    assert code == 2 and "no space left to write" in err and "index.html" in err
    assert not out.exists()  # no page, no temp file, not even the empty folder it made


def test_full_disk_while_writing_a_sheet(capsys, tmp_path, store, monkeypatch):
    monkeypatch.setattr(pd.DataFrame, "to_csv", _full_disk)
    sheet = tmp_path / "sheets" / "s.csv"
    code, _, err = _cli(capsys, "annotate", "export", str(store), "--out", str(sheet))
    assert code == 2 and f"no space left to write {sheet}" in err
    assert not list(sheet.parent.iterdir())


def test_stdout_closed_early_prints_no_traceback(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "conceptpatch.cli", "check", str(TINY_RANDOM)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    proc.stdout.close()  # the reader is gone before anything is written (`| head` at worst)
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 1
    assert err == ""

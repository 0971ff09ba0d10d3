"""One definition of each number: verdicts.json, the notebook API and the report agree value for
value on one store (BH q-values included), and manual labels apply alike in `claims` and
`report`. Values are compared, not the presence of columns."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
import urllib.parse
import warnings
from pathlib import Path
from types import SimpleNamespace

import conceptpatch.api as api
import pandas as pd
import pytest
from conceptpatch import annotate, scoring, vocabulary
from conceptpatch.claims import common, synthetic_results
from conceptpatch.claims_command import claim_tests_dir
from conceptpatch.cli import main
from conceptpatch.errors import SuiteError
from conceptpatch.figures import common as figures
from conceptpatch.figures.tables import category_table
from conceptpatch.results import Store, load_store
from conceptpatch.tables import claim_table, final_verdicts
from statsmodels.stats.multitest import multipletests

pytest_plugins = ["pytester"]

CKS = (("s0", 0, 1), ("s1", 100, 1), ("s2", 200, 1), ("s3", 300, 2))
SUITE = SimpleNamespace(
    name="one-store", seen=("en", "fr", "de"), unseen=("cy",),
    settings=("seen", "en_en", "unpatched"), expect=(), claims={},
    settings_hash=lambda: "synthetic",
    checkpoints=[SimpleNamespace(name=n, step=s, tokens=s, phase=p) for n, s, p in CKS])
#: The fields of a record that carry a number or a verdict.
FIELDS = ("verdict", "reading", "effect", "ci_low", "ci_high", "pvalue", "raw_pvalue",
          "bh_qvalue", "n")

CONFTEST = '''
from types import SimpleNamespace

from conceptpatch.results import load_store

CKS = {cks!r}


def pytest_conceptpatch_load_suite(config, path):
    ck = [SimpleNamespace(name=n, step=s, tokens=s, phase=p) for n, s, p in CKS]
    return SimpleNamespace(name="one-store", checkpoints=ck, seen=("en", "fr", "de"),
                           unseen=("cy",), settings=("seen", "en_en", "unpatched"),
                           expect=(), claims={{}}, settings_hash=lambda: "synthetic")


def pytest_conceptpatch_results(config, suite, store, checkpoints):
    return load_store(store)  # no labels here: the plugin applies the store's
'''


def _rate(ci: int, setting: str, layer: int, lang: str) -> float:
    if lang == "cy" or ci == 0:
        return 0.02
    return 0.02 if layer >= 4 else {"en": 0.8, "fr": 0.6, "de": 0.4}[lang]


def _label(path: Path) -> int:
    """Fill an exported sheet: every exact answer becomes a hypernym, every other one 'empty';
    returns how many rows' labels differ from their automatic category."""
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    sheet["label"] = sheet["category"].map(lambda c: "hypernym" if c == "exact" else "empty")
    sheet.to_csv(path, index=False, encoding="utf-8-sig")
    return len(sheet)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, int]:
    """A small store of four checkpoints with imported labels: (its path, labels imported)."""
    root = Store(tmp_path_factory.mktemp("one") / "store").open()
    df = synthetic_results(checkpoints=CKS, rate=_rate, trials=40, seed=1)
    for (ck, setting), unit in df.groupby(["checkpoint", "setting"]):
        root.write(ck, setting, unit, meta={"suite_hash": "synthetic"})
    sheet = annotate.export_sheet(root.root, root.root.parent / "sheet.csv", per_cell=3)
    labelled = _label(sheet)
    assert annotate.import_sheet(sheet, root.root) == labelled > 0
    return root.root, labelled


@pytest.fixture(scope="module")
def claims_run(store, tmp_path_factory) -> tuple[list[dict], str]:
    """The packaged claim tests on the store through the plugin: (verdicts.json, index.html)."""
    path, _ = store
    work = tmp_path_factory.mktemp("claims")
    for test in sorted(claim_tests_dir().glob("test_*.py")):
        (work / test.name).write_text(test.read_text())
    (work / "conftest.py").write_text(CONFTEST.format(cks=CKS))
    (work / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    report = work / "report"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(work), "-q", "-p", "conceptpatch.pytest_plugin",
         "--rootdir", str(work), "--cp-store", str(path), "--cp-report", str(report)],
        cwd=work, capture_output=True, text=True, timeout=600)
    assert (report / "verdicts.json").exists(), done.stdout[-3000:] + done.stderr[-2000:]
    records = json.loads((report / "verdicts.json").read_text())
    return records, (report / "index.html").read_text(encoding="utf-8")


def _csv(page: str, name: str) -> pd.DataFrame:
    """The CSV a report page offers for download as ``name``."""
    found = re.search(rf'download="{re.escape(name)}" href="data:text/csv;charset=utf-8,([^"]+)"',
                      page)
    assert found, f"no {name} on the page"
    return pd.read_csv(io.StringIO(urllib.parse.unquote(found.group(1).replace("&amp;", "&"))),
                       keep_default_na=False, na_values=[""])


def _value(x: object) -> object:
    """A cell comparable across JSON, pandas and CSV: NaN and None are one missing value."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else x


def _by_case(rows: list[dict] | pd.DataFrame) -> dict[tuple[str, str], dict]:
    items = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else rows
    return {(r["claim_id"], r["case"]): {f: _value(r.get(f)) for f in FIELDS} for r in items}


def test_verdicts_json_the_api_and_the_report_agree_value_for_value(store, claims_run,
                                                                     tmp_path):
    path, _ = store
    records, page = claims_run
    from_json = _by_case(records)
    from_api = _by_case(api.verdicts(load_store(path), suite=SUITE, store=path))
    from_page = _by_case(_csv(page, "cases.csv"))
    verdicts = tmp_path / "verdicts.json"
    verdicts.write_text(json.dumps(records))
    assert main(["report", str(path), "--out", str(tmp_path / "r"),
                 "--verdicts", str(verdicts)]) == 0
    from_command = _by_case(_csv((tmp_path / "r" / "index.html").read_text(), "cases.csv"))
    assert len(from_json) >= 15
    assert from_api == from_json
    assert from_page == from_json
    assert from_command == from_json
    assert any(v["bh_qvalue"] is not None for v in from_json.values())


def test_bh_qvalues_are_of_the_raw_pvalues_across_all_cases(claims_run):
    records, _ = claims_run
    raw = [(i, r["raw_pvalue"]) for i, r in enumerate(records) if r["raw_pvalue"] is not None]
    expected = multipletests([p for _, p in raw], method="fdr_bh")[1]
    assert [records[i]["bh_qvalue"] for i, _ in raw] == [float(q) for q in expected]
    assert all(r["bh_qvalue"] is None for r in records if r["raw_pvalue"] is None)
    # a Holm p-value that is missing no longer hides the case's q-value
    rows = final_verdicts([{"claim_id": "a", "case": "x", "pvalue": None, "raw_pvalue": 0.01},
                           {"claim_id": "b", "case": "y", "pvalue": 0.2, "raw_pvalue": 0.04}])
    assert [r["bh_qvalue"] for r in rows] == [0.02, 0.04]


def test_labels_apply_alike_in_claims_report_and_the_report_command(store, claims_run,
                                                                   tmp_path):
    path, labelled = store
    _, claims_page = claims_run
    assert main(["report", str(path), "--out", str(tmp_path)]) == 0
    command_page = (tmp_path / "index.html").read_text(encoding="utf-8")
    results = load_store(path)
    exported = annotate.load_annotations(path)
    relabelled = int((exported["label"] != "").sum())
    assert relabelled == labelled
    for page in (claims_page, command_page):
        assert f"<dd>{labelled} rows relabelled by annotation</dd>" in page
    table = claim_table(results, SUITE, path)
    assert (table["category"] != results["category"]).sum() > 0  # the labels changed rows
    want = category_table(table).reset_index(drop=True)
    for page in (claims_page, command_page):
        got = _csv(page, "categories-by-layer.csv")
        assert got["count"].tolist() == want["count"].tolist()
        assert got["category"].tolist() == want["category"].astype(str).tolist()
    assert not claim_table(results, SUITE)["category"].equals(table["category"])


def test_the_api_raises_the_commands_error_for_an_unknown_gate_checkpoint(store):
    results = load_store(store[0])
    with pytest.raises(SuiteError) as found:
        api.verdicts(results, suite=SUITE, new_checkpoint="s9")
    with pytest.raises(SuiteError) as command:
        common.axes_from_suite(SUITE, upto="s9")
    assert str(found.value) == str(command.value)
    assert "\n" not in str(found.value)


def test_a_table_without_its_suite_says_so_and_mixed_designs_are_refused(store):
    results = load_store(store[0])
    with pytest.warns(UserWarning, match="carries no suite"):
        api.verdicts(results[results["checkpoint"] == "s3"])
    other = results.assign(suite_hash="another")
    with pytest.raises(SuiteError, match="mixes 2 designs"):
        api.verdicts(pd.concat([results, other], ignore_index=True), suite=SUITE)


def test_concatenated_patch_tables_keep_their_design(tiny_dirs, tmp_path):
    from conceptpatch.engine.checkpoints import load_checkpoint
    from conceptpatch.sources.checkpoint import Checkpoint

    lm = load_checkpoint(Checkpoint("m", path=str(tiny_dirs["llama"])))
    keys = dict(seen=["en", "fr", "de", "es"], layers=[0], trials=1,
                settings=["seen", "unpatched"])
    tables = [api.patch(lm.model, lm.tokenizer, name=f"s{step}", step=step, tokens=step, **keys)
              for step in (1, 2)]
    both = pd.concat(tables, ignore_index=True)
    assert "suite" not in both.attrs  # pandas drops attrs that differ
    suite = api.suite_of_table(both)
    assert suite is not None and [c["name"] for c in suite.model.checkpoints] == ["s1", "s2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "default design" warning: the design was found
        table = api.verdicts(both)
    assert _by_case(table) == _by_case(api.verdicts(both, suite=suite))
    other = api.patch(lm.model, lm.tokenizer, name="s3", step=3, tokens=3,
                      **{**keys, "trials": 2})
    with pytest.raises(SuiteError, match="mixes 2 designs"):
        api.verdicts(pd.concat([both, other], ignore_index=True))


def test_one_categories_tuple_everywhere():
    assert scoring.CATEGORIES is vocabulary.CATEGORIES
    assert common.CATEGORIES is vocabulary.CATEGORIES
    assert annotate.LABELS is vocabulary.LABELS
    assert figures.CATEGORY_ORDER is vocabulary.LABELS
    assert common.LABEL_TO_CATEGORY is vocabulary.LABEL_TO_CATEGORY
    assert set(vocabulary.LABEL_TO_CATEGORY) == set(vocabulary.LABELS)
    assert set(vocabulary.LABEL_TO_CATEGORY.values()) == set(vocabulary.CATEGORIES)
    lib = Path(common.__file__).resolve().parents[1]
    spelled = [p.relative_to(lib).as_posix() for p in lib.rglob("*.py")
               if re.search(r'[(\[]\s*"exact",\s*(#[^\n]*)?\s*"synonym"',
                            p.read_text(encoding="utf-8"))]
    assert spelled == ["vocabulary.py"]

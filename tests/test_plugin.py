"""The pytest plugin through pytester: a synthetic suite and results, no model anywhere."""

import json

import pytest
from conceptpatch.claims_command import claim_tests_dir

pytest_plugins = ["pytester"]

CLAIMS = claim_tests_dir()  # the packaged claim tests (claims/ in the clone imports them)

CONFTEST = '''
from types import SimpleNamespace

import pytest

import conceptpatch.report
from conceptpatch.claims import synthetic_results

CKS = (("s0", 0, 1), ("s1", 100, 1), ("s2", 200, 1), ("s3", 300, 2))


def rate(ci, setting, layer, lang):
    if lang == "cy" or ci == 0:
        return 0.02
    return 0.02 if layer >= 4 else {"en": 0.8, "fr": 0.6, "de": 0.4}[lang]


EXPECT = ()
CLAIMS = {}


def pytest_conceptpatch_load_suite(config, path):
    ck = [SimpleNamespace(name=n, step=s, tokens=s, phase=p) for n, s, p in CKS]
    return SimpleNamespace(name="synthetic", checkpoints=ck, seen=("en", "fr", "de"),
                           unseen=("cy",), settings=("seen", "en_en", "unpatched"),
                           expect=EXPECT, claims=CLAIMS)


def pytest_conceptpatch_results(config, suite, store, checkpoints):
    (store / "calls").mkdir(parents=True, exist_ok=True)
    (store / "calls" / str(id(config))).write_text("x")
    df = synthetic_results(checkpoints=CKS, rate=rate, trials=80, seed=0)
    return df[df["checkpoint"].isin(checkpoints)] if checkpoints else df


def fake_write_report(results, verdicts, suite, out_dir, store=None):
    path = out_dir / "index.html"
    path.write_text(f"{len(results)} rows, {len(verdicts)} verdicts")
    return path


_real_write_report = conceptpatch.report.write_report
conceptpatch.report.write_report = fake_write_report


def pytest_unconfigure(config):
    # runpytest runs in this process: leave the real writer for the tests that run after it
    conceptpatch.report.write_report = _real_write_report
'''


@pytest.fixture
def claim_dir(pytester):
    pytester.makeconftest(CONFTEST)
    for path in sorted(CLAIMS.glob("test_*.py")):
        pytester.makepyfile(**{path.stem: path.read_text()})
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester


def run(pytester, *args, subprocess=False):
    store, report = pytester.path / "store", pytester.path / "report"
    args = ("--cp-store", str(store), "--cp-report", str(report), "-rA", *args)
    result = (pytester.runpytest_subprocess if subprocess else pytester.runpytest)(*args)
    return result, json.loads((report / "verdicts.json").read_text())


def test_verdicts_drive_outcomes_and_report(claim_dir):
    result, records = run(claim_dir)
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 10 and outcomes.get("failed", 0) == 0
    assert {r["claim_id"] for r in records} >= {"concept_induction", "early_emergence",
                                                  "layer_sensitivity", "language_dependence",
                                                  "unseen_language", "phase_two"}
    by_node = {r["nodeid"].split("::")[-1]: r["verdict"] for r in records}
    assert by_node["test_concept_induction[seen-fr]"] == "supported"
    assert by_node["test_mid_layers_patch_and_late_layers_fail[seen]"] == "supported"
    assert "test_no_regression" not in " ".join(by_node)  # gate only with --new-checkpoint
    result.stdout.fnmatch_lines(["*conceptpatch verdicts*", "claim*case*verdict*BH q*",
                                 "*supported*refuted*inconclusive of * cases (p: Holm*BH*",
                                 "*conceptpatch report: *index.html*"])
    assert all("bh_qvalue" in r for r in records)
    assert (claim_dir.path / "report" / "index.html").read_text().endswith("verdicts")


def test_refuted_claim_fails_with_numbers(claim_dir):
    claim_dir.makeconftest(CONFTEST.replace('{"en": 0.8, "fr": 0.6, "de": 0.4}[lang]', "0.0"))
    result, records = run(claim_dir, "-k", "concept_induction")
    result.assert_outcomes(failed=6)
    result.stdout.fnmatch_lines(["*refuted: seen-* at s3, mid layers*effect*bounds*SESOI 0.05*"
                                 "p=*n=80*absent*"])
    assert {r["verdict"] for r in records} == {"refuted"}


EXPECTED = """EXPECT = ({"claim": "concept_induction", "verdict": "refuted",
           "reason": "measured: nothing patches"},)"""


def test_declared_expectations_are_xfail_and_strict(claim_dir):
    zero = CONFTEST.replace('{"en": 0.8, "fr": 0.6, "de": 0.4}[lang]', "0.0")
    claim_dir.makeconftest(zero.replace("EXPECT = ()", EXPECTED))
    result, records = run(claim_dir, "-k", "concept_induction")
    result.assert_outcomes(xfailed=6)
    result.stdout.fnmatch_lines(["*expected refuted: measured: nothing patches*"])
    assert {r["expected"] for r in records} == {"refuted"}
    claim_dir.makeconftest(CONFTEST.replace("EXPECT = ()", EXPECTED))  # the claim now holds
    result, _ = run(claim_dir, "-k", "concept_induction")
    result.assert_outcomes(failed=6)
    result.stdout.fnmatch_lines(["*expected refuted (measured: nothing patches), got supported*"])


def test_xdist_gives_the_serial_verdicts(claim_dir):
    _, serial = run(claim_dir)
    result, parallel = run(claim_dir, "-n", "2", subprocess=True)
    assert parallel == serial
    assert "2 workers" in result.stdout.str()


def test_new_checkpoint_runs_only_the_gate(claim_dir):
    result, records = run(claim_dir, "--cp-new-checkpoint", "s2")
    assert {r["claim_id"] for r in records} == {"regression"}
    assert len(records) == 6
    result.stdout.fnmatch_lines(["*deselected*"])


def test_gate_window_and_margin_come_from_the_suite(claim_dir):
    _, default = run(claim_dir, "--cp-new-checkpoint", "s3")
    assert {tuple(r["evidence"]["earlier"]) for r in default} == {("s1", "s2")}
    assert {r["sesoi"] for r in default} == {0.10}
    keys = 'CLAIMS = {"gate_window": 1, "gate_margin": 0.3}'
    claim_dir.makeconftest(CONFTEST.replace("CLAIMS = {}", keys))
    _, records = run(claim_dir, "--cp-new-checkpoint", "s3")
    assert {tuple(r["evidence"]["earlier"]) for r in records} == {("s2",)}
    assert {r["sesoi"] for r in records} == {0.3}


def test_unknown_new_checkpoint_names_the_choices(claim_dir):
    result = claim_dir.runpytest("--cp-new-checkpoint", "nope", "--cp-store",
                                 str(claim_dir.path / "s"))
    result.stdout.fnmatch_lines(["*--new-checkpoint 'nope' is not a checkpoint*s0, s1, s2, s3*"])


def test_options_registered_once_and_unit_tests_unaffected(pytester):
    pytester.makeconftest('pytest_plugins = ["conceptpatch.pytest_plugin"]\n')
    pytester.makepyfile(test_unit="def test_one():\n    assert 1\n")
    result = pytester.runpytest("--cp-suite", "does/not/exist.toml")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()
    help_text = pytester.runpytest("--help").stdout.str()
    assert "conceptpatch" in help_text and "--cp-new-checkpoint" in help_text

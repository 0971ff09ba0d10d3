"""pytest plugin of the claim tests: options, the session results fixture, verdict records, report.

Wiring only: the statistics live in :mod:`conceptpatch.stats`, the claims in
:mod:`conceptpatch.claims`, the engine in :mod:`conceptpatch.compute`, the claim tests in
:mod:`conceptpatch.claim_tests` (``claims/`` in a clone imports them; ``conceptpatch claims``
runs them). Registered by the ``pytest11`` entry point ``conceptpatch.pytest_plugin`` and, for a
fresh clone, by the top-level conftest.py, so every option is namespaced ``--cp-*``: an unrelated
pytest session sees no generic option. Relative paths resolve against the working directory.
Claim tests carry ``@pytest.mark.claim_cases(cases=fn)``; ``fn(axes)`` lists their case ids from the
suite at collection time, so nothing is computed until a claim test asks for ``results``. Verdicts
travel as a JSON user property on each test report, so the controller collects them under
pytest-xdist as in a serial run, and writes the report once, at session end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conceptpatch import claims, hookspecs
from conceptpatch.claims.regression import gate
from conceptpatch.claims.testable import no_case
from conceptpatch.claims_command import INCONCLUSIVE, resolve_stored, stored_results
from conceptpatch.errors import ConceptPatchError
from conceptpatch.files import atomic_write, check_out_dir, write_problem
from conceptpatch.fingerprint import weight_problems
from conceptpatch.numbers import terminal_effect, terminal_p
from conceptpatch.paths import default_store
from conceptpatch.preflight import layers_arg, list_arg, with_overrides
from conceptpatch.resolve import resolve
from conceptpatch.results import Store
from conceptpatch.tables import claim_table, final_verdicts, labelled

VERDICT_PROPERTY = "conceptpatch_verdict"
#: The version of the ``verdicts.json`` record layout (docs/verdicts.md); bumped on a change.
VERDICTS_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Options:
    """The plugin's command-line options, paths resolved against the working directory."""

    suite: Path
    store: Path | None
    report: Path | None
    alpha: float | None
    new_checkpoint: str | None
    control_suite: Path | None = None
    no_compute: bool = False
    inconclusive: str = "pass"
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_OPTIONS = pytest.StashKey[Options]()
_SUITE = pytest.StashKey[Any]()
_RESULTS = pytest.StashKey[Any]()
_AXES = pytest.StashKey[claims.Axes]()
_VERDICTS = pytest.StashKey[list[dict[str, Any]]]()
_REPORT = pytest.StashKey[str]()
_CONTROL = pytest.StashKey[Any]()
_STAGED = pytest.StashKey[Any]()  # a sequential run's `conceptpatch.staged.Staged`
_SELECTED = pytest.StashKey[set[str]]()  # the claim ids whose tests this session runs


#: The default ``--cp-suite``, relative to the working directory (a clone's root).
DEFAULT_SUITE = "suites/organism.toml"


def alpha_arg(text: str) -> float:
    """``--cp-alpha``: a significance level; pytest shows the message of a bad one as is."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:  # NaN too
        raise argparse.ArgumentTypeError(
            f"--cp-alpha {text}: must lie strictly between 0 and 1 (e.g. 0.05)")
    return value


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conceptpatch", "claims of 'When Meanings Meet' run against a suite "
                                            "(relative paths: from the working directory)")
    group.addoption("--cp-suite", default=None, metavar="PATH",
                    help=f"suite TOML file (default: {DEFAULT_SUITE})")
    group.addoption("--cp-store", default=None, metavar="DIR",
                    help="results store (default: <user cache>/conceptpatch/stores/<suite>-<hash>)")
    group.addoption("--cp-report", default=None, metavar="DIR",
                    help="where the claim report goes (default: reports/<suite name>/)")
    group.addoption("--cp-alpha", default=None, type=alpha_arg, metavar="ALPHA",
                    help="significance level of every claim (default: each claim's, 0.05)")
    group.addoption("--cp-new-checkpoint", default=None, metavar="NAME",
                    help="regression gate: test only whether checkpoint NAME is significantly "
                         "worse than the checkpoints before it")
    group.addoption("--cp-control-suite", default=None, metavar="PATH",
                    help="a control run's suite (e.g. suites/organism-no-phase-two.toml): the "
                         "phase-two claim contrasts each language's gain with the control's")
    group.addoption("--cp-no-compute", action="store_true", default=False,
                    help="never load a model: use the stored units only and stop with the "
                         "`conceptpatch run` command that computes any missing one")
    group.addoption("--cp-trials", default=None, type=int, metavar="N",
                    help="the suite with [sample] trials = N (as `conceptpatch run --trials`)")
    group.addoption("--cp-layers", default=None, metavar="LAYERS",
                    help="the suite with [patch] layers = all or 0,6,12 (as `run --layers`)")
    group.addoption("--cp-settings", default=None, metavar="A,B",
                    help="the suite with [patch] settings = A,B (as `run --settings`)")
    group.addoption("--cp-inconclusive", default="pass", choices=INCONCLUSIVE,
                    help="an inconclusive verdict without a declared expectation: pass (a "
                         "skip, the default) or fail (the run fails)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim_cases(cases=fn): parametrize `case` with fn(axes of "
                                       "the suite) at collection time")
    config.addinivalue_line("markers", "regression: the --new-checkpoint regression gate")
    config.addinivalue_line("markers", "cp_no_case: a claim the suite gives no case (deselected; "
                                       "conceptpatch.claims.testable says why)")
    root = config.invocation_params.dir

    def resolve(value: str | None) -> Path | None:
        return None if value is None else (root / value).resolve()

    config.stash[_OPTIONS] = Options(
        resolve(config.getoption("cp_suite") or DEFAULT_SUITE),
        resolve(config.getoption("cp_store")), resolve(config.getoption("cp_report")),
        config.getoption("cp_alpha"), config.getoption("cp_new_checkpoint"),
        resolve(config.getoption("cp_control_suite")), config.getoption("cp_no_compute"),
        config.getoption("cp_inconclusive"), _overrides(config),
    )
    config.stash[_VERDICTS] = []
    config.pluginmanager.register(_VerdictCollector(config), "conceptpatch-verdicts")
    _check_report_dir(config)


def _check_report_dir(config: pytest.Config) -> None:
    """A ``--cp-report`` (or, for a ``--cp-suite`` run, ``./reports``) that cannot take the
    verdicts is a usage error now, not a loss after every test ran."""
    opts = config.stash[_OPTIONS]
    out = opts.report or (config.invocation_params.dir / "reports"
                          if config.getoption("cp_suite") else None)
    if out is None:
        return
    try:
        check_out_dir(out, "--cp-report")
    except ConceptPatchError as err:
        raise pytest.UsageError(f"conceptpatch: {err}") from None


def _overrides(config: pytest.Config) -> dict[str, Any]:
    """``--cp-trials/--cp-layers/--cp-settings`` as `conceptpatch.preflight.with_overrides` keys."""
    import argparse

    layers, settings = config.getoption("cp_layers"), config.getoption("cp_settings")
    try:
        parsed = None if layers is None else layers_arg(layers)
    except argparse.ArgumentTypeError as err:
        raise pytest.UsageError(f"--cp-layers: {err}") from None
    given = {"trials": config.getoption("cp_trials"), "layers": parsed,
             "settings": None if settings is None else list_arg(settings)}
    return {k: v for k, v in given.items() if v is not None}


@pytest.hookimpl(trylast=True)
def pytest_conceptpatch_load_suite(config: pytest.Config, path: Path) -> Any:
    overrides = config.stash[_OPTIONS].overrides if path == config.stash[_OPTIONS].suite else {}
    return with_overrides(path, **overrides)


@pytest.hookimpl(trylast=True)
def pytest_conceptpatch_results(
    config: pytest.Config, suite: Any, store: Path, checkpoints: list[str] | None
) -> Any:
    if config.stash[_OPTIONS].no_compute:
        return stored_results(suite, store, checkpoints)
    from conceptpatch.train_and_compute import run_pipelined

    return run_pipelined(suite, store, checkpoints, progress=True)


def _suite(config: pytest.Config) -> Any:
    if _SUITE not in config.stash:
        path = config.stash[_OPTIONS].suite
        config.stash[_SUITE] = config.hook.pytest_conceptpatch_load_suite(config=config, path=path)
    return config.stash[_SUITE]


def _store(config: pytest.Config) -> Path:
    opts = config.stash[_OPTIONS]
    if opts.store is not None:
        return opts.store

    suite = _suite(config)
    return default_store(suite.name, suite.settings_hash())


def _axes(config: pytest.Config) -> claims.Axes:
    """Checkpoints and languages of the suite; resolving may build the organism (locked, once)."""
    if _AXES not in config.stash:
        suite = _suite(config)
        opts = config.stash[_OPTIONS]
        if not hasattr(suite, "checkpoints"):
            from conceptpatch.train_and_compute import needs_training

            if opts.no_compute:  # builds and trains nothing; a glob's checkpoints may be
                suite = resolve_stored(suite, _store(config))  # known from the store only
            else:
                if opts.new_checkpoint is None and needs_training(suite):
                    _results(config)  # trains the organism while computing its units
                suite = resolve(suite)
        upto = config.stash[_OPTIONS].new_checkpoint
        config.stash[_AXES] = claims.axes_from_suite(suite, upto=upto)
    return config.stash[_AXES]


def _results(config: pytest.Config) -> Any:
    """Compute the missing units (the engine locks each one) and load the rest, once a process;
    the store's manual labels beside each row (:func:`conceptpatch.tables.labelled`)."""
    if _RESULTS not in config.stash:
        checkpoints = None
        if config.stash[_OPTIONS].new_checkpoint is not None:  # the gate reads its window only
            window, _ = gate(_suite(config))
            checkpoints = list(_axes(config).checkpoints)[-(window + 1):]
        capture = config.pluginmanager.getplugin("capturemanager")
        # The first run may train the organism and compute for many minutes: show its progress.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            if _sequential(config):
                df = _run_staged(config)
            else:
                df = config.hook.pytest_conceptpatch_results(
                    config=config, suite=_suite(config), store=_store(config),
                    checkpoints=checkpoints)
        df = labelled(df, _store(config))
        _check_weights(config, sorted(set(df["checkpoint"])) if "checkpoint" in df else [])
        keys = [c for c in ("checkpoint", "setting", "layer", "output_lang", "trial")
                if c in df.columns]
        config.stash[_RESULTS] = df.sort_values(keys, kind="stable").reset_index(drop=True)
    return config.stash[_RESULTS]


def _sequential(config: pytest.Config) -> bool:
    """Whether the run is a sequential design's (``sample.stages``; the gate never is)."""
    suite = _suite(config)
    return (getattr(suite, "stages", None) is not None and hasattr(suite, "settings_hash")
            and config.stash[_OPTIONS].new_checkpoint is None)


def _run_staged(config: pytest.Config) -> Any:
    """Compute and test stage by stage (`conceptpatch.staged`); the rows of the last look run."""
    from conceptpatch.staged import run_staged

    suite, store, opts = _suite(config), _store(config), config.stash[_OPTIONS]
    if opts.control_suite is not None:
        raise pytest.UsageError(
            "conceptpatch: --control-suite contrasts two fixed designs, and this suite is"
            " sequential (sample.stages): drop sample.stages from it, or the control suite")
    selected = config.stash.get(_SELECTED, None)

    def cases(claim_id: str) -> list[str]:  # the claims this session runs (-k, a file) only
        if selected is not None and claim_id not in selected:
            return []
        return claims.MODULES[claim_id].cases(_axes(config))

    staged = run_staged(
        suite, store, cases=cases,
        alpha=opts.alpha, design=claims.Design.from_suite(suite), compute=not opts.no_compute,
        table_of=lambda rows: claim_table(rows, suite, store), progress=True)
    config.stash[_STAGED] = staged
    return staged.table


def _check_weights(config: pytest.Config, names: list[str]) -> None:
    """End the run (status 2) before any verdict when the units of ``names`` were computed on
    weights two checkpoints share, or on weights changed since (`conceptpatch.fingerprint`)."""
    suite = _suite(config)
    if not hasattr(suite, "settings_hash"):  # a plugin's own results hook: no conceptpatch store
        return
    store = _store(config)
    current: list[Any] = []
    try:
        if hasattr(suite, "checkpoints"):
            resolved = suite
        elif config.stash[_OPTIONS].no_compute:
            resolved = resolve_stored(suite, store)
        else:
            resolved = resolve(suite, build=False, missing_ok=True)
        current = [c for c in resolved.checkpoints if c.name in names]
    except ConceptPatchError:  # the weights cannot be found here: the recorded ones are compared
        pass
    problems = weight_problems(Store(store).fingerprints(suite.settings_hash(), names), current)
    if problems:
        more = (f" ({len(problems) - 1} more: `conceptpatch check SUITE --store STORE` lists"
                " them)") if len(problems) > 1 else ""
        pytest.exit(f"conceptpatch: {problems[0]}{more}", returncode=2)


def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``--cp-no-compute``, load the stored results up front: a missing unit (or an
    untrained organism) ends the run with its one-line fix before anything is collected."""
    config = session.config
    if _OPTIONS not in config.stash or not config.stash[_OPTIONS].no_compute:
        return

    try:
        _results(config)
    except ConceptPatchError as err:
        raise pytest.UsageError(f"conceptpatch: {' '.join(str(err).split())}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("claim_cases")
    if marker is None or "case" not in metafunc.fixturenames:
        return
    cases = list(marker.kwargs["cases"](_axes(metafunc.config)))
    if not cases:  # a claim the suite cannot test: one placeholder, deselected at collection
        metafunc.parametrize("case", [pytest.param(None, marks=pytest.mark.cp_no_case)],
                             ids=["no-case"])
        return
    metafunc.parametrize("case", cases, ids=cases)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gate = config.stash[_OPTIONS].new_checkpoint is not None
    keep, drop = [], []
    for item in items:
        is_claim = item.get_closest_marker("claim_cases") is not None
        is_gate = item.get_closest_marker("regression") is not None
        no_case = item.get_closest_marker("cp_no_case") is not None
        (drop if is_claim and (is_gate != gate or no_case) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Note which claims the session runs: a sequential run waits for their cases only."""
    if _OPTIONS not in session.config.stash:
        return
    session.config.stash[_SELECTED] = {
        item.module.claim.CLAIM.id for item in session.items
        if item.get_closest_marker("claim_cases") is not None
        and hasattr(getattr(item, "module", None), "claim")}


@pytest.fixture(scope="session")
def suite(request: pytest.FixtureRequest) -> Any:
    """The suite named by ``--cp-suite``."""
    return _suite(request.config)


@pytest.fixture(scope="session")
def results(request: pytest.FixtureRequest) -> Any:
    """The suite's results table: missing units computed through the engine, the rest loaded.

    Manual labels from annotation sheets take precedence, mapped onto the six categories.
    """
    return claim_table(_results(request.config), _suite(request.config))


@pytest.fixture(scope="session")
def staged(request: pytest.FixtureRequest, results: Any) -> Any:
    """A sequential suite's decisions (`conceptpatch.staged.Staged`: each case's verdict at the
    look that decided it), or None for a fixed design."""
    return request.config.stash.get(_STAGED, None)


@pytest.fixture(scope="session")
def design(request: pytest.FixtureRequest) -> claims.Design:
    """What the suite pre-declares for its claims (``[claims]``: band, reference, ...)."""
    return _axes(request.config).design


@pytest.fixture(scope="session")
def control_results(request: pytest.FixtureRequest) -> Any:
    """The ``--cp-control-suite`` run's results (computed like the suite's), or None."""
    config = request.config
    path = config.stash[_OPTIONS].control_suite
    if path is None:
        return None
    if _CONTROL not in config.stash:
        control = config.hook.pytest_conceptpatch_load_suite(config=config, path=path)
        store = default_store(control.name, control.settings_hash())
        config.stash[_CONTROL] = claim_table(config.hook.pytest_conceptpatch_results(
            config=config, suite=control, store=store, checkpoints=None), control, store)
    return config.stash[_CONTROL]


def _expectation(suite: Any, claim_id: str, case: str) -> Mapping[str, str] | None:
    """The suite's ``[[expect]]`` entry for a case (a case-specific one before a claim-wide one)."""
    found = [e for e in getattr(suite, "expect", ()) if e["claim"] == claim_id
             and e.get("case") in (None, case)]
    found.sort(key=lambda e: e.get("case") is None)
    return found[0] if found else None


@pytest.fixture
def check_verdict(request: pytest.FixtureRequest):
    """Record a case's verdict and turn it into the test outcome.

    A verdict the suite declares in ``[[expect]]`` (with its measured reason) is an xfail; any
    other verdict where an expectation exists fails the test, like a strict xfail. Without one,
    supported passes, refuted fails, inconclusive skips (``--cp-inconclusive fail``: fails).
    """

    def check(found: Mapping[str, claims.Verdict], claim_id: str, case: str) -> None:
        verdict = found.get(case) or claims.missing_verdict(claim_id, case, "no rows for it")
        expected = _expectation(_suite(request.config), claim_id, case)
        suite = _suite(request.config)
        rec = {**verdict.to_record(), "nodeid": request.node.nodeid,
               "suite": str(getattr(suite, "name", "")), "suite_hash": _design_hash(suite),
               "expected": expected["verdict"] if expected else None,
               "expected_reason": expected["reason"] if expected else None}
        staged = request.config.stash.get(_STAGED, None)
        if staged is not None:  # the look that decided it (docs/verdicts.md)
            rec.update(staged.record(claim_id, case))
        request.node.user_properties.append((VERDICT_PROPERTY, json.dumps(rec)))
        if expected is None:
            if verdict.verdict == "inconclusive" and _fails_inconclusive(request.config):
                pytest.fail(f"inconclusive, a failure under the policy 'fail': "
                            f"{verdict.message}", pytrace=False)
            claims.assert_verdict(verdict)
        elif verdict.verdict == expected["verdict"]:
            pytest.xfail(f"expected {verdict.verdict}: {expected['reason']} ({verdict.message})")
        else:
            pytest.fail(f"expected {expected['verdict']} ({expected['reason']}), got "
                        f"{verdict.verdict}: {verdict.message}", pytrace=False)

    return check


def _design_hash(suite: Any) -> str | None:
    """The settings hash of the design a verdict was decided on (None for a suite object a
    `pytest_conceptpatch_load_suite` hook made without one)."""
    digest = getattr(suite, "settings_hash", None)
    return str(digest()) if callable(digest) else None


def _fails_inconclusive(config: pytest.Config) -> bool:
    return config.stash[_OPTIONS].inconclusive == "fail"


@pytest.fixture(scope="session")
def alpha(request: pytest.FixtureRequest) -> float | None:
    """``--cp-alpha``, or None to use each claim's own."""
    return request.config.stash[_OPTIONS].alpha


@pytest.fixture(scope="session")
def new_checkpoint(request: pytest.FixtureRequest) -> str | None:
    """``--cp-new-checkpoint``: the checkpoint under the regression gate, or None."""
    return request.config.stash[_OPTIONS].new_checkpoint


class _VerdictCollector:
    """Collects the verdict records from test reports (on the xdist controller: from workers)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == VERDICT_PROPERTY:
                self.config.stash[_VERDICTS].append(json.loads(value))


def verdict_records(config: pytest.Config) -> list[dict[str, Any]]:
    """The verdict records this process collected, sorted by (claim, case)."""
    return sorted(config.stash.get(_VERDICTS, []), key=lambda r: (r["claim_id"], r["case"]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return

    records = final_verdicts(verdict_records(config))
    if not records:
        return
    config.stash[_VERDICTS] = records
    opts = config.stash[_OPTIONS]
    suite = _suite(config)
    out = opts.report or config.invocation_params.dir / "reports" / str(suite.name)
    try:
        atomic_write(out / "verdicts.json", verdicts_json(records))
    except OSError as exc:  # a full disk: the verdicts stay in the summary above it
        why = write_problem(exc) or repr(exc)
        config.stash[_REPORT] = f"verdicts.json not written ({why}); the verdicts are above"
        return
    try:
        from conceptpatch.report import write_report
    except ImportError:
        config.stash[_REPORT] = f"{out / 'verdicts.json'} (conceptpatch.report not available)"
        return
    try:
        path = write_report(_results(config), records, suite, out, store=_store(config))
    except Exception as exc:  # a broken report must not hide the verdicts
        config.stash[_REPORT] = f"{out / 'verdicts.json'} (report failed: {exc!r})"
        return
    config.stash[_REPORT] = str(path)


def verdicts_json(records: list[dict[str, Any]]) -> str:
    """The text of ``verdicts.json``: the records, each with its schema version (docs/verdicts.md)
    so that a consumer can tell layouts apart."""
    rows = [{**r, "schema_version": VERDICTS_SCHEMA} for r in records]
    return json.dumps(rows, indent=1, sort_keys=True) + "\n"


def _write_no_case(tr: Any, config: pytest.Config) -> None:
    """The claims the suite gives no case (deselected), each with its reason."""
    if _AXES in config.stash and config.stash[_OPTIONS].new_checkpoint is None:
        for claim_id, why in no_case(config.stash[_AXES]).items():
            if claim_id != "regression":
                tr.write_line(f"  not testable here: {claim_id} ({why})")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    records = [] if hasattr(config, "workerinput") else config.stash.get(_VERDICTS, [])
    if records:
        tr = terminalreporter
        tr.write_sep("=", "conceptpatch verdicts")
        tr.write_line(f"{'claim':<20} {'case':<16} {'verdict':<13} {'effect':>7} "
                      f"{'bounds':>17} {'Holm p':>8} {'BH q':>8}  expected")
        for r in records:
            bounds = (f"[{terminal_effect(r['ci_low'])}, {terminal_effect(r['ci_high'])}]"
                      if r.get("ci_low") is not None else "-")
            tr.write_line(f"{r['claim_id']:<20} {r['case']:<16} {r['verdict']:<13} "
                          f"{terminal_effect(r.get('effect')):>7} {bounds:>17} "
                          f"{terminal_p(r.get('pvalue')):>8} {terminal_p(r.get('bh_qvalue')):>8}  "
                          f"{r.get('expected') or ''}")
        counts = {v: sum(r["verdict"] == v for r in records)
                  for v in ("supported", "refuted", "inconclusive")}
        bh = sum(r.get("bh_qvalue") is not None and r["bh_qvalue"] <= 0.05
                 and r["verdict"] == "supported" for r in records)
        expected = [r for r in records if r.get("expected")]
        tr.write_line(f"{counts['supported']} supported, {counts['refuted']} refuted, "
                      f"{counts['inconclusive']} inconclusive of {len(records)} cases "
                      f"(p: Holm within each claim; {bh} supported also at BH q <= 0.05 across "
                      f"all cases); {len(expected)} with a declared expectation")
        for r in expected:
            tr.write_line(f"  expected {r['expected']}: {r['claim_id']}/{r['case']}: "
                          f"{r['expected_reason']}")
        if _STAGED in config.stash:
            tr.write_line(f"  sequential: {config.stash[_STAGED].summary()}")
        _write_no_case(terminalreporter, config)
    if _REPORT in config.stash:
        terminalreporter.write_sep("-", f"conceptpatch report: {config.stash[_REPORT]}")

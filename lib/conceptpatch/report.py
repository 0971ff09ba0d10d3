"""The HTML claim report: JSON-able records rendered by one autoescaped jinja2 template.

The page leads with one block per paper claim (:func:`claim_blocks`: statement, the reading
across cases in one sentence, the cases with a declared expectation apart, the figure that shows
the claim), then the case table (Holm p within each claim, Benjamini-Hochberg q across the run).

:func:`build_records` turns the results table, the claim verdicts and the suite into plain dicts
(figures as base64 PNG from :mod:`conceptpatch.figures`); :func:`render` fills the packaged
template;
:func:`write_report` writes one self-contained ``index.html`` atomically. Python never builds HTML:
every string reaches the page through the template's autoescaping, so model output is inert.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from conceptpatch import figures
from conceptpatch.claims import MODULES, Design
from conceptpatch.claims.common import CAVEAT
from conceptpatch.config.suite import Suite
from conceptpatch.errors import ConceptPatchError
from conceptpatch.figures.tables import numeric_tables, units
from conceptpatch.files import atomic_write
from conceptpatch.fingerprint import weight_problems
from conceptpatch.numbers import cell, p_cell, p_text
from conceptpatch.prompts import Template
from conceptpatch.provenance import departures, installed_versions, provenance, suite_text
from conceptpatch.resolve import resolve, suite_lexicon
from conceptpatch.results import Store
from conceptpatch.tables import claim_table, final_verdicts, labelled

__all__ = [
    "PACKAGES",
    "VERDICTS",
    "build_records",
    "claim_blocks",
    "claim_sentence",
    "package_versions",
    "render",
    "sample_trials",
    "verdict_records",
    "write_report",
]

VERDICTS: tuple[str, ...] = ("supported", "refuted", "inconclusive")
PACKAGES: tuple[str, ...] = ("conceptpatch", "torch", "transformers", "pandas")
_SAMPLES_PER_CATEGORY = 6
_EVIDENCE_CHARS = 4000
_TEMPLATE = "report.html.jinja2"


def _environment() -> jinja2.Environment:
    """The template environment: packaged templates, autoescape on, undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("conceptpatch", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _evidence(value: Any) -> str:
    """A verdict's evidence as indented JSON for a collapsible cell ("" when there is none)."""
    if not value:
        return ""
    text = json.dumps(value, indent=1, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= _EVIDENCE_CHARS else text[:_EVIDENCE_CHARS] + "\n…"


def _record(item: Any) -> dict[str, Any]:
    """A verdict record: a dict, or an object's ``to_record()``."""
    return dict(item.to_record() if callable(getattr(item, "to_record", None)) else item)


def _bounds(v: Mapping[str, Any]) -> str:
    low, high = cell(v.get("ci_low")), cell(v.get("ci_high"))
    return f"[{low}, {high}]" if low != "—" or high != "—" else "—"


def verdict_records(verdicts: Sequence[Any]) -> list[dict[str, str]]:
    """Verdict rows formatted for display (dicts, or objects with ``to_record()``), in the order
    given."""
    rows = []
    for item in verdicts:
        v = _record(item)
        verdict = str(v.get("verdict", "inconclusive"))
        expected = v.get("expected")
        rows.append({
            "claim_id": str(v.get("claim_id", "")),
            "case": str(v.get("case", "")),
            "verdict": verdict,
            "css": ("caveat" if verdict == "supported" and str(v.get("reading") or "")
                    .startswith(CAVEAT) else verdict if verdict in VERDICTS else "unknown"),
            "reading": str(v.get("reading", "") or ""),
            "effect": cell(v.get("effect")),
            "ci": _bounds(v),
            "pvalue": p_cell(v.get("pvalue")),
            "raw_pvalue": p_cell(v.get("raw_pvalue")),
            "qvalue": p_cell(v.get("bh_qvalue")),
            "n": cell(v.get("n"), 0),
            "sesoi": cell(v.get("sesoi"), 2),
            "expected": str(expected) if expected else "",
            "expected_reason": str(v.get("expected_reason", "") or ""),
            "expected_met": bool(expected) and str(expected) == verdict,
            "message": str(v.get("message", "") or ""),
            "evidence": _evidence(v.get("evidence")),
            "stage": _stage_text(v),
        })
    return rows


def _stage_text(record: Mapping[str, Any]) -> str:
    """Where a sequential design decided the case ("" for a fixed design's)."""
    if record.get("stage") is None:
        return ""
    stages = list(record.get("stages") or [])
    how = "decided" if record.get("verdict") in ("supported", "refuted") else "last look"
    return (f"{how} at look {record['stage']} of {len(stages)} ({record.get('stage_pairings')}"
            f" pairings, level {p_text(record.get('nominal_alpha'))})")


def sequential_record(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """A sequential design's run in lines for the report: its looks, where it stopped, which
    cases it decided early and what it did not compute (empty for a fixed design)."""
    staged = [r for r in records if r.get("stages")]
    if not staged:
        return []
    stages = list(staged[0]["stages"])
    run = max(int(r.get("stages_run") or 0) for r in staged)
    early = [f"{r['claim_id']}/{r['case']}" for r in staged if r.get("decided_early")]
    lines = [f"Pairings computed in stages of {', '.join(map(str, stages))}; after each, every"
             " case tested at the level O'Brien-Fleming spending (Lan-DeMets) allots to that"
             " look, a case kept once supported or refuted.",
             f"Stopped after look {run} of {len(stages)} ({stages[run - 1]} pairings)"
             + (f": pairings {stages[run - 1] + 1}-{stages[-1]} were not computed."
                if run < len(stages) else ": every stage was computed.")]
    if early:
        lines.append(f"Decided before the last look ({len(early)}): {', '.join(early)}.")
    return lines


# ---- the claim blocks -------------------------------------------------------------------------

#: Which figure shows each claim (the same figure may show two claims).
CLAIM_FIGURES: dict[str, str] = {
    "concept_induction": "induction",
    "layer_sensitivity": "heatmap",
    "early_emergence": "curves",
    "stability": "curves",
    "phase_two": "phase_two",
    "unseen_language": "unseen",
    "language_dependence": "language",
    "regression": "curves",
}
_GATES = ("regression",)  # not a claim of the paper: shown only when the run has its cases
_LIST_REFUTED = 4  # refuted cases named one by one up to this many, else counted by reading


def _cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"


def claim_sentence(rows: Sequence[Mapping[str, Any]]) -> str:
    """One claim's reading across its cases, in words, for the cases without a declared
    expectation (those are listed apart), e.g. "supported in 8 of 10 cases; refuted in
    en_en-en (absent); 1 inconclusive (not measurable)"."""
    if not rows:
        return "not tested in this run: the suite gives this claim no case"
    plain = [r for r in rows if not r.get("expected")]
    if not plain:
        return f"every case ({len(rows)}) has a declared expectation, listed below"
    untested = {str(r.get("reading")) for r in plain
                if str(r.get("reading") or "").startswith("untestable: ")}
    if untested and all(str(r.get("reading")) in untested for r in plain):
        return "; ".join(sorted(untested))  # no data for it: why, and the fix
    n = len(plain)
    by = {v: [r for r in plain if r["verdict"] == v] for v in VERDICTS}
    supported = len(by["supported"])
    if supported == n:
        head = "supported in its one case" if n == 1 else f"supported in all {n} cases"
    elif supported:
        head = f"supported in {supported} of {n} cases"
    else:
        head = "supported in none of " + ("its one case" if n == 1 else f"{n} cases")
    smaller = sum(r.get("reading") == "smaller than the paper's effect" for r in by["supported"])
    caveats = [r for r in by["supported"] if str(r.get("reading") or "").startswith(CAVEAT)]
    notes = ([f"{smaller} smaller than the paper's effect"] if smaller else []) + (
        [f"{len(caveats)} with a caveat: " + "; ".join(
            f"{r['case']}, {str(r['reading']).removeprefix(CAVEAT + ': ')}" for r in caveats)]
        if caveats else [])
    if notes:
        head += " (" + "; ".join(notes) + ")"
    parts = [head]
    refuted = by["refuted"]
    if refuted and len(refuted) <= _LIST_REFUTED:
        parts.append("refuted in " + ", ".join(
            f"{r['case']} ({r['reading']})" if r.get("reading") else str(r["case"])
            for r in refuted))
    elif refuted:
        readings: dict[str, int] = {}
        for r in refuted:
            readings[r.get("reading") or "no reading"] = readings.get(
                r.get("reading") or "no reading", 0) + 1
        parts.append(f"refuted in {len(refuted)} cases ("
                     + ", ".join(f"{k}: {v}" for k, v in readings.items()) + ")")
    inconclusive = by["inconclusive"]
    if inconclusive:
        unmeasured = sum(r.get("reading") == "not measurable" for r in inconclusive)
        text = f"{len(inconclusive)} inconclusive"
        if unmeasured:
            text += (" (not measurable)" if unmeasured == len(inconclusive)
                     else f" ({unmeasured} not measurable)")
        parts.append(text)
    other = [r for r in plain if r["verdict"] not in VERDICTS]
    if other:
        parts.append(f"{len(other)} with an unknown verdict")
    return "; ".join(parts)


def _design(suite: Any) -> Any:
    """The suite's pre-declared claim design (``[claims]``), defaults where it has none."""
    from types import SimpleNamespace

    if isinstance(suite, Mapping):
        suite = SimpleNamespace(claims=suite.get("claims"))
    inner = getattr(suite, "suite", None)
    try:
        return Design.from_suite(inner if inner is not None else suite)
    except Exception:  # a malformed design is the suite check's to report, not the report's
        return Design()


def _claim_figure(kind: str, results: pd.DataFrame, design: Any) -> dict[str, Any]:
    """One claim figure as a dict; a figure that fails to draw becomes a note."""
    draw = {
        "induction": lambda: figures.induction_layers(results, design),
        "heatmap": lambda: (
            figures.layer_curves(results, design) if results["checkpoint"].nunique() == 1
            else figures.layer_heatmap(results, seen_outputs=True, design=design)),
        "curves": lambda: figures.claim_curves(results, design),
        "phase_two": lambda: figures.phase_two_bars(results, design),
        "unseen": lambda: figures.unseen_bars(results, design),
        "language": lambda: figures.language_rates(results, design),
    }[kind]
    if results.empty:
        return dataclasses.asdict(figures.Plot(kind, "", note="The results table is empty: no "
                                             "figure."))
    try:
        return dataclasses.asdict(draw())
    except Exception as exc:  # a broken figure must not cost the verdicts their report
        return dataclasses.asdict(figures.Plot(kind, "", note=f"Figure failed: "
                                             f"{type(exc).__name__}: {exc}"))


def claim_blocks(rows: Sequence[Mapping[str, Any]], results: pd.DataFrame,
                 suite: Any = None) -> list[dict[str, Any]]:
    """One block per claim in :data:`conceptpatch.claims.MODULES` order (then any other claim
    id the verdicts name): statement, the reading sentence, the cases with a declared
    expectation, and the claim's figure. ``rows`` are :func:`verdict_records`' display rows."""
    design = _design(suite)
    data = claim_table(results, suite)
    drawn: dict[str, dict[str, Any]] = {}
    ids = list(MODULES) + sorted({r["claim_id"] for r in rows} - set(MODULES))
    blocks = []
    for claim_id in ids:
        mine = [r for r in rows if r["claim_id"] == claim_id]
        if claim_id in _GATES and not mine:
            continue
        claim = getattr(MODULES.get(claim_id), "CLAIM", None)
        kind = CLAIM_FIGURES.get(claim_id)
        figure = None
        if kind is not None and mine:
            if kind not in drawn:
                drawn[kind] = _claim_figure(kind, data, design)
            figure = drawn[kind]
        counts = {v: sum(r["verdict"] == v for r in mine) for v in VERDICTS}
        blocks.append({
            "id": claim_id,
            "anchor": "claim-" + claim_id,
            "statement": claim.statement if claim is not None else "",
            "alpha": cell(claim.alpha, 2) if claim is not None else "—",
            "sesoi": cell(claim.sesoi, 2) if claim is not None else "—",
            "paper_effect": cell(claim.paper_effect, 2) if claim is not None else "—",
            "sentence": claim_sentence(mine),
            "counts": counts,
            "cases": [r for r in mine if not r["expected"]],
            "expected": [r for r in mine if r["expected"]],
            "figure": figure,
        })
    return blocks


def _suite_dict(suite: Any) -> dict[str, Any]:
    """A JSON-able view of a suite: a dict, ``to_dict()``, a dataclass, or its attributes."""
    if suite is None:
        return {}
    if isinstance(suite, Mapping):
        data = dict(suite)
    elif callable(getattr(suite, "to_dict", None)):
        data = dict(suite.to_dict())
    elif dataclasses.is_dataclass(suite) and not isinstance(suite, type):
        data = dataclasses.asdict(suite)
    elif hasattr(suite, "__dict__"):
        data = {k: v for k, v in vars(suite).items() if not k.startswith("_")}
    else:
        data = {"suite": str(suite)}
    return json.loads(json.dumps(data, default=str))


def _suite_attr(suite: Any, key: str, default: Any) -> Any:
    """An attribute of a suite object or a key of a suite dict."""
    if isinstance(suite, Mapping):
        return suite.get(key, default)
    return getattr(suite, key, default)


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages a result depends on (read from metadata, not imported)."""
    return {**installed_versions(names, missing="not installed"),
            "python": platform.python_version()}


def _sample_lexicon(suite: Any) -> Any:
    """The lexicon the suite names (C's expected words, D's word, the languages' names), or None
    when the report has no `Suite` (a store's report gets a dict) or its lexicon is not at hand.
    Read only: an organism's lexicon is read from its trained folder, nothing is built."""
    if not isinstance(suite, Suite):
        return None
    try:
        if "organism" in suite.model:  # the organism's lexicon lives in its folder
            return resolve(suite, build=False, missing_ok=True).lexicon
        return suite_lexicon(suite)
    except (ConceptPatchError, KeyError, ValueError, OSError):  # no organism yet, no lexicon file
        return None


def _recorded_template(suite: Any, store: str | Path | None) -> Any:
    """The prompt template the rows were computed with: the one the store's design records
    (``design.keys.template``), else the suite's; None when neither says."""
    specs = []
    if store is not None and Path(store).is_dir():
        try:
            design = Store(Path(store)).design()
        except ConceptPatchError:  # a damaged marker is the store check's to report
            design = None
        if design is not None:
            specs.append(design.keys.get("template"))
    specs.append(_suite_attr(suite, "template", None))
    for spec in specs:
        if isinstance(spec, Template):
            return spec
        if isinstance(spec, Mapping) and isinstance(spec.get("line"), str):
            try:
                return Template(spec["line"], str(spec.get("separator", "\n")))
            except ConceptPatchError:
                continue
    return None


def _query_line(lexicon: Any, template: Any, row: Any) -> str:
    """The target prompt's query line, rendered from a stored row alone: ``template`` applied to
    the names of the row's input and output languages and D's (``target_concept``) reference
    word in the input language, cut at the answer's opening quote, as
    `conceptpatch.prompts.build_prompt` renders a prompt's last line. The few-shot example
    lines before it are not recorded per row and not shown."""
    src = lexicon.language(str(row.input_lang))
    dst = lexicon.language(str(row.output_lang))
    word = lexicon.reference(str(row.target_concept), src.code)
    values = {"input_name": src.name, "output_name": dst.name, "input_word": word}
    return str(template.render(values, query=True)[0])


def _expected_and_query(lexicon: Any, template: Any, row: Any) -> tuple[str, str]:
    """C's word(s) in the output language and the target prompt's query line; "—" and "" for
    what the lexicon (or a template) cannot tell."""
    if lexicon is None:
        return "—", ""
    try:
        words = lexicon.words(str(row.concept), str(row.output_lang))
    except ConceptPatchError:  # results of another lexicon than the suite's
        return "—", ""
    expected = " / ".join(words) if words else "—"
    if template is None:
        return expected, ""
    try:
        return expected, _query_line(lexicon, template, row)
    except ConceptPatchError:  # D or a language the lexicon lacks
        return expected, ""


def sample_trials(results: pd.DataFrame, per_category: int = _SAMPLES_PER_CATEGORY,
                  seed: int = 0, suite: Any = None,
                  store: str | Path | None = None) -> list[dict[str, Any]]:
    """A few patched trials per outcome category, for the reader to see what each category means:
    with ``suite``, each with C's expected word(s) in the output language (from the suite's
    lexicon) and the target prompt's query line (:func:`_query_line`: the template ``store``
    records, else the suite's). Everything shown is read from the rows, nothing is re-planned."""
    rows = results[results["layer"] >= 0] if not results.empty else results
    if rows.empty:
        return []
    lexicon = _sample_lexicon(suite)
    template = _recorded_template(suite, store) if lexicon is not None else None
    rows = rows.assign(outcome_=figures.outcome(rows))
    present = set(rows["outcome_"])
    order = [c for c in figures.CATEGORY_ORDER if c in present] + sorted(
        present - set(figures.CATEGORY_ORDER))
    groups = []
    for cat in order:
        part = rows[rows["outcome_"] == cat]
        # distinct outputs first: six copies of one word tell the reader less than six words
        shuffled = part.sample(frac=1.0, random_state=seed)
        distinct = shuffled.drop_duplicates("output")
        part = pd.concat([distinct, shuffled.drop(distinct.index)]).head(per_category)
        part = part.sort_values(["step", "layer", "trial"], kind="stable")
        trials = [{
            **dict(zip(("expected", "query"), _expected_and_query(lexicon, template, r),
                       strict=True)),
            "p_concept": f"{float(r.p_concept):.3f}",
            "checkpoint": str(r.checkpoint),
            "layer": int(r.layer),
            "setting": str(r.setting),
            "pair": f"{r.input_lang} → {r.output_lang}",
            "concept": str(r.concept),
            "target_concept": str(r.target_concept),
            "output": str(r.output),
            "category": str(r.category),
            "manual": str(r.outcome_) != str(r.category),
        } for r in part.itertuples(index=False)]
        mine = rows[rows["outcome_"] == cat]
        groups.append({"category": cat, "count": len(mine),
                       "n_trials": int(mine["trial"].nunique()), "trials": trials})
    return groups


def _overview(results: pd.DataFrame) -> dict[str, Any]:
    """Counts that orient the reader: trials (distinct trial ids, not rows), rows, checkpoints,
    layers, languages, settings."""
    if results.empty:
        return {"trials": 0, "rows": 0, "checkpoints": [], "layers": "—", "languages_seen": [],
                "languages_unseen": [], "settings": [], "relabelled": 0}
    layers = sorted(int(x) for x in results["layer"].unique() if int(x) >= 0)
    out_langs = results.drop_duplicates("output_lang")
    relabelled = 0
    if "label" in results.columns:
        relabelled = int((results["label"].astype(str) != results["category"].astype(str)).sum())
    return {
        "trials": int(results["trial"].nunique()),
        "rows": len(results),
        "checkpoints": figures.checkpoint_order(results),
        "layers": _layers_text(layers),
        "languages_seen": sorted(
            out_langs.loc[out_langs["output_seen"].astype(bool), "output_lang"].astype(str)),
        "languages_unseen": sorted(
            out_langs.loc[~out_langs["output_seen"].astype(bool), "output_lang"].astype(str)),
        "settings": sorted(results["setting"].astype(str).unique()),
        "relabelled": relabelled,
    }


def _layers_text(layers: Sequence[int]) -> str:
    """Layers in words: a run "0–5" when contiguous, else each one ("0, 2, 14"), "—" for none."""
    if not layers:
        return "—"
    if list(layers) == list(range(layers[0], layers[-1] + 1)) and len(layers) > 1:
        return f"{layers[0]}–{layers[-1]}"
    return ", ".join(str(j) for j in layers)


#: The suite keys the design block names (each where the suite has it).
_DESIGN_KEYS = ("trials", "target_pairs", "k", "shots", "position", "pairing", "source_pairs",
                "max_new_tokens", "seed")


def design_records(results: pd.DataFrame, suite: Any) -> dict[str, Any]:
    """Which design and which units the page shows: the suite's name and design hash beside the
    hashes its rows carry, trials (distinct ids), layers, settings, the suite's keys, and one
    line per (checkpoint, setting) unit with its trials, layers and rows."""
    digest = suite.settings_hash() if callable(getattr(suite, "settings_hash", None)) else None
    hashes = (sorted(results["suite_hash"].astype(str).unique())
              if "suite_hash" in results.columns else [])
    layers = sorted(int(j) for j in results["layer"].unique() if int(j) >= 0) if (
        "layer" in results.columns) else []
    keys = [(k, _suite_attr(suite, k, None)) for k in _DESIGN_KEYS]
    table = units(results, figures.checkpoint_order(results))
    return {
        "suite": str(_suite_attr(suite, "name", "—")),
        "suite_hash": digest or "—",
        "hashes": hashes,
        "foreign": [h for h in hashes if digest is not None and h != digest],
        "trials": int(results["trial"].nunique()) if "trial" in results.columns else 0,
        "layers": _layers_text(layers),
        "settings": sorted(results["setting"].astype(str).unique())
        if "setting" in results.columns else [],
        "keys": [(k, ", ".join(map(str, v)) if isinstance(v, list | tuple) else str(v))
                 for k, v in keys if v is not None],
        "units": [{k: str(v) for k, v in row.items()} for row in table.to_dict("records")],
    }


def table_records(data: pd.DataFrame, checkpoints: list[str]) -> list[dict[str, Any]]:
    """The numeric tables beside the figures (:mod:`conceptpatch.figures.tables`) as display
    rows and the CSV of their long form, downloadable as the figures' numbers are."""
    found = []
    for table in numeric_tables(data, checkpoints):
        wide = table.wide
        found.append({
            "key": table.key, "title": table.title, "caption": table.caption,
            "index": [str(n) for n in wide.index.names], "columns": [str(c) for c in wide.columns],
            "rows": [[*(map(str, key if isinstance(key, tuple) else (key,))), *map(str, values)]
                     for key, values in zip(wide.index, wide.to_numpy(), strict=True)],
            "csv": table.long.to_csv(index=False),
        })
    return found


#: The columns of the case table's CSV: the verdicts.json fields with numbers, unrounded.
CASE_COLUMNS: tuple[str, ...] = (
    "claim_id", "case", "verdict", "reading", "effect", "ci_low", "ci_high", "pvalue",
    "raw_pvalue", "bh_qvalue", "n", "sesoi", "paper_effect", "expected",
)


def cases_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """The case table as CSV, numbers as recorded (the page rounds them): what a reader checks
    against verdicts.json or the notebook API."""
    frame = pd.DataFrame.from_records([{c: r.get(c) for c in CASE_COLUMNS} for r in records],
                                      columns=list(CASE_COLUMNS))
    return frame.to_csv(index=False)


def _figures(results: pd.DataFrame) -> list[dict[str, Any]]:
    """The report's figures; one that fails to draw becomes a note, not a failed report."""
    if results.empty:
        return [dataclasses.asdict(figures.Plot("Figures", "", note="The results table is empty: "
                                              "run the suite first; no figures drawn."))]
    drawn = []
    for fn in (figures.success_over_training, figures.category_bars):
        try:
            drawn.append(dataclasses.asdict(fn(results)))
        except Exception as exc:  # a broken figure must not cost the verdicts their report
            drawn.append(dataclasses.asdict(figures.Plot(
                fn.__name__.replace("_", " "), "", note=f"Figure failed: {type(exc).__name__}: "
                f"{exc}")))
    return drawn


# --- exact rate by part of speech (issue 13; self-contained) ---
def pos_rate_records(results: pd.DataFrame) -> list[dict[str, str]]:
    """Rows of the exact-rate-by-part-of-speech table (`results.exact_rate_by_pos`), as text."""
    from conceptpatch.results import exact_rate_by_pos

    return [
        {"setting": r.setting, "pos": r.pos, "trials": str(r.trials), "exact": str(r.exact),
         "rate": cell(r.rate)}
        for r in exact_rate_by_pos(results).itertuples()
    ]  # fmt: skip
# --- end of exact rate by part of speech ---


def build_records(results: pd.DataFrame, verdicts: Sequence[Any],
                  suite: Any, store: str | Path | None = None) -> dict[str, Any]:
    """Everything the template shows, as JSON-able dicts and strings."""
    results = labelled(results, store)  # the store's manual labels, as the claims read them
    records = final_verdicts(_record(v) for v in verdicts)  # q: BH of raw_pvalue, as verdicts.json
    rank = {claim_id: i for i, claim_id in enumerate(MODULES)}
    records.sort(key=lambda r: rank.get(str(r.get("claim_id", "")), len(rank)))  # stable
    rows = verdict_records(records)
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    significant_bh = sum(
        r["verdict"] == "supported" and r.get("bh_qvalue") is not None
        and cell(r["bh_qvalue"]) != "—" and float(r["bh_qvalue"]) <= 0.05 for r in records)
    hashes = sorted(results["suite_hash"].astype(str).unique()) if "suite_hash" in results else []
    seeds = sorted(int(s) for s in results["seed"].unique()) if "seed" in results else []
    return {
        "title": (f"conceptpatch claim report: {_suite_attr(suite, 'name', 'suite')}" if rows
                  else f"conceptpatch results (no claims tested): "
                       f"{_suite_attr(suite, 'name', 'suite')}"),
        "suite_name": str(_suite_attr(suite, "name", "suite")),
        "seed": str(_suite_attr(suite, "seed", seeds[0] if seeds else "—")),
        "result_seeds": [str(s) for s in seeds],
        "suite_hashes": hashes,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "paper": "When Meanings Meet (arXiv 2601.22851)",
        "counts": counts,
        "n_cases": len(rows),
        "n_expected": sum(bool(r["expected"]) for r in rows),
        "supported_bh": significant_bh,
        "verdicts": rows,
        "cases_csv": cases_csv(records),
        "claims": claim_blocks(rows, results, suite),
        "overview": _overview(results),
        "design": design_records(results, suite),
        "tables": table_records(claim_table(results, suite), figures.checkpoint_order(results)),
        "figures": _figures(results),
        "samples": sample_trials(results, suite=suite, store=store),
        "pos_rates": pos_rate_records(results),
        "read_depth": read_depth_records(results),
        "suite": json.dumps(_suite_dict(suite), indent=2, sort_keys=True, ensure_ascii=False),
        "suite_toml": suite_text(suite),
        "provenance": provenance(suite, store),
        "departures": departures(suite, int(results["checkpoint"].nunique())
                                 if "checkpoint" in results else None),
        "weights": weight_records(results, store),
        "sequential": sequential_record(records),
        "versions": package_versions(),
    }


def weight_records(results: pd.DataFrame, store: str | Path | None) -> list[str]:
    """What the store's recorded weight fingerprints say is wrong with the checkpoints shown
    (two with identical weights, one computed on different weights), one line each."""
    if store is None or results.empty or "suite_hash" not in results or not Path(store).is_dir():
        return []
    names = sorted(results["checkpoint"].astype(str).unique())
    return [problem for digest in sorted(results["suite_hash"].astype(str).unique())
            for problem in weight_problems(Store(Path(store)).fingerprints(digest, names))]


def read_depth_records(results: pd.DataFrame) -> list[dict[str, str]]:
    """Read depth per checkpoint (:mod:`conceptpatch.readdepth`) from the run's ``word``-mode
    ``tgt`` rows; empty when the run has none (the paper's ``last``-position suites)."""
    from conceptpatch.readdepth import read_depth_of

    if results.empty or "position" not in results.columns:
        return []
    word = results[(results["position"] == "word")
                   & results["setting"].isin(["tgt", "unpatched"])]
    word = word[word["checkpoint"].isin(word.loc[word["setting"] == "tgt", "checkpoint"])]
    found = []
    for checkpoint in figures.checkpoint_order(word) if not word.empty else []:
        at = word[word["checkpoint"] == checkpoint]
        if not (at["setting"] == "unpatched").any():
            continue
        depth = read_depth_of(at)
        found.append({
            "checkpoint": str(checkpoint), "depth": f"{max(depth.layer, 0)}/{depth.n_layers}",
            "layer": str(depth.layer),
            "changed": " ".join(f"{v:.2f}" for _, v in sorted(depth.changed.items())),
        })
    return found


def render(records: Mapping[str, Any]) -> str:
    """The report page for :func:`build_records`' output."""
    return _environment().get_template(_TEMPLATE).render(**records)


def write_report(results: pd.DataFrame, verdicts: Sequence[Any], suite: Any,
                 out_dir: Path, store: str | Path | None = None) -> Path:
    """Write ``out_dir/index.html`` (atomically: temp file, then rename) and return its path.

    ``verdicts`` are records (dicts with claim_id, case, verdict, effect, ci_low, ci_high, pvalue,
    n, message and optional reading, raw_pvalue, bh_qvalue, sesoi, paper_effect,
    expected, expected_reason and evidence) or objects with ``to_record()``; ``suite`` is a Suite,
    a dict or None; ``store`` is named in the provenance block and its imported manual labels
    take precedence (:func:`conceptpatch.tables.labelled`; a ``label`` column already in
    ``results`` is kept).
    """
    out_dir = Path(out_dir)
    page = render(build_records(results, verdicts, suite, store))
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return atomic_write(out_dir / "index.html", page)  # mode 0666 & ~umask, like open()
    except OSError:
        if made and not any(out_dir.iterdir()):  # a full disk leaves no empty folder behind
            out_dir.rmdir()
        raise

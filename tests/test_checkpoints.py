"""Checkpoints: the decoder-layer table, safe local loading, and the errors that name their fix."""

from __future__ import annotations

import shutil

import pytest
import torch
from conceptpatch.engine.checkpoints import decoder_layers, load_checkpoint, wrap_model
from conceptpatch.errors import CheckpointError, ConceptPatchError
from conceptpatch.sources.checkpoint import Checkpoint
from conceptpatch.sources.random import tiny_model, train_bpe
from torch import nn


def _one_line(err: pytest.ExceptionInfo, *needles: str) -> None:
    assert isinstance(err.value, ConceptPatchError)
    assert "\n" not in str(err.value)
    for needle in needles:
        assert needle in str(err.value), str(err.value)


def test_decoder_layers_of_each_architecture(arch, tiny_models):
    """Discovery finds every decoder layer, in order, and the input embedding."""
    lm = tiny_models[arch]
    assert lm.model.config.model_type == arch
    layers, embedding = decoder_layers(lm.model)
    assert lm.n_layers == len(layers) == lm.model.config.num_hidden_layers == 3
    assert layers == lm.layers and embedding is lm.embedding
    assert embedding is lm.model.get_input_embeddings()
    names = {id(m): n for n, m in lm.model.named_modules()}
    order = [names[id(layer)] for layer in layers]
    assert order == [f"{order[0][:-2]}.{i}" for i in range(3)]


def test_loaded_tiny_checkpoint(arch, tiny_models, tiny_dirs):
    lm = tiny_models[arch]
    assert lm.checkpoint == Checkpoint(arch, path=str(tiny_dirs[arch]))
    assert not lm.model.training
    assert lm.device == torch.device("cpu")
    assert lm.embedding.weight.dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in lm.model.parameters())
    assert lm.tokenizer.is_fast and lm.tokenizer.pad_token is not None


def test_dtype_and_unknown_dtype(tiny_dirs):
    ckpt = Checkpoint("gpt2", path=str(tiny_dirs["gpt2"]))
    assert load_checkpoint(ckpt, dtype="float32").embedding.weight.dtype == torch.float32
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(ckpt, dtype="float8")  # type: ignore[arg-type]
    _one_line(err, "'float8'", "float32")


def test_wrap_model_sets_left_padding_and_a_pad_token(tiny_lexicon):
    tokenizer = train_bpe(["a b c"], vocab_size=300)
    tokenizer.padding_side = "right"
    tokenizer.pad_token = None
    lm = wrap_model(Checkpoint("w", path="."), tiny_model("gpt2", len(tokenizer), 2, 32), tokenizer)
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == tokenizer.eos_token
    assert lm.n_layers == 2


class _Unknown(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.config = type("Config", (), {"model_type": "mamba_x"})()
        self.blocks = nn.ModuleList([nn.Linear(2, 2)])
        self.embed = nn.Embedding(3, 2)

    def get_input_embeddings(self) -> nn.Module:
        return self.embed


def test_a_model_without_layer_count_names_the_suite_key():
    with pytest.raises(CheckpointError) as err:
        decoder_layers(_Unknown())
    _one_line(err, "'mamba_x'", "[model] layers_path", "num_hidden_layers")


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("gone", path=str(tmp_path / "nowhere")))
    _one_line(err, "'gone'", "does not exist", "fix the path")


def test_pickle_only_directory_is_refused(tmp_path, tiny_dirs):
    """A checkpoint with .bin weights only is never unpickled: safetensors or nothing."""
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_dirs["gpt2"], folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    torch.save({"x": torch.zeros(1)}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("pickled", path=str(folder)))
    _one_line(err, "pytorch_model.bin", "safetensors", "safe_serialization=True")


def test_directory_without_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("empty", path=str(tmp_path)))
    _one_line(err, "no weights", "safetensors")


@pytest.mark.parametrize(
    "kwargs", [{}, {"path": "a", "hub": "org/model"}], ids=["neither", "both"]
)
def test_checkpoint_names_exactly_one_source(kwargs):
    with pytest.raises(CheckpointError) as err:
        Checkpoint("c", **kwargs)
    _one_line(err, "exactly one of path, hub, gguf or gguf_package")
    assert Checkpoint("h", hub="org/model", revision="step1").source == "org/model"


def test_hub_checkpoint_is_not_downloaded_offline(monkeypatch):
    """With the hub offline, an uncached hub id is a CheckpointError, not a download."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("h", hub="conceptpatch-test/not-a-model", revision="main"))
    _one_line(err, "'h'", "cannot be loaded")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loads_onto_the_gpu(tiny_dirs):
    lm = load_checkpoint(Checkpoint("g", path=str(tiny_dirs["llama"])), device="cuda")
    assert lm.device.type == "cuda"


def _copy_without_tokenizer(source, target):
    target.mkdir()
    for path in source.iterdir():
        if not path.name.startswith("tokenizer"):
            shutil.copy(path, target / path.name)
    return target


def test_a_checkpoint_without_tokenizer_files_names_the_shared_tokenizer_key(tmp_path, tiny_dirs):
    bare = _copy_without_tokenizer(tiny_dirs["llama"], tmp_path / "iter_1000")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("iter_1000", path=str(bare)))
    _one_line(err, "'iter_1000'", "no tokenizer", "[model] tokenizer")
    lm = load_checkpoint(Checkpoint("iter_1000", path=str(bare)), tokenizer=str(tiny_dirs["llama"]))
    assert lm.n_layers == 3 and lm.tokenizer.is_fast


def test_the_suite_tokenizer_key_reaches_the_load(tmp_path):
    from conceptpatch.config.suite import parse_suite

    (tmp_path / "tok").mkdir()
    data = {"model": {"checkpoints": [{"path": "c"}], "tokenizer": "tok"},
            "lexicon": {"builtin": "cldr"}, "languages": {"seen": ["en", "fr"]}}
    local = parse_suite(data, base=tmp_path)
    assert local.load_options["tokenizer"] == str(tmp_path / "tok")  # a folder beside the suite
    data["model"]["tokenizer"] = "org/base-model"
    assert parse_suite(data, base=tmp_path).load_options["tokenizer"] == "org/base-model"


@pytest.mark.parametrize("keep", [0.5, 0.0001])
def test_weights_cut_short_are_named(tmp_path, tiny_dirs, keep):
    cut = tmp_path / "cut"
    shutil.copytree(tiny_dirs["llama"], cut)
    weights = cut / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: max(1, int(len(data) * keep))])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(Checkpoint("cut", path=str(cut)))
    _one_line(err, "'cut'", "cut short or damaged", "again")

"""Keras-2 `tf_model.h5` folders (config.json + tf_model.h5 only) load for every task and give
transformers' outputs for the same weights.

Files written by Hugging Face's own TF classes (transformers 4.57, in the hf4 client venv, see
client_venvs.py) must reproduce those classes' outputs. The other files, for the PyTorch models of
every task and for broken cases, are written here in the layout those classes produce through Keras 2
`save_weights` (root `layer_names`; one group per top-level layer with `weight_names`; TF variable
names under the model's snake-case class name; `layer_._N`, `kernel` (in, out), `gamma`/`beta`,
`word_embeddings/weight`, `embeddings`; the LM head lists the tied embeddings again), with names
derived from HF's TF module layout below, independently of prelnedge's reader.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest

import prelnedge
from client_venvs import ROOT, client_python
from conftest import config_for
from hf_factory import hf_outputs, random_batch
from prelnedge.checkpoint.load import load_checkpoint
from prelnedge.errors import CheckpointError
from prelnedge.tasks import TASKS
from prelnedge.verify.compare import compare_outputs
from prelnedge.verify.tolerances import tolerance


def assert_same_as_hf(folder, hf_model, task_name):
    """Padded batch (choices for multiple-choice): every output and hidden state within fp32 tolerance."""
    choices = 3 if task_name == "multiple-choice" else None
    ids, mask = random_batch(config_for(task_name), [9, 3, 14], np.random.default_rng(11), choices=choices)
    model = prelnedge.load_reference(folder, task=task_name, output_hidden_states=True)
    got, want = model(ids, mask), hf_outputs(hf_model, TASKS[task_name], ids, mask)
    compare_outputs({name: got[name] for name in want}, want, tolerance("fp32-reference").peak_rel,
                    label=f"{folder.name} vs transformers")


def _snake(name: str) -> str:  # Keras' default layer name for a class
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def tf_weight_name(torch_key: str) -> tuple[str, str, bool]:
    """HF PyTorch key -> (top-level Keras layer, TF path without the model name, transpose?)."""
    if not torch_key.startswith(("roberta_prelayernorm.", "lm_head.", "qa_outputs.", "classifier.")):
        torch_key = "roberta_prelayernorm." + torch_key  # a base model has no prefix in PyTorch
    # HF's TF encoder names its layer list entries `layer_._{i}`
    *modules, leaf = re.sub(r"\.layer\.(\d+)\.", r".layer_._\1.", torch_key).replace("layer_._", "layer_#").split(".")
    modules = [part.replace("layer_#", "layer_._") for part in modules]
    owner = modules[-1]
    if owner in ("LayerNorm", "layer_norm"):
        leaf, transpose = {"weight": "gamma", "bias": "beta"}[leaf], False
    elif owner == "word_embeddings":
        transpose = False  # HF's TF embeddings: a bare `weight`
    elif owner.endswith("_embeddings"):
        leaf, transpose = "embeddings", False
    elif torch_key == "lm_head.bias":
        transpose = False
    else:
        leaf, transpose = ("kernel", True) if leaf == "weight" else ("bias", False)
    return modules[0], "/".join([*modules, leaf]), transpose


def write_keras2_h5(folder, hf_model, src_folder, chunk_names=False, edit=None):
    """config.json + tf_model.h5 for `hf_model`, laid out as Keras 2 writes HF's TF model."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(src_folder / "config.json", folder / "config.json")
    model_name = _snake("TF" + type(hf_model).__name__)
    layers: dict[str, list[tuple[str, np.ndarray]]] = {}
    for key, tensor in hf_model.state_dict().items():
        if key.startswith("lm_head.decoder.") or key.endswith("position_ids"):
            continue  # the TF LM head has no decoder matrix: it multiplies by the embeddings
        layer, path, transpose = tf_weight_name(key)
        value = tensor.numpy().T if transpose else tensor.numpy()
        layers.setdefault(layer, []).append((f"{model_name}/{path}:0", value))
    if "lm_head" in layers:  # the head holds the embeddings layer, so Keras lists its weights again
        layers["lm_head"] += [item for item in layers["roberta_prelayernorm"] if "/embeddings/" in item[0]]
    if edit:
        edit(layers)
    with h5py.File(folder / "tf_model.h5", "w") as f:
        f.attrs["layer_names"] = [name.encode() for name in layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for layer in sorted(layers):
            group = f.create_group(layer)
            names = [name.encode() for name, _ in layers[layer]]
            if chunk_names:  # what Keras does when the list passes HDF5's 64 KB attribute limit
                half = len(names) // 2
                group.attrs["weight_names0"], group.attrs["weight_names1"] = names[:half], names[half:]
            else:
                group.attrs["weight_names"] = names
            for name, value in layers[layer]:
                group.create_dataset(name, data=value)
    return folder


@pytest.mark.parametrize("task_name", list(TASKS))
def test_h5_folder_loads_for_every_task(hf_checkpoints, tmp_path, task_name):
    src, hf_model = hf_checkpoints[task_name]
    folder = write_keras2_h5(tmp_path / "h5", hf_model, src)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "tf_model.h5"]
    loaded = load_checkpoint(folder, task_name)
    assert loaded.source_format == "hf" and not loaded.initialized
    hf_state = {k.removeprefix("roberta_prelayernorm."): v for k, v in hf_model.state_dict().items()}
    for key, value in loaded.state.items():
        np.testing.assert_array_equal(value, hf_state[key.removeprefix("roberta_prelayernorm.")].numpy(),
                                      err_msg=key)
    assert_same_as_hf(folder, hf_model, task_name)


def test_chunked_weight_names(hf_checkpoints, tmp_path):
    src, hf_model = hf_checkpoints["qa"]
    folder = write_keras2_h5(tmp_path / "h5", hf_model, src, chunk_names=True)
    assert_same_as_hf(folder, hf_model, "qa")


def test_tied_copy_that_differs_is_refused(hf_checkpoints, tmp_path):
    src, hf_model = hf_checkpoints["masked-lm"]

    def untie(layers):
        layers["lm_head"] = [(name, value + 1.0 if "word_embeddings" in name else value)
                             for name, value in layers["lm_head"]]

    folder = write_keras2_h5(tmp_path / "h5", hf_model, src, edit=untie)
    with pytest.raises(CheckpointError, match="two different values for roberta_prelayernorm.embeddings"
                                              ".word_embeddings.weight"):
        load_checkpoint(folder, "masked-lm")


def test_unknown_and_missing_weights_are_named(hf_checkpoints, tmp_path):
    src, hf_model = hf_checkpoints["qa"]

    def add_unknown(layers):
        layers["qa_outputs"].append(("tf_model/qa_outputs/scale:0", np.ones(2, np.float32)))

    folder = write_keras2_h5(tmp_path / "extra", hf_model, src, edit=add_unknown)
    with pytest.raises(CheckpointError, match="parameter table does not know: tf_model/qa_outputs/scale:0"):
        load_checkpoint(folder, "qa")

    def drop_layer_norm(layers):
        layers["roberta_prelayernorm"] = [item for item in layers["roberta_prelayernorm"]
                                          if "layer_._1/intermediate/LayerNorm/gamma" not in item[0]]

    folder = write_keras2_h5(tmp_path / "missing", hf_model, src, edit=drop_layer_norm)
    with pytest.raises(CheckpointError, match=r"lacks weights .*layer\.1\.intermediate\.LayerNorm\.weight"):
        load_checkpoint(folder, "qa")


def test_h5_without_keras_layout_is_refused(hf_checkpoints, tmp_path):
    src, _ = hf_checkpoints["qa"]
    shutil.copy(src / "config.json", tmp_path / "config.json")
    with h5py.File(tmp_path / "tf_model.h5", "w") as f:
        f.create_dataset("weights", data=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a Keras-2 weights file"):
        load_checkpoint(tmp_path, "qa")
    (tmp_path / "tf_model.h5").write_bytes(b"not hdf5")
    with pytest.raises(CheckpointError, match="cannot read .*tf_model.h5"):
        load_checkpoint(tmp_path, "qa")


@pytest.fixture(scope="module")
def tf_written(tmp_path_factory):
    """task -> folder with config.json + tf_model.h5 written by HF's TF class, and its outputs."""
    python = client_python("hf4")
    out = tmp_path_factory.mktemp("hf-tf")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([str(python), str(ROOT / "tests/hf_tf_writer.py"), str(out)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, f"HF TF writer failed:\n{run.stderr[-3000:]}"
    return out


@pytest.mark.parametrize("task_name", list(TASKS))
def test_h5_written_by_transformers_tf_classes(tf_written, task_name):
    folder = tf_written / task_name
    loaded = load_checkpoint(folder, task_name)
    assert not loaded.initialized and loaded.config.num_hidden_layers == 2
    ids, mask = (np.load(folder / f"{name}.npy").astype(np.int64) for name in ("ids", "mask"))
    got = prelnedge.load_reference(folder, task=task_name)(ids, mask)
    wanted = {file.stem.removeprefix("out_"): np.load(file) for file in folder.glob("out_*.npy")}
    assert set(wanted) == set(TASKS[task_name].output_names)
    compare_outputs({name: got[name] for name in wanted}, wanted, tolerance("fp32-reference").peak_rel,
                    label=f"{task_name} vs transformers' TF classes")

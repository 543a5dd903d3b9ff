"""The Flax reference equals transformers' RobertaPreLayerNorm* classes for every task, every layer's
hidden state, padded batches and lengths from 1 to the maximum; and a Flax model converts through
jax2tf to a builtins-only TFLite model with dynamic batch and length that LiteRT runs."""

from __future__ import annotations

import numpy as np
import pytest

import prelnedge
from conftest import config_for
from hf_factory import hf_outputs, random_batch
from prelnedge.verify.compare import compare_outputs
from prelnedge.tasks import TASKS
from prelnedge.verify.tolerances import tolerance

TOL = tolerance("fp32-reference").peak_rel


@pytest.fixture(scope="module")
def flax_references(hf_checkpoints):
    """task name -> Flax reference (one jit cache per task for the whole module)."""
    return {name: prelnedge.load_reference(folder, task=name, framework="flax", output_hidden_states=True)
            for name, (folder, _) in hf_checkpoints.items()}


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("lengths", [[1], [3, 1, 8, 2], [5, 38, 17]], ids=["len1", "short-batch", "max-len"])
def test_matches_transformers(hf_checkpoints, flax_references, task_name, lengths):
    _, hf_model = hf_checkpoints[task_name]
    task = TASKS[task_name]
    config = config_for(task_name)
    assert max(lengths) <= config.max_tokens
    rng = np.random.default_rng(sum(lengths))
    ids, mask = random_batch(config, lengths, rng, choices=3 if task_name == "multiple-choice" else None)
    got, want = flax_references[task_name](ids, mask), hf_outputs(hf_model, task, ids, mask)
    assert sum(k.startswith("hidden_states.") for k in want) == config.num_hidden_layers + 1
    assert all(got[k].dtype == np.float32 for k in got)
    stats = compare_outputs(got, want, TOL, label=f"flax vs transformers ({task_name})")
    assert all(np.abs(want[name]).max() > 1e-2 for name in task.output_names)
    assert stats


def test_params_tree_is_checked():
    """build_flax_model refuses a params tree that does not match the module."""
    from prelnedge.checkpoint.load import load_checkpoint
    from prelnedge.models import flax as flax_models

    checkpoint = load_checkpoint(None, "qa")
    module, params = flax_models.build_flax_model(checkpoint)
    assert set(params) == {"roberta_prelayernorm", "qa_outputs"}
    assert params["roberta_prelayernorm"]["encoder"]["layer_0"]["attention"]["self"]["query"]["kernel"].shape == (
        checkpoint.config.hidden_size, checkpoint.config.hidden_size)
    checkpoint.state["qa_outputs.weight"] = checkpoint.state["qa_outputs.weight"][:1]
    with pytest.raises(prelnedge.errors.CheckpointError):
        flax_models.build_flax_model(checkpoint)


def _run_litert(interpreter, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Resize the dynamic inputs to this batch's shape, then run; outputs keyed by signature name."""
    signature = interpreter._get_full_signature_list()["serving_default"]
    inputs, outputs = signature["inputs"], signature["outputs"]
    for name, value in (("input_ids", ids), ("attention_mask", mask)):
        interpreter.resize_tensor_input(inputs[name], value.shape, strict=True)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inputs["input_ids"], ids)
    interpreter.set_tensor(inputs["attention_mask"], mask)
    interpreter.invoke()
    return {name: interpreter.get_tensor(index) for name, index in outputs.items()}


def test_jax2tf_tflite_qa_dynamic_shapes():
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from prelnedge.checkpoint.load import load_checkpoint
    from prelnedge.models import flax as flax_models

    checkpoint = load_checkpoint(None, "qa")
    task, config = checkpoint.task, checkpoint.config
    module, params = flax_models.build_flax_model(checkpoint)
    serve = flax_models.to_tf_function(module, params, task)
    holder = tf.Module()  # a Module (not the function) as trackable: gives the serving_default signature
    holder.serve = serve
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    assert interpreter.get_signature_list()["serving_default"]["outputs"] == sorted(task.output_names)

    reference = flax_models.build_forward(checkpoint)
    rng = np.random.default_rng(11)
    for lengths in ([9, 4], [3, 23, 16]):  # two batch sizes and two sequence lengths, with padding
        ids, mask = random_batch(config, lengths, rng)
        ids, mask = ids.astype(np.int32), mask.astype(np.int32)
        got = _run_litert(interpreter, ids, mask)
        want = reference(ids, mask, False)
        assert got["start_logits"].shape == (len(lengths), max(lengths))
        compare_outputs(got, want, TOL, label=f"litert vs flax (qa, lengths {lengths})")

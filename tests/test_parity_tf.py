"""The TensorFlow reference equals transformers' PyTorch RobertaPreLayerNorm* classes and our torch
reference for every task and every layer's hidden state, and converts to a builtin-only TFLite model
with dynamic batch and length."""

from __future__ import annotations

import numpy as np
import pytest

import prelnedge
from conftest import config_for
from hf_factory import hf_outputs, random_batch
from prelnedge.verify.compare import compare_outputs
from prelnedge.tasks import TASKS
from prelnedge.verify.tolerances import tolerance

tf = pytest.importorskip("tensorflow")

TOL = tolerance("fp32-reference").peak_rel
LENGTHS = [[1], [3, 1, 8, 2], [5, 38, 17]]  # one token, a padded batch, the model's maximum


@pytest.fixture(scope="module")
def references(hf_checkpoints):
    """task name -> (tf reference, torch reference), loaded once: one tf.function trace per task."""
    cache = {}

    def get(task_name):
        if task_name not in cache:
            folder, _ = hf_checkpoints[task_name]
            cache[task_name] = tuple(prelnedge.load_reference(folder, task=task_name, framework=fw,
                                                              output_hidden_states=True)
                                     for fw in ("tf", "torch"))
        return cache[task_name]

    return get


@pytest.mark.parametrize("task_name", list(TASKS))
def test_tf_matches_transformers_and_torch(hf_checkpoints, references, task_name):
    _, hf_model = hf_checkpoints[task_name]
    task, config = TASKS[task_name], config_for(task_name)
    ours_tf, ours_torch = references(task_name)
    for lengths in LENGTHS:
        assert max(lengths) <= config.max_tokens
        rng = np.random.default_rng(sum(lengths))
        ids, mask = random_batch(config, lengths, rng, choices=3 if task_name == "multiple-choice" else None)
        got, want = ours_tf(ids, mask), hf_outputs(hf_model, task, ids, mask)
        assert sum(k.startswith("hidden_states.") for k in got) == config.num_hidden_layers + 1
        compare_outputs(got, want, TOL, label=f"tf vs transformers ({task_name}, lengths {lengths})")
        # and per layer against our own torch reference
        compare_outputs(got, ours_torch(ids, mask), TOL, label=f"tf vs torch ({task_name}, lengths {lengths})")
        assert all(np.abs(want[name]).max() > 1e-2 for name in task.output_names)


def test_every_variable_is_a_weight_table_path(hf_checkpoints):
    from prelnedge.checkpoint.load import load_checkpoint
    from prelnedge.models.tf import build_tf_model, variables_by_path
    from prelnedge.checkpoint.weight_table import convert

    for task_name in ("masked-lm", "multiple-choice"):
        checkpoint = load_checkpoint(hf_checkpoints[task_name][0], task_name)
        model = build_tf_model(checkpoint)
        weights = convert(checkpoint.state, checkpoint.config, checkpoint.task, "tf")
        variables = variables_by_path(model)
        assert set(variables) == set(weights)
        assert "roberta_prelayernorm/encoder/layer_._2/attention/self/query/kernel" in variables
        assert len(model.trainable_variables) + len(model.non_trainable_variables) == len(weights)
        for path, variable in variables.items():
            np.testing.assert_array_equal(variable.numpy(), weights[path])


def test_converts_to_builtin_tflite_with_dynamic_shapes():
    from ai_edge_litert.interpreter import Interpreter

    from prelnedge.models.tf import build_tf_model

    reference = prelnedge.load_reference(None, task="qa", framework="tf")
    model = build_tf_model(reference.checkpoint)
    spec = tf.TensorSpec([None, None], tf.int32)
    fn = tf.function(lambda input_ids, attention_mask: model(input_ids, attention_mask),
                     input_signature=[spec, spec])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops

    signature = interpreter.get_signature_runner()
    inputs = {name: d["index"] for name, d in signature.get_input_details().items()}
    outputs = {name: d["index"] for name, d in signature.get_output_details().items()}
    del signature  # it holds the interpreter's buffers, which would block resize_tensor_input
    assert set(outputs) == set(TASKS["qa"].output_names)
    config = reference.config
    for lengths in ([9, 4], [config.max_tokens, 1, 20]):  # two batch sizes and sequence lengths
        ids, mask = random_batch(config, lengths, np.random.default_rng(len(lengths)))
        feed = {"input_ids": ids.astype(np.int32), "attention_mask": mask.astype(np.int32)}
        for name, value in feed.items():
            interpreter.resize_tensor_input(inputs[name], value.shape)
        interpreter.allocate_tensors()
        for name, value in feed.items():
            interpreter.set_tensor(inputs[name], value)
        interpreter.invoke()
        got = {name: interpreter.get_tensor(index) for name, index in outputs.items()}
        compare_outputs(got, reference(ids, mask), TOL, label=f"tflite vs tf (qa, lengths {lengths})")

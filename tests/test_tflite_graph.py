"""prelnedge.export.tflite_graph reads a .tflite's ops and tensor types from the flatbuffer: it agrees
with LiteRT's interpreter on float, full-integer and Flex models, and float_compute_ops (int8-full's
conversion check) built on it finds the float ops of a float model and none in a full-integer one."""

from __future__ import annotations

import numpy as np
import pytest

from prelnedge.export.tflite_graph import op_names, read_subgraphs
from prelnedge.quantize.tflite import float_compute_ops

tf = pytest.importorskip("tensorflow")

WEIGHTS = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)


def _convert(f, int8: bool = False, flex: bool = False) -> bytes:
    holder = tf.Module()
    holder.f = f
    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if flex:
        converter.target_spec.supported_ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    if int8:
        rng = np.random.default_rng(1)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([rng.normal(size=(2, 8)).astype(np.float32)] for _ in range(8))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


@tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32, name="x")], autograph=False)
def _dense_softmax(x):
    return {"p": tf.nn.softmax(tf.matmul(x, WEIGHTS) + 0.5)}


@tf.function(input_signature=[tf.TensorSpec([None, 2, 2], tf.float32, name="x")], autograph=False)
def _with_a_tf_op(x):
    return {"y": tf.linalg.inv(x) + x}  # MatrixInverse has no TFLite builtin: a Flex op


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    return {"float": _convert(_dense_softmax), "int8-full": _convert(_dense_softmax, int8=True),
            "flex": _convert(_with_a_tf_op, flex=True)}


@pytest.mark.parametrize("kind", ["float", "int8-full", "flex"])
def test_the_file_reader_agrees_with_the_interpreter(models, kind):
    """The reference is LiteRT's private `Interpreter._get_ops_details()` ("experimental and subject to
    change"), which only this test uses: if a LiteRT release drops it, this test fails by its name and
    prelnedge keeps working; pick another reference then (e.g. TF's tf.lite.experimental.Analyzer)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=models[kind],
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    graph, = read_subgraphs(models[kind])
    want = [(op["op_name"], list(op["inputs"]), list(op["outputs"])) for op in interpreter._get_ops_details()]
    assert [(op.name, list(op.inputs), list(op.outputs)) for op in graph.ops] == want
    assert {t["index"]: np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}.items() \
        <= dict(enumerate(graph.dtypes)).items()
    assert list(graph.inputs) == [t["index"] for t in interpreter.get_input_details()]
    assert sorted(graph.outputs) == sorted(t["index"] for t in interpreter.get_output_details())
    assert op_names(models[kind]) == [name for name, _, _ in want]


def test_op_names_of_a_flex_model_name_the_tensorflow_op(models):
    assert any(name.startswith("Flex") for name in op_names(models["flex"])), op_names(models["flex"])


def test_float_compute_ops_finds_float_ops_and_passes_a_full_integer_model(models, tmp_path):
    for kind in models:
        (tmp_path / f"{kind}.tflite").write_bytes(models[kind])
    floating = [name.split()[0] for name in float_compute_ops(tmp_path / "float.tflite")]
    assert "FULLY_CONNECTED" in floating and "SOFTMAX" in floating, floating
    names = op_names(tmp_path / "int8-full.tflite")
    assert names[0] == "QUANTIZE" and names[-1] == "DEQUANTIZE", names  # the float interface, exempt
    assert "FULLY_CONNECTED" in names and float_compute_ops(tmp_path / "int8-full.tflite") == []

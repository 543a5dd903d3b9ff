"""prelnedge.quantize.qdq_linear: the QDQ linear layers folded into MatMulIntegerToFloat compute what
the QDQ graph computes (judged against the QDQ graph run with every ONNX Runtime optimization off,
i.e. literally: dequantize, float MatMul, float Add), and only the patterns it can fold are folded."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from prelnedge.quantize.qdq_linear import fold_linear_layers

HIDDEN, OUT = 16, 12


def _qdq_model() -> onnx.ModelProto:
    """x -> QuantizeLinear (uint8) -> DequantizeLinear, read by four MatMuls over int8 weights:
    'a' per-column scales + a constant bias Add (folded with its bias); 'b' one scale, its output a
    graph output (folded, no bias); 'c' followed by an Add of a non-constant (folded, the Add stays);
    'd' over a float weight (not quantized: stays a MatMul). The attention-like x.x^T stays float."""
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    const("x_scale", np.float32(0.05))
    const("x_zp", np.uint8(131))
    nodes += [helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["x_q"]),
              helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zp"], ["x_dq"])]
    for name, per_column in (("a", True), ("b", False), ("c", True)):
        w = rng.integers(-127, 128, size=(HIDDEN, OUT)).astype(np.int8)
        scale = (rng.uniform(0.001, 0.01, OUT) if per_column else np.array(0.004)).astype(np.float32)
        zp = np.zeros(OUT if per_column else (), np.int8)
        const(f"{name}_w", w), const(f"{name}_s", scale), const(f"{name}_zp", zp)
        nodes += [helper.make_node("DequantizeLinear", [f"{name}_w", f"{name}_s", f"{name}_zp"], [f"{name}_wdq"],
                                   axis=1),
                  helper.make_node("MatMul", ["x_dq", f"{name}_wdq"], [f"{name}_mm"])]
    const("a_bias", rng.normal(size=OUT).astype(np.float32))
    nodes += [helper.make_node("Add", ["a_mm", "a_bias"], ["a_out"]),
              helper.make_node("Add", ["c_mm", "residual"], ["c_out"])]
    const("d_w", rng.normal(size=(HIDDEN, OUT)).astype(np.float32))
    nodes += [helper.make_node("MatMul", ["x_dq", "d_w"], ["d_out"]),
              helper.make_node("Transpose", ["x"], ["x_t"], perm=[0, 2, 1]),
              helper.make_node("MatMul", ["x", "x_t"], ["scores"])]
    outputs = ["a_out", "b_mm", "c_out", "d_out", "scores"]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5, HIDDEN]),
                       helper.make_tensor_value_info("residual", TensorProto.FLOAT, [2, 5, OUT])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [2, 5, 5 if name == "scores" else OUT])
         for name in outputs], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def _run(model: onnx.ModelProto, level, feeds) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_folded_layers_compute_what_the_qdq_graph_computes():
    model = _qdq_model()
    rng = np.random.default_rng(1)
    feeds = {"x": rng.normal(0, 2, size=(2, 5, HIDDEN)).astype(np.float32),
             "residual": rng.normal(size=(2, 5, OUT)).astype(np.float32)}
    want = _run(model, ort.GraphOptimizationLevel.ORT_DISABLE_ALL, feeds)

    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    assert fold_linear_layers(folded) == {"linear_layers": 3, "bias_adds": 1}
    ops = [(node.op_type, len(node.input)) for node in folded.graph.node]
    assert ops.count(("MatMulIntegerToFloat", 7)) == 1 and ops.count(("MatMulIntegerToFloat", 6)) == 2, ops
    assert [op for op, _ in ops].count("MatMul") == 2  # the float weight and the product of two activations
    assert [op for op, _ in ops].count("Add") == 1  # the residual, not a constant: not a bias
    dequantized = {node.output[0] for node in folded.graph.node if node.op_type == "DequantizeLinear"}
    assert dequantized == {"x_dq"}  # still read by the float-weight MatMul; every weight's DQ is gone
    onnx.checker.check_model(folded)  # contrib-domain nodes are allowed; the rest must be valid ONNX

    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        got = _run(folded, level, feeds)
        for name, g, w in zip(["a_out", "b_mm", "c_out", "d_out", "scores"], got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * np.abs(w).max(), err_msg=name)


@pytest.mark.parametrize("axis,folded", [(0, False), (-1, True)])
def test_only_weights_scaled_per_output_column_are_folded(axis, folded):
    """MatMulIntegerToFloat scales per output column only (axis 1, or -1, of a (K, N) weight)."""
    model = _qdq_model()
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] == "a_w":
            node.attribute[0].i = axis
            if axis == 0:  # one scale per input row now
                model.graph.initializer.remove(next(i for i in model.graph.initializer if i.name == "a_s"))
                model.graph.initializer.append(numpy_helper.from_array(np.full(HIDDEN, 0.004, np.float32), "a_s"))
                model.graph.initializer.remove(next(i for i in model.graph.initializer if i.name == "a_zp"))
                model.graph.initializer.append(numpy_helper.from_array(np.zeros(HIDDEN, np.int8), "a_zp"))
    counts = fold_linear_layers(model)
    assert counts == ({"linear_layers": 3, "bias_adds": 1} if folded else {"linear_layers": 2, "bias_adds": 0})


def test_initializers_only_removed_nodes_read_are_dropped_and_the_rest_kept():
    """After the rewrite every initializer is read by a node, and one a kept node still reads stays even
    when a removed node read it too: a DequantizeLinear nobody reads (of its own int8 weight and scale,
    sharing layer a's zero point) goes with the weight and scale only it read; a's zero point stays."""
    model = _qdq_model()
    model.graph.initializer.extend([
        numpy_helper.from_array(np.ones((HIDDEN, OUT), np.int8), "orphan_w"),
        numpy_helper.from_array(np.full(OUT, 0.01, np.float32), "orphan_s")])
    model.graph.node.append(helper.make_node("DequantizeLinear", ["orphan_w", "orphan_s", "a_zp"], ["orphan_dq"],
                                             axis=1))
    before = {init.name for init in model.graph.initializer}
    fold_linear_layers(model)
    after = {init.name for init in model.graph.initializer}
    read = {name for node in model.graph.node for name in node.input}
    assert after <= read, after - read
    assert before - after == {"orphan_w", "orphan_s"}
    assert {"a_zp", "a_w", "a_bias", "x_scale", "d_w"} <= after

"""Static int8 linear layers as one integer-GEMM node each, bias included.

ONNX Runtime's quantizer writes a static linear layer as QDQ: DequantizeLinear(x_q) and
DequantizeLinear(W_q) into a float MatMul, then the bias Add. At session load ONNX Runtime's CPU
provider fuses the two DequantizeLinear nodes and the MatMul into `MatMulIntegerToFloat`, but it
leaves the bias Add as a separate float op on every call: its bias fusion (MatMulIntegerToFloatFusion)
only matches the MatMulInteger -> Cast -> Mul chain of dynamic quantization, where the activation
scale is computed per call. The dynamic model therefore runs one node per linear layer and the
static one two (issue 13's profile: 34 Adds against 14 at hidden 256, 4 layers).

`fold_linear_layers` writes what that fusion would have produced: ONNX Runtime's contrib op
`com.microsoft.MatMulIntegerToFloat(x_q, W_q, x_scale, W_scale, x_zero_point, W_zero_point, bias)`
(Y = (x_q - x_zp) (W_q - W_zp) x_scale W_scale + bias, per output column scales allowed). The
quantized tensors, scales and zero points are the quantizer's own, so the arithmetic is the QDQ
graph's; the fused op is in ONNX Runtime's CPU provider, its wasm build (onnxruntime-web) and its
Android build alike.
"""

from __future__ import annotations

import math

MS_DOMAIN = "com.microsoft"


def fold_linear_layers(model) -> dict[str, int]:
    """Rewrite `model` (an onnx.ModelProto from quantize_static, QDQ format) in place; returns the counts
    of layers folded and of bias Adds absorbed."""
    from onnx import helper

    graph = model.graph
    nodes = list(graph.node)  # one list of the node objects, so identities hold below
    weights = {init.name: init for init in graph.initializer}
    producer = {out: node for node in nodes for out in node.output}
    consumers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {out.name for out in graph.output}

    def shape(name: str) -> tuple[int, ...]:
        """An initializer's shape from its header: no copy of the (possibly large) weight is made."""
        return tuple(weights[name].dims)

    def dequantized(name: str, constant: bool):
        """The DequantizeLinear node making `name`, if it dequantizes a constant (weights) or a
        QuantizeLinear's output (activations) with initializer scale and zero point."""
        node = producer.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.domain not in ("", "ai.onnx"):
            return None
        if len(node.input) < 3 or not all(n in weights for n in node.input[1:3]):
            return None
        source = node.input[0]
        if constant:
            return node if source in weights and len(shape(source)) == 2 else None
        made_by = producer.get(source)
        return node if made_by is not None and made_by.op_type == "QuantizeLinear" else None

    def per_column(dq, columns: int) -> bool:
        """MatMulIntegerToFloat takes a scalar or one scale per output column (axis 1 of a (K, N) weight)."""
        scale = shape(dq.input[1])
        if math.prod(scale) == 1:
            return True
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        return scale == (columns,) and axis in (1, -1)

    def bias_of(matmul, columns: int):
        """The Add after `matmul` with a constant (N,) bias, if it is the output's only use."""
        out = matmul.output[0]
        users = consumers.get(out, [])
        if out in graph_outputs or len(users) != 1 or users[0].op_type != "Add":
            return None, None
        add = users[0]
        other = add.input[1] if add.input[0] == out else add.input[0]
        if other not in weights or shape(other) != (columns,):
            return None, None
        return add, other

    biases = 0
    fused: dict[int, object] = {}  # id() of a MatMul -> the node that takes its place
    removed: set[int] = set()  # id() of the bias Adds whose work the fused node now does
    for node in nodes:
        if node.op_type != "MatMul" or node.domain not in ("", "ai.onnx"):
            continue
        x_dq, w_dq = dequantized(node.input[0], constant=False), dequantized(node.input[1], constant=True)
        if x_dq is None or w_dq is None:
            continue
        columns = shape(w_dq.input[0])[1]
        if not per_column(w_dq, columns) or math.prod(shape(x_dq.input[1])) != 1:
            continue
        add, bias = bias_of(node, columns)
        inputs = [x_dq.input[0], w_dq.input[0], x_dq.input[1], w_dq.input[1], x_dq.input[2], w_dq.input[2]]
        output = node.output[0]
        if add is not None:
            inputs.append(bias)
            output = add.output[0]
            removed.add(id(add))
            biases += 1
        fused[id(node)] = helper.make_node("MatMulIntegerToFloat", inputs, [output], name=(node.name or output) + "_int8",
                                           domain=MS_DOMAIN)
    if not fused:
        return {"linear_layers": 0, "bias_adds": 0}
    kept = [fused.get(id(node), node) for node in nodes if id(node) not in removed]
    # DequantizeLinear nodes nobody reads any more (weights: all of them; activations: unless a
    # float op still reads them) go, and so do the float weights' int8 copies only they held.
    read = {name for node in kept for name in node.input} | graph_outputs
    kept = [node for node in kept if node.op_type != "DequantizeLinear" or node.output[0] in read]
    del graph.node[:]
    graph.node.extend(kept)
    read = {name for node in kept for name in node.input} | graph_outputs
    unused = [init for init in graph.initializer if init.name not in read]
    for init in unused:
        graph.initializer.remove(init)
    if not any(opset.domain == MS_DOMAIN for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return {"linear_layers": len(fused), "bias_adds": biases}

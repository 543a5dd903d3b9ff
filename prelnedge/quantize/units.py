"""Quantizable units of an ONNX export, named by their place in the model.

A unit is what a mixed-precision recipe decides about: one linear layer (`layer 7 ffn.out`), one
embedding table (`embeddings.word`) or one head layer (`head qa_outputs`). The dynamo exporter names
graph nodes by counters (`node_MatMul_58`) and stores transposed weights under counters too
(`val_63`), so the place comes from each node's `pkg.torch.onnx.name_scopes` metadata: the module
path the node was traced in. A node without it (a graph from another exporter) is its own unit,
named by the node name. Only ops the mode quantizes count (`ops`, from the recipe's mode): MatMuls
over a constant weight, the embedding Gathers, and for int8-dynamic also the Gemms of pooled heads
(ONNX Runtime's dynamic quantizer rewrites a Gemm as an integer MatMul plus Add; its static and 4-bit
quantizers leave Gemm float). Attention's products of two activations stay float in every mode.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

SCOPES = "pkg.torch.onnx.name_scopes"
# module path suffix in the encoder -> the unit's short name
_LAYER_PARTS = {"attention.self.query": "attn.q", "attention.self.key": "attn.k", "attention.self.value": "attn.v",
                "attention.output.dense": "attn.out", "intermediate.dense": "ffn.in", "output.dense": "ffn.out"}


@dataclass(frozen=True)
class Unit:
    name: str  # "layer 7 ffn.out", "embeddings.word", "head qa_outputs"
    nodes: tuple[str, ...]  # graph node names
    op: str  # "MatMul" or "Gather"
    weights: int  # elements of its weight table(s): what keeping it float costs


def unit_name(module_path: str, node_name: str) -> str:
    """The unit name of a module path such as `model.roberta_prelayernorm.encoder.layer.7.output.dense`."""
    path = module_path.removeprefix("model.")
    found = re.search(r"encoder\.layer\.(\d+)\.(.+)$", path)
    if found and found.group(2) in _LAYER_PARTS:
        return f"layer {found.group(1)} {_LAYER_PARTS[found.group(2)]}"
    found = re.search(r"embeddings\.(\w+)_embeddings$", path)
    if found:
        return f"embeddings.{found.group(1)}"
    path = re.sub(r"^roberta_prelayernorm\.", "", path)
    return f"head {path}" if path else node_name


def _module_path(node) -> str:
    for prop in node.metadata_props:
        if prop.key == SCOPES:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return ""
            # the last scope is the op's own name ("linear_3"); the one before it the module
            return scopes[-2] if len(scopes) >= 2 else ""
    return ""


def graph_units(model, ops: tuple[str, ...] = ("MatMul", "Gather")) -> list[Unit]:
    """The units of an onnx.ModelProto (float export) over the op types `ops`, in graph order."""
    import math

    graph = model.graph
    weights = {init.name: math.prod(init.dims) for init in graph.initializer}
    found: dict[str, list] = {}
    for node in graph.node:
        if node.op_type not in ops:
            continue
        if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 and node.input[1] in weights:
            weight = node.input[1]
        elif node.op_type == "Gather" and node.input[0] in weights and weights[node.input[0]] > 1:
            weight = node.input[0]
        else:
            continue
        name = unit_name(_module_path(node), node.name) if _module_path(node) else node.name
        found.setdefault(name, []).append((node.name, node.op_type, weights[weight]))
    return [Unit(name, tuple(n for n, _, _ in parts), parts[0][1], sum(w for _, _, w in parts))
            for name, parts in found.items()]


def onnx_units(path: Path, ops: tuple[str, ...] = ("MatMul", "Gather")) -> list[Unit]:
    import onnx

    return graph_units(onnx.load(str(path), load_external_data=False), ops)


# The TF reference (prelnedge.models.tf) runs each layer's linear layers in this order, and the
# converter keeps the order; its node names are counters (`MatMul_6;add_15`), so a TFLite unit is named
# by its place in that order (checked against the layer count), and denylisted by its output tensor name.
_TFLITE_LAYER_ORDER = ("attn.q", "attn.k", "attn.v", "attn.out", "ffn.in", "ffn.out")
_TFLITE_EMBEDDINGS = ("embeddings.word", "embeddings.position", "embeddings.token_type")
# The ops a LayerNorm becomes in the converter's graph (mean, centre, variance, rsqrt, scale, shift), and
# the RESHAPE to 2-D that a FULLY_CONNECTED reads it through.
_LAYER_NORM_OPS = frozenset({"MEAN", "SUB", "SQUARED_DIFFERENCE", "MUL", "ADD", "RSQRT", "RESHAPE"})


def tflite_units(path: Path, layers: int) -> list[Unit]:
    """The units of a float .tflite export: every FULLY_CONNECTED over a constant weight and every
    GATHER from a constant table, in execution order, named by place.

    A linear layer that reads a LayerNorm (attn.q/k/v, ffn.in, a head over the final norm) brings that
    LayerNorm's ops into its unit. Under int8-static the converter runs a LayerNorm in int8 with one
    scale per tensor, so a few huge hidden dimensions (a LayerNorm gain trained large, as in BERT-family
    models) crush every other dimension of its output before the linear layer reads it: keeping the
    linear layer float alone cannot undo that, and keeping the LayerNorm float alone does not either (the
    int8 linear layer quantizes its input again). The unit keeps both float or neither."""
    import math

    from ai_edge_litert.interpreter import Interpreter

    from prelnedge.export.tflite_graph import read_subgraphs

    graph = read_subgraphs(path)[0]
    details = {t["index"]: t for t in Interpreter(model_path=str(path)).get_tensor_details()}
    produced = {i for op in graph.ops for i in op.outputs} | set(graph.inputs)

    def constant(index: int) -> bool:
        return index >= 0 and index not in produced

    linear, tables = [], []
    for op in graph.ops:
        if op.name == "FULLY_CONNECTED" and len(op.inputs) > 1 and constant(op.inputs[1]):
            linear.append((op, op.inputs[1]))
        elif op.name == "GATHER" and constant(op.inputs[0]):
            tables.append((op, op.inputs[0]))
    if len(linear) < 6 * layers or len(tables) > len(_TFLITE_EMBEDDINGS):
        raise ValueError(f"{path}: {len(linear)} linear layers and {len(tables)} tables do not fit a {layers}-layer "
                         "encoder; cannot name its units")
    names = [f"layer {i // 6} {_TFLITE_LAYER_ORDER[i % 6]}" if i < 6 * layers else f"head {i - 6 * layers}"
             for i in range(len(linear))]
    units = [Unit(_TFLITE_EMBEDDINGS[i], (details[op.outputs[0]]["name"],), "GATHER",
                  int(math.prod(details[w]["shape"]))) for i, (op, w) in enumerate(tables)]
    return units + [Unit(name, (details[op.outputs[0]]["name"],)
                         + tuple(details[o.outputs[0]]["name"] for o in _layer_norm_before(graph, op.inputs[0])),
                         "FULLY_CONNECTED", int(math.prod(details[w]["shape"])))
                    for name, (op, w) in zip(names, linear)]


def _layer_norm_before(graph, tensor: int) -> list:
    """The ops of the LayerNorm whose output `tensor` is (through a RESHAPE), in execution order; none
    when `tensor` is not a LayerNorm's output. Walks back from `tensor` over LayerNorm-kind ops and
    stops at the norm's input: the tensor that a MEAN and a SUB of that MEAN both read."""
    producer = {out: op for op in graph.ops for out in op.outputs}
    readers: dict[int, list] = {}
    for op in graph.ops:
        for i in op.inputs:
            readers.setdefault(i, []).append(op)

    def norm_input(t: int) -> bool:
        means = [op for op in readers.get(t, ()) if op.name == "MEAN"]
        return any(op.name == "SUB" and op.inputs[0] == t and op.inputs[1] in {m.outputs[0] for m in means}
                   for op in readers.get(t, ()))

    found, todo = [], [tensor]
    while todo:
        t = todo.pop()
        op = producer.get(t)
        if op is None or op in found or norm_input(t):
            continue
        if op.name not in _LAYER_NORM_OPS or len(found) > 12:  # a LayerNorm is 9 ops (10 with the RESHAPE)
            return []
        found.append(op)
        todo.extend(i for i in op.inputs if i >= 0)
    kinds = [op.name for op in found]
    if kinds.count("MEAN") != 2 or kinds.count("RSQRT") != 1:
        return []
    order = {id(op): n for n, op in enumerate(graph.ops)}
    return sorted(found, key=lambda op: order[id(op)])

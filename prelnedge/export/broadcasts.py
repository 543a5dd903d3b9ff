"""Drop the explicit BROADCAST_TOs that jax2tf's shape-polymorphic graphs put before element-wise ops.

Why (issue 13): StableHLO has no implicit broadcasting, so with symbolic batch and length every scalar,
bias, LayerNorm statistic and softmax max/sum is first broadcast to the full activation shape. In
TFLite such a BROADCAST_TO's shape is computed at run time, which makes its output a dynamic tensor:
LiteRT allocates it outside the planned arena and keeps it until the next resize. The exact-GELU
polynomial alone broadcasts about 22 scalars per layer to (B, L, I); at base size on the validation
batch of 3 x 512 tokens all of them together held about 9 GiB.

TFLite's binary element-wise kernels broadcast their operands themselves (numpy rules, up to 4 or more
dimensions), with the same values as the explicit broadcast. So a consumer that is such an op, and
whose other operand already has the full shape, can read the BROADCAST_TO's input directly; when every
consumer can, the BROADCAST_TO is removed. The edit is made in place on the flatbuffer (operator input
indices and the operator list), so no copy of the weights is made. The export's validation then runs
the edited model.
"""

from __future__ import annotations

import struct

# TFLite builtins whose kernels broadcast two operands (numpy rules) up to at least rank 4
_BINARY = ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "LESS", "LESS_EQUAL", "GREATER",
           "GREATER_EQUAL", "EQUAL", "NOT_EQUAL")
_MAX_RANK = 4
_OPERATORS_FIELD = 10  # Subgraph.operators in the schema's vtable
_INPUTS_FIELD = 6  # Operator.inputs


def fold_broadcasts(data: bytearray) -> int:
    """Remove the foldable BROADCAST_TOs from a .tflite model in place; returns how many.

    Only for graphs converted from jax2tf (its callers: the flax export and the flax quantization
    modes). A consumer is folded when its other operand's shape signature equals the broadcast's
    output's, and equal signatures prove equal sizes only on fixed axes. An axis unknown until run
    time (-1) matches another -1 because in these graphs both are the same symbolic dimension: StableHLO
    element-wise ops take operands of equal shapes (that is why jax2tf wrote the broadcast), and JAX
    broadcasts only axes of static size 1, never a symbolic one, so a -1 axis is never stretched. In
    another TFLite graph an operand's -1 axis may be 1 at run time beside the broadcast's n, which
    TFLite then stretches; reading the broadcast's source instead would give a result of the wrong
    shape. A -1 against a fixed size is never a match (tests/test_export_broadcasts.py's
    test_an_axis_unknown_until_run_time_matches_only_another_such_axis). Making the rule strict changed
    no real conversion: benchmarks/EXPORT_MEMORY.md, "BROADCAST_TO folding and dynamic axes".
    """
    from ai_edge_litert import schema_py_generated as schema

    from prelnedge.export.tflite_graph import operator_names

    model = schema.Model.GetRootAs(data, 0)
    codes = operator_names(model)
    removed = 0
    for g in range(model.SubgraphsLength()):
        removed += _fold_subgraph(data, model, model.Subgraphs(g), codes)
    return removed


def _fold_subgraph(data: bytearray, model, graph, codes: list[str]) -> int:
    ops = [graph.Operators(i) for i in range(graph.OperatorsLength())]
    kinds = [codes[op.OpcodeIndex()] for op in ops]
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        for t in op.InputsAsNumpy() if op.InputsLength() else []:
            consumers.setdefault(int(t), []).append(i)
    graph_outputs = set(graph.OutputsAsNumpy().tolist()) if graph.OutputsLength() else set()

    def rank(t: int) -> int:
        return graph.Tensors(t).ShapeSignatureLength() or graph.Tensors(t).ShapeLength()

    def constant(t: int) -> bool:
        return model.Buffers(graph.Tensors(t).Buffer()).DataLength() > 0

    def signature(t: int) -> list[int]:
        tensor = graph.Tensors(t)
        if tensor.ShapeSignatureLength():
            return tensor.ShapeSignatureAsNumpy().tolist()
        return tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else []

    def same_shape(t: int, target: int) -> bool:
        """Equal shape signatures; -1 (a size known only at run time) matches only -1. Why a -1 axis
        may match at all, and why only in jax2tf's graphs: fold_broadcasts."""
        return signature(t) == signature(target)

    drop = []
    for i, op in enumerate(ops):
        if kinds[i] != "BROADCAST_TO":
            continue
        source, target = int(op.Inputs(0)), int(op.Outputs(0))
        users = consumers.get(target, [])
        if not users or target in graph_outputs or rank(source) > rank(target) or rank(target) > _MAX_RANK:
            continue

        def full_other_operand(user: int) -> bool:
            inputs = [int(t) for t in ops[user].InputsAsNumpy()]
            others = [t for t in inputs if t != target]
            # the other operand carries the full shape: not a constant, the same signature (the jax2tf
            # graph's element-wise ops take equal shapes). An operand already rewired to an earlier folded
            # broadcast's source is judged by that source's signature here: a lower rank or a fixed size-1
            # axis fails; a -1 axis is one of the symbolic dimensions of the output (see fold_broadcasts).
            return (kinds[user] in _BINARY and len(inputs) == 2 and len(others) == 1
                    and not constant(others[0]) and same_shape(others[0], target))

        if all(full_other_operand(u) for u in users):
            drop.append(i)
            for u in users:
                _rewire(data, ops[u], target, source)
    _remove_operators(data, graph, drop)
    return len(drop)


def _rewire(data: bytearray, op, old: int, new: int) -> None:
    start = op._tab.Vector(op._tab.Offset(_INPUTS_FIELD))
    for j in range(op.InputsLength()):
        at = start + 4 * j
        if struct.unpack_from("<i", data, at)[0] == old:
            struct.pack_into("<i", data, at, new)


def _remove_operators(data: bytearray, graph, drop: list[int]) -> None:
    """Remove operators from the subgraph's vector in place: each entry is an offset relative to its own
    position, so an entry moved k slots earlier grows by 4k; the vector's length shrinks."""
    if not drop:
        return
    start = graph._tab.Vector(graph._tab.Offset(_OPERATORS_FIELD))
    count = graph.OperatorsLength()
    targets = [start + 4 * i + struct.unpack_from("<I", data, start + 4 * i)[0] for i in range(count)]
    dropped = set(drop)
    kept = [t for i, t in enumerate(targets) if i not in dropped]
    for j, absolute in enumerate(kept):
        struct.pack_into("<I", data, start + 4 * j, absolute - (start + 4 * j))
    struct.pack_into("<I", data, start - 4, len(kept))


def manifest_entry(removed: int) -> dict:
    """The manifest's `optimizations` entry for a fold that removed `removed` BROADCAST_TOs (the float
    export and the flax quantization modes write the same one)."""
    return {f"{removed} BROADCAST_TO removed": "their element-wise consumers broadcast implicitly; the explicit "
            "ones were dynamic tensors LiteRT kept (prelnedge.export.broadcasts)"}


def convert_folding_broadcasts(record: dict):
    """A `convert` for prelnedge.export.tflite.convert_concrete: the converter's model with
    fold_broadcasts applied (one copy of the model in memory); the count goes to record["removed"]."""
    def convert(converter) -> bytearray:
        data = bytearray(converter.convert())
        record["removed"] = fold_broadcasts(data)
        return data
    return convert

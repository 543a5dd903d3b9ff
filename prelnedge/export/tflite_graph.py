"""The operators and tensor types of a .tflite model, read from the file itself.

Why the flatbuffer and not the interpreter: LiteRT's Python `Interpreter` lists its nodes only through
`_get_ops_details()`, a private method marked "Experimental and subject to change". The .tflite file is
a flatbuffer whose schema TFLite keeps backward compatible (readers of old files keep working), and
ai_edge_litert ships the generated reader, `schema_py_generated`, which its own public
`ai_edge_litert.tools.flatbuffer_utils` reads models with. Reading the file also shows the model as
converted, before any delegate regroups its ops.

Names follow the interpreter's: a builtin's enum name ("FULLY_CONNECTED"), a custom op's own code
("FlexErf" for a TensorFlow op that needs the Flex delegate).
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

FLOAT_TYPES = frozenset({"float16", "float32", "float64", "bfloat16"})  # Subgraph.is_float


@dataclass(frozen=True)
class Op:
    name: str
    inputs: tuple[int, ...]  # tensor indices into the subgraph; -1 marks an omitted optional input
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class Subgraph:
    ops: tuple[Op, ...]  # in execution order
    dtypes: tuple[str, ...]  # per tensor index, numpy-style lower case ("float32", "int8", "bfloat16")
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def is_float(self, tensor: int) -> bool:
        return tensor >= 0 and self.dtypes[tensor] in FLOAT_TYPES


def operator_names(model) -> list[str]:
    """The op name of each entry of a schema Model's operator-code table. A builtin's code is the larger
    of its two fields: codes past 127 live in `builtin_code`, older files only fill the deprecated int8 one."""
    from ai_edge_litert import schema_py_generated as schema

    builtins = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            names.append((code.CustomCode() or b"").decode())
        else:
            names.append(builtins.get(builtin, f"BUILTIN_{builtin}"))
    return names


def read_subgraphs(model_file: Path | bytes | bytearray) -> list[Subgraph]:
    """Every subgraph of a .tflite model; the first is the one its signature runs. A file is mapped,
    not read into memory (a base-size model is 500 MB of weights this never touches)."""
    if isinstance(model_file, (bytes, bytearray)):
        return _subgraphs(model_file)
    with open(model_file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _subgraphs(data)


def op_names(model_file: Path | bytes | bytearray) -> list[str]:
    """The ops of every subgraph, in order."""
    return [op.name for graph in read_subgraphs(model_file) for op in graph.ops]


def _subgraphs(data) -> list[Subgraph]:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    names = operator_names(model)
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graphs = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        ops = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            ops.append(Op(names[op.OpcodeIndex()], tuple(op.Inputs(j) for j in range(op.InputsLength())),
                          tuple(op.Outputs(j) for j in range(op.OutputsLength()))))
        dtypes = tuple(types[graph.Tensors(t).Type()] for t in range(graph.TensorsLength()))
        graphs.append(Subgraph(tuple(ops), dtypes, tuple(graph.Inputs(j) for j in range(graph.InputsLength())),
                               tuple(graph.Outputs(j) for j in range(graph.OutputsLength()))))
    return graphs

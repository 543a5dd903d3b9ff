"""A mixed-precision ONNX model put together from whole-model quantizations, without running the
quantizer again: what `prelnedge tune` judges its search candidates on.

At base size one run of ONNX Runtime's quantizer takes tens of seconds (it rewrites every weight of a
0.5 GB graph), and a search asks for a hundred models that differ from one another in one unit. For
the modes whose quantizer treats every node on its own, int8-dynamic (each MatMul/Gather gets its
own weight scale; the activation is quantized at run time) and int4 (weight-only MatMulNBits /
GatherBlockQuantized, with int8-dynamic as its int8 fallback), a mixed model is exactly the plain
model of one precision with some units' subgraphs taken from the plain model of another: the same
nodes, initializers and numbers, in another order and under the same names. So each precision is
quantized once (`uniform_recipe`: every unit at that precision, through `quantize_onnx_recipe`, the
function a recipe's real folder is built by) and a candidate is a splice of those graphs.

int8-static is not composable: its activation scales sit on tensors that neighbouring nodes share,
so whether one node is quantized changes the QDQ pairs around the others.

A unit's subgraph in a quantized graph is found from the float export's tensor names, which every
quantizer keeps at a unit's boundary: walking back from the unit's output tensors, every node whose
outputs the export does not have belongs to the unit (DynamicQuantizeLinear, MatMulInteger, the scale
multiplications, MatMulNBits, ...), up to tensors the export has (the unit's input activation, made by
another unit or a LayerNorm). The export's names, not the float part's: ONNX Runtime's dynamic
quantizer splits every Gemm into MatMul + Add even where it leaves it float, and the MatMul's new
output name belongs to the unit.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from prelnedge.quantize.recipe import Recipe
from prelnedge.quantize.units import Unit

COMPOSABLE_MODES = ("int8-dynamic", "int4")


def composable(recipe: Recipe | None) -> bool:
    return recipe is not None and recipe.target == "onnx" and recipe.mode in COMPOSABLE_MODES


def uniform_recipe(recipe: Recipe, units: list[Unit], precision: str) -> Recipe:
    """The recipe with every unit at `precision`: the part a composed model takes those units from."""
    return Recipe(recipe.target, recipe.mode, tuple((unit.name, precision) for unit in units)
                  if precision != recipe.default else ())


@dataclass
class Parts:
    """What a mode's candidates are composed from."""
    models: dict  # precision -> onnx.ModelProto of uniform_recipe(precision)
    units: list[Unit]
    outputs: dict[str, tuple[str, ...]]  # unit name -> its output tensors in the float export
    reference: frozenset[str]  # every tensor name of the float export


def quantize_parts(src: Path, mode: str) -> Parts:
    """The float export `src` quantized whole at each precision of `mode` (one quantizer run each)."""
    import onnx

    from prelnedge.quantize.mixed import quantize_onnx_recipe
    from prelnedge.quantize.units import graph_units

    plain = Recipe("onnx", mode)
    float_model = onnx.load(str(src))
    units = graph_units(float_model, plain.unit_ops)
    models = {}
    with tempfile.TemporaryDirectory(prefix="prelnedge-parts-") as tmp:
        for precision in plain.precisions:
            path = Path(tmp) / f"{precision}.onnx"
            quantize_onnx_recipe(src, path, None, uniform_recipe(plain, units, precision))
            models[precision] = onnx.load(str(path))
    return Parts(models, units, unit_outputs(float_model, units), frozenset(_names(float_model.graph)))


def compose(parts: Parts, recipe: Recipe):
    """The onnx.ModelProto of `recipe`, spliced from `parts` (of the recipe's mode)."""
    import onnx

    base = parts.models[recipe.default]
    moved = {unit.name: recipe.precision(unit.name) for unit in parts.units
             if recipe.precision(unit.name) != recipe.default}
    if not moved:
        return base
    reference = parts.reference
    unit_outputs = parts.outputs
    nodes = list(base.graph.node)
    initializers = {init.name: init for init in base.graph.initializer}
    # 1. drop each moved unit's subgraph, all but the nodes that something outside it still reads (the
    # DynamicQuantizeLinear of an activation that other units share)
    for unit in moved:
        chain = {id(node) for node in _subgraph_of(nodes, unit_outputs[unit], reference)}
        outside = {name for node in nodes if id(node) not in chain for name in node.input} - set(unit_outputs[unit])
        nodes = [node for node in nodes if id(node) not in chain or set(node.output) & outside]
    # 2. take each moved unit's subgraph from its precision's part
    produced = {name for node in nodes for name in node.output}
    for unit, precision in moved.items():
        source = parts.models[precision].graph
        source_inits = {init.name: init for init in source.initializer}
        for node in _subgraph(source, unit_outputs[unit], reference):
            made = set(node.output)
            if made <= produced:
                continue  # shared with a unit already there (one DynamicQuantizeLinear per activation)
            if made & produced:
                raise ValueError(f"composing {recipe.describe()}: node {node.name} of {unit} half-overlaps the graph")
            nodes.append(node)
            produced |= made
            for name in node.input:
                if name in source_inits and name not in initializers:
                    initializers[name] = source_inits[name]
    nodes = _live(nodes, [output.name for output in base.graph.output])
    used = {name for node in nodes for name in node.input}
    graph = onnx.helper.make_graph(
        _topological(nodes, {i.name for i in base.graph.input} | set(initializers)), base.graph.name,
        list(base.graph.input), list(base.graph.output),
        [initializers[name] for name in initializers if name in used])
    # shapes and metadata as the quantizer writes them: the union of the parts' (same name, same fact)
    taken = [base] + [parts.models[precision] for precision in sorted(set(moved.values()))]
    graph.value_info.extend(_first_by_key((info for part in taken for info in part.graph.value_info),
                                          lambda info: info.name, keep=produced | used))
    model = onnx.helper.make_model(graph, opset_imports=_opsets(taken), ir_version=base.ir_version,
                                   producer_name=base.producer_name, producer_version=base.producer_version)
    model.metadata_props.extend(_first_by_key((prop for part in taken for prop in part.metadata_props),
                                              lambda prop: prop.key))
    return model


def _first_by_key(items, key, keep: set[str] | None = None) -> list:
    seen: dict[str, object] = {}
    for item in items:
        name = key(item)
        if name not in seen and (keep is None or name in keep):
            seen[name] = item
    return list(seen.values())


def _names(graph) -> set[str]:
    return ({name for node in graph.node for name in node.output} | {i.name for i in graph.input}
            | {init.name for init in graph.initializer})


def _subgraph(graph, outputs: tuple[str, ...], reference: set[str]) -> list:
    """The nodes of `graph` between a unit's output tensors and the float export's tensors before it."""
    return _subgraph_of(list(graph.node), outputs, reference)


def _subgraph_of(nodes: list, outputs: tuple[str, ...], reference: set[str]) -> list:
    producer = {name: node for node in nodes for name in node.output}
    found: dict[int, object] = {}
    todo = [name for name in outputs]
    while todo:
        name = todo.pop()
        node = producer.get(name)
        if node is None or id(node) in found:
            continue
        found[id(node)] = node
        todo.extend(i for i in node.input if i and i not in reference)
    order = {id(node): index for index, node in enumerate(nodes)}
    return sorted(found.values(), key=lambda node: order[id(node)])


def _live(nodes: list, graph_outputs: list[str]) -> list:
    """The nodes some graph output depends on."""
    producer = {name: node for node in nodes for name in node.output}
    keep: set[int] = set()
    todo = list(graph_outputs)
    while todo:
        node = producer.get(todo.pop())
        if node is None or id(node) in keep:
            continue
        keep.add(id(node))
        todo.extend(i for i in node.input if i)
    return [node for node in nodes if id(node) in keep]


def _topological(nodes: list, available: set[str]) -> list:
    """The nodes in an order ONNX accepts, each after its inputs' producers; otherwise list order (the
    list is nearly in order already, so this takes a pass or two)."""
    ready, done, waiting = set(available), [], list(nodes)
    while waiting:
        left = []
        for node in waiting:
            if all(not i or i in ready for i in node.input):
                done.append(node)
                ready.update(node.output)
            else:
                left.append(node)
        if len(left) == len(waiting):
            raise ValueError(f"composed graph has a cycle or a missing input near {left[0].name}")
        waiting = left
    return done


def _opsets(models) -> list:
    import onnx

    versions: dict[str, int] = {}
    for model in models:
        for opset in model.opset_import:
            versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
    return [onnx.helper.make_opsetid(domain, version) for domain, version in sorted(versions.items())]


def unit_outputs(float_model, units: list[Unit]) -> dict[str, tuple[str, ...]]:
    """unit name -> the output tensors of its nodes in the float export (an onnx.ModelProto)."""
    by_name = {node.name: node for node in float_model.graph.node}
    return {unit.name: tuple(out for node in unit.nodes for out in by_name[node].output) for unit in units}


def write_composed(model, dst: Path) -> None:
    import onnx

    onnx.save(model, str(dst))

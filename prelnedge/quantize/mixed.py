"""Apply a mixed-precision recipe (prelnedge.quantize.recipe) to a float ONNX or TFLite export.

Each precision is one of the mode's own quantizers run with the other units excluded by node name
(ONNX Runtime's `nodes_to_exclude`): int8-dynamic and int8-static leave a recipe's float units as
float MatMul/Gather; int4 writes MatMulNBits / GatherBlockQuantized on its int4 units, then ONNX
Runtime's dynamic int8 quantizer turns the int8 units into integer GEMMs (MatMulNBits and
GatherBlockQuantized are not MatMul or Gather, so that second pass cannot touch them; every other node
it could take is excluded by name), and float units stay float. A recipe with no fallback runs exactly the plain mode's call, so it writes the
plain mode's bytes.

TFLite int8-static: the converter's quantization step takes the recipe's float units as
`denylisted_nodes` (by output tensor name, read from the float export's .tflite), the option
tf.lite.experimental.QuantizationDebugger passes for selective quantization.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from prelnedge.quantize.recipe import Recipe
from prelnedge.quantize.units import onnx_units, tflite_units


def quantize_onnx_recipe(src: Path, dst: Path, calibration, recipe: Recipe) -> dict:
    from prelnedge.quantize import onnx as modes

    units = onnx_units(src, recipe.unit_ops)
    recipe.check_units([unit.name for unit in units], f"the export {src}")
    floating = tuple(recipe.nodes(units, "float"))
    if recipe.mode == "int8-dynamic":
        info = modes.quantize_int8_dynamic(src, dst, calibration, exclude=_as_dynamic_sees(floating))
    elif recipe.mode == "int8-static":
        info = modes.quantize_int8_static(src, dst, calibration, exclude=floating)
    else:  # int4
        int8 = tuple(recipe.nodes(units, "int8"))
        if not int8:
            info = modes.quantize_int4(src, dst, calibration, exclude=floating)
        else:
            with tempfile.TemporaryDirectory(prefix="prelnedge-mixed-") as tmp:
                half = Path(tmp) / "int4.onnx"
                info = modes.quantize_int4(src, half, calibration, exclude=floating + int8)
                dynamic = modes.quantize_int8_dynamic(half, dst, exclude=_as_dynamic_sees(_all_but(half, int8)))
            info = {**info, "int8_fallback": {key: dynamic[key] for key in ("tool", "weight_type")}}
    counts = {precision: sum(recipe.precision(unit.name) == precision for unit in units)
              for precision in recipe.precisions}
    counts = {precision: count for precision, count in counts.items() if count}
    return {**info, "recipe": recipe.to_json(), "units": counts}


def _all_but(path: Path, keep: tuple[str, ...]) -> tuple[str, ...]:
    """Every node the dynamic int8 quantizer could take except `keep`: the int4 pass's float units, and
    the Gemms int4 leaves float (the dynamic quantizer would take those too)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return tuple(node.name for node in graph.node if node.op_type in ("MatMul", "Gemm", "Gather") and node.name not in keep)


def _as_dynamic_sees(nodes: tuple[str, ...]) -> tuple[str, ...]:
    """Names to exclude from ONNX Runtime's dynamic quantizer: it first rewrites each Gemm `g` as a
    MatMul named `g_MatMul` plus an Add, and checks the exclusion list against that new name."""
    return tuple(name for node in nodes for name in (node, f"{node}_MatMul"))


def tflite_float_nodes(float_model: Path, layers: int, recipe: Recipe) -> tuple[str, ...]:
    """The output tensor names of the recipe's float units in a float .tflite export, each once (units
    that read one LayerNorm, such as attn.q, attn.k and attn.v, share its ops)."""
    units = tflite_units(float_model, layers)
    recipe.check_units([unit.name for unit in units], f"the export {float_model}")
    return tuple(dict.fromkeys(recipe.nodes(units, "float")))


def quantize_tflite_recipe(checkpoint, framework: str, work: Path, calibration, recipe: Recipe,
                           float_model: Path) -> dict:
    from prelnedge.quantize.tflite import convert_int8_static

    layers = checkpoint.config.num_hidden_layers
    floating = tflite_float_nodes(float_model, layers, recipe)
    info = convert_int8_static(checkpoint, framework, work, calibration, float_nodes=floating)
    units = tflite_units(float_model, layers)
    counts = {precision: sum(recipe.precision(unit.name) == precision for unit in units)
              for precision in recipe.precisions}
    return {**info, "recipe": recipe.to_json(), "units": {k: v for k, v in counts.items() if v},
            "float_nodes": list(floating)}

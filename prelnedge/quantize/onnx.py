"""ONNX quantization modes, each rewriting a validated float model.onnx into a new file.

Every function takes (float model path, output path, calibration batches or None) and returns
facts for the manifest (`optimizations` names every graph rewrite that ran, so a reader knows the
validated file is not the exporter's graph). ONNX Runtime's own quantization tools do the work;
what is ours is the choice of ops (linear layers and embedding tables; never LayerNorm, softmax or
the attention products of two activations, whose int8 error swamps the rest), the settings that
let ONNX Runtime's CPU kernels run them as integer GEMMs, and the fp16 storage scheme.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

import numpy as np

Batches = list[tuple[np.ndarray, np.ndarray]]
# Tensors smaller than this stay fp32 under fp16 storage: biases and LayerNorm vectors weigh nothing.
FP16_MIN_ELEMENTS = 1024
# Which of onnxscript's ORT fusions (FUSIONS below) a mode runs before quantizing, or None.
# Measured, not assumed (issue 13, base size, b1 s128, CPU time per call, interleaved runs on a
# loaded 2-core machine): the full optimize_for_ort vs unfused int8-dynamic 67-82 vs 61-78 ms,
# int8-static 67-73 vs 66-82 ms, int4 308 vs 284 ms: the int8 GEMMs dominate and the fused glue
# bought nothing measurable. Session 6 (benchmarks/LATENCY.md "int8-dynamic at batch 8"): attention
# alone ("attention") cut int8-dynamic's kernel time at b8 in ORT profiles (attention's (B, heads,
# L, L) chain outgrows the L2 there), but interleaved timing showed no gain (base, s128, six runs on
# the loaded machine, b8 vs the do-it-yourself path: median 0.91x fused vs 0.87x unfused; session 7,
# quiet machine: 0.86x vs 0.87x at b1, 0.78x both at b8), so the exporter's graph is quantized as it
# is; ONNX Runtime still applies its own fusions at load.
STATIC_FUSES = None
DYNAMIC_FUSES = None
INT4_FUSES = None
# What ONNX Runtime itself does with these files when a session opens (every user's session, and
# the validation's): recorded so the manifest says the validated graph is not the one that runs.
RUNTIME_FUSIONS = {"onnxruntime session (graph_optimization_level ALL, at load)":
                   "quantized-MatMul fusions (MatMulIntegerToFloat, DynamicQuantizeMatMul), LayerNorm and GELU "
                   "fusions"}


@contextlib.contextmanager
def _quiet_quantizer_logs():
    """ONNX Runtime's quantizers log advice on every call: 'consider pre-processing' (root logger;
    pre-processing only fuses shapes we already export clean) and, for int4, that the opset bump to
    21 'may not be a valid model' plus one INFO line per node. Our fidelity check runs the result, so
    these say nothing the user can act on; errors still show."""
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def quantize_fp16(src: Path, dst: Path, calibration: Batches | None = None) -> dict:
    """float16 initializers, each followed by a Cast to float32.

    ONNX Runtime's CPU and wasm backends have no fp16 MatMul/LayerNorm kernels, so a fully fp16
    graph would not run where our users ship it; storing weights in fp16 halves the file and keeps
    every op in fp32. Only the weights' rounding (about 3 decimal digits) differs from the float model.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    kept, casts, converted = [], [], 0
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype != np.float32 or array.size < FP16_MIN_ELEMENTS:
            kept.append(init)
            continue
        stored = numpy_helper.from_array(array.astype(np.float16), init.name + "__fp16")
        kept.append(stored)
        casts.append(helper.make_node("Cast", [stored.name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=init.name + "__cast"))
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)  # casts first: the graph stays topologically sorted
    onnx.save(model, str(dst))
    return {"tool": "onnx (fp16 initializers + Cast)", "fp16_tensors": converted}


def fuse_for_ort(src: Path, dst: Path) -> dict:
    """onnxscript's ORT fusions on the float graph: erf-GELU + bias -> BiasGelu, residual add + bias +
    LayerNorm -> SkipLayerNormalization, the attention subgraph -> MultiHeadAttention. The fused
    ops are ONNX Runtime contrib ops (CPU and wasm both have them). Returns the non-zero counts."""
    import onnx_ir as ir
    from onnxscript.rewriter.ort_fusions import optimize_for_ort

    model, counts = optimize_for_ort(ir.load(str(src)))
    ir.save(model, str(dst))
    return {name: count for name, count in counts.items() if count}


def fuse_attention_for_ort(src: Path, dst: Path) -> dict:
    """onnxscript's attention fusions alone: each layer's q.k^T, scale, mask add, softmax and p.v with
    the head transposes -> one com.microsoft.MultiHeadAttention over (B, L, H) q, k, v (ORT CPU and
    wasm have it). Nothing else is fused: the SkipLayerNormalization and BiasGelu that
    optimize_for_ort adds were slower than LayerNormalization + Add and than Gelu after a bias folded
    into the int8 GEMM (benchmarks/LATENCY.md, "int8-dynamic at batch 8": at hidden 256 the whole
    optimize_for_ort graph took 130 ms of kernel time at b8 against 100 unfused, 22.2 against 17.6 at
    b1; BiasGelu 13.8 vs 8.3 ms at b8). Returns the non-zero counts."""
    import onnx_ir as ir
    from onnx_ir.passes.common import ShapeInferencePass
    from onnxscript.optimizer import optimize
    from onnxscript.rewriter.ort_fusions import shape_optimization
    from onnxscript.rewriter.ort_fusions.mha import fuse_mha2
    from onnxscript.rewriter.ort_fusions.sdpa import fuse_sdpa

    model = ir.load(str(src))
    ShapeInferencePass()(model)  # the shapes the attention patterns check (head count, head size)
    optimize(model)
    shape_optimization.rules.apply_to_model(model)
    optimize(model)
    counts = {"sdpa": fuse_sdpa(model, apply_shape_inference=True), "mha": fuse_mha2(model)}
    optimize(model)
    ir.save(model, str(dst))
    return {name: count for name, count in counts.items() if count}


# What a mode's fusion switch can name: the graph rewrite run before quantizing, by manifest label.
FUSIONS = {"all": ("onnxscript optimize_for_ort", fuse_for_ort),
           "attention": ("onnxscript sdpa + MultiHeadAttention fusion", fuse_attention_for_ort)}


@contextlib.contextmanager
def _graph_to_quantize(src: Path, fuse: str | None):
    """(the float graph to hand to the quantizer, the optimizations that made it), always a path in a
    private temporary folder: ORT's quantize_dynamic / quantize_static write a shape-inferred copy
    (`model-inferred.onnx`) beside the path they are given and delete it afterwards, and the source's
    folder is the user's export (a file of that name there would be overwritten, then removed)."""
    with tempfile.TemporaryDirectory(prefix="prelnedge-quantize-") as tmp:
        if fuse:
            label, function = FUSIONS[fuse]
            fused = Path(tmp) / "fused.onnx"
            yield fused, {label: function(src, fused)}
            return
        # Links, not copies (a base model is 0.5 GB): the model and its external tensor file, which
        # the exporter names `model.onnx.data` (large models) and the ONNX format looks for beside it.
        # Only those: a link to any other file could be written through.
        for file in src.parent.iterdir():
            if file.name == src.name or file.name.startswith(src.name + "."):
                (Path(tmp) / file.name).symlink_to(file.resolve())
        yield Path(tmp) / src.name, {}


def quantize_int8_dynamic(src: Path, dst: Path, calibration: Batches | None = None, *,
                          exclude: tuple[str, ...] = ()) -> dict:
    """exclude: nodes left in float (a mixed-precision recipe's float units, prelnedge.quantize.mixed)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _graph_to_quantize(src, DYNAMIC_FUSES) as (source, optimizations), _quiet_quantizer_logs():
        quantize_dynamic(source, dst, op_types_to_quantize=["MatMul", "Gather"], per_channel=False,
                         weight_type=QuantType.QInt8, nodes_to_exclude=list(exclude),
                         extra_options={"MatMulConstBOnly": True})
    return {"tool": "onnxruntime.quantization.quantize_dynamic", "weight_type": "int8",
            "ops": ["MatMul (constant weights)", "Gather (embeddings)"],
            "optimizations": {**optimizations, **RUNTIME_FUSIONS}}


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over our batches (one example per call, so
    every length seen is calibrated without padding skewing the ranges)."""

    def __init__(self, batches: Batches, model: Path) -> None:
        empty = _empty_cache(model)  # a causal-lm decoder calibrates as the plain call: an empty past
        self._feeds = iter([{"input_ids": ids[i:i + 1].astype(np.int64),
                             "attention_mask": mask[i:i + 1].astype(np.int64), **empty}
                            for ids, mask in batches for i in range(ids.shape[0])])

    def get_next(self):
        return next(self._feeds, None)


def _empty_cache(path: Path) -> dict[str, np.ndarray]:
    """Batch-1 empty tensors (1, heads, 0, head_dim) for a cached decoder's past_key_values.* inputs."""
    import onnx

    feeds = {}
    for value in onnx.load(str(path), load_external_data=False).graph.input:
        if value.name.startswith("past_key_values."):
            dims = value.type.tensor_type.shape.dim
            feeds[value.name] = np.zeros((1, dims[1].dim_value, 0, dims[3].dim_value), np.float32)
    return feeds


def activation_products(path: Path) -> list[str]:
    """The MatMuls whose second operand is not a weight (attention's q.k^T and p.v). quantize_static
    in QDQ format ignores MatMulConstBOnly (only the QOperator and dynamic quantizers read it), so
    these are excluded by name."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return [node.name for node in graph.node if node.op_type == "MatMul" and node.input[1] not in weights]


def quantize_int8_static(src: Path, dst: Path, calibration: Batches | None = None, *,
                         exclude: tuple[str, ...] = ()) -> dict:
    """Static int8 linear layers, each one integer GEMM with its bias: MatMulIntegerToFloat.

    What the profiles showed (issue 13):
    - with int8 activations (S8S8) ONNX Runtime's x86 build does not fuse QDQ MatMuls (its QDQ
      fusions take int8 activations on ARM only), so the three projections sharing one LayerNorm
      output stayed float MatMuls over weights dequantized on every call; uint8 activations (U8S8,
      the operand order x86 VNNI multiplies natively) with int8 per-channel weights fuse to
      MatMulIntegerToFloat, and float MatMul/Gather outputs avoid a Q/DQ pair after each GEMM.
      ORT's docs warn that U8S8 can saturate on AVX2/AVX512 CPUs without VNNI, which the fidelity
      check sees only when it runs on such a CPU.
    - session 5: quantize_static (QDQ) ignores MatMulConstBOnly, so attention's activation products
      were quantized too (4 QLinearMatMul + 4 MatMulIntegerToFloat over per-call quantized q, k,
      softmax); they are excluded by name now and run in float, as in int8-dynamic.
    - session 5: ORT fuses the QDQ pattern into MatMulIntegerToFloat without the bias (its bias
      fusion matches dynamic quantization's MatMulInteger chain only), leaving one float Add per
      linear layer; qdq_linear.fold_linear_layers writes the fused node with its bias.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from prelnedge.quantize.qdq_linear import fold_linear_layers

    if not calibration:
        raise ValueError("int8-static needs calibration batches")
    with _graph_to_quantize(src, STATIC_FUSES) as (source, optimizations), _quiet_quantizer_logs():
        excluded = activation_products(source) + list(exclude)
        quantize_static(source, dst, _Reader(calibration, source), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["MatMul", "Gather"], per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=excluded,
                        extra_options={"MatMulConstBOnly": True, "ActivationSymmetric": False,
                                       "OpTypesToExcludeOutputQuantization": ["MatMul", "Gather"]})
    model = onnx.load(str(dst))
    folded = fold_linear_layers(model)
    onnx.save(model, str(dst))
    return {"tool": "onnxruntime.quantization.quantize_static (QDQ, MinMax)", "weight_type": "int8 per channel",
            "activation_type": "uint8 (asymmetric)", "ops": ["MatMul (constant weights)", "Gather (embeddings)"],
            "float_matmuls": f"{len(excluded) - len(exclude)} attention products of two activations",
            "calibration_examples": sum(ids.shape[0] for ids, _ in calibration), "outputs": "float (MatMul, Gather)",
            "optimizations": {**optimizations,
                              "prelnedge qdq_linear.fold_linear_layers": {
                                  "DequantizeLinear x2 + MatMul + bias Add -> com.microsoft.MatMulIntegerToFloat":
                                  folded},
                              **RUNTIME_FUSIONS}}


INT4_BLOCK = 32
INT4_ACCURACY_LEVEL = 4


def quantize_int4(src: Path, dst: Path, calibration: Batches | None = None, *, block_size: int = INT4_BLOCK,
                  accuracy_level: int = INT4_ACCURACY_LEVEL, exclude: tuple[str, ...] = ()) -> dict:
    """Block-wise symmetric 4-bit weights: MatMulNBits for every MatMul with a constant weight,
    GatherBlockQuantized for the embedding tables. block_size and accuracy_level exist for
    benchmarks/probes/matmulnbits_kernel.py; the mode always uses the defaults (its floor was set for them).

    accuracy_level 4 asks ONNX Runtime for int8 compute (MLAS SQNBIT_CompInt8: the activations are
    quantized to int8 per block and multiplied with VNNI dot products) where the CPU has that
    kernel, else it silently computes in fp32. Measured (issue 13, ORT 1.32 on this project's x86
    machines, benchmarks/probes/matmulnbits_kernel.py): that kernel is built for one row at a time (LLM
    decoding). At 1 row it beats the int8 GEMM of int8-dynamic (about 0.4-0.6x its time); its cost
    grows with every row, so at 128 rows (one 128-token sequence) it takes 5-6x the int8 GEMM's time
    and about fp32's. An encoder call always has batch x length rows, so int4 is for size here,
    not speed; larger blocks cut the gap only partly (block 256: 3.5-6x) and cost fidelity.
    """
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                 MatMulNBitsQuantizer)

    config = DefaultWeightOnlyQuantConfig(block_size=block_size, is_symmetric=True, bits=4,
                                          accuracy_level=accuracy_level,
                                          op_types_to_quantize=("MatMul", "Gather"),
                                          quant_axes=(("MatMul", 0), ("Gather", 1)))
    with _graph_to_quantize(src, INT4_FUSES) as (source, optimizations):
        quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), algo_config=config, nodes_to_exclude=list(exclude))
    # ORT quantizes the Gather tables in numpy (quant_slice_symmetric): it divides every block by its
    # scale and only then picks 0 where the scale is 0, so an all-zero block (an embedding row HF's
    # init leaves at zero, such as the padding token's) computes 0/0 and numpy warns "invalid value
    # encountered in divide". The block is stored correctly (scale 0, values 0); the warning says
    # nothing to the user, so it is silenced for this call only.
    with _quiet_quantizer_logs(), np.errstate(divide="ignore", invalid="ignore"):
        quantizer.process()
    quantizer.model.save_model_to_file(str(dst), use_external_data_format=False)
    return {"tool": "onnxruntime MatMulNBitsQuantizer (DEFAULT, symmetric)", "bits": 4, "block_size": block_size,
            "accuracy_level": accuracy_level, "symmetric": True,
            "compute": "int8 activations per block (MLAS SQNBIT_CompInt8) where the CPU has it, else fp32",
            "ops": ["MatMul -> MatMulNBits", "Gather -> GatherBlockQuantized"],
            "optimizations": {**optimizations, **RUNTIME_FUSIONS}}

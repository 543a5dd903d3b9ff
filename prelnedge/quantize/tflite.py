"""TFLite quantization modes: TF converter settings applied while converting the reference again.

Every function takes (checkpoint, framework, work folder, calibration batches or None) and writes
work/model.tflite. Integer activations work from the TF reference because it is written for it: LayerNorm
is mean, subtract, multiply and `rsqrt` (no DIV: a full-int8 model with one converted, then failed at
run time in `div.cc`; no SQUARED_DIFFERENCE, which has no int16 kernel), position ids are int arithmetic plus an
int32 cumsum (no NotEqual on the int inputs), and the embedding gathers index int8 tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

Batches = list[tuple[np.ndarray, np.ndarray]]


def _convert(checkpoint, framework: str, work: Path, options, convert=None) -> dict:
    import warnings

    with warnings.catch_warnings():
        # the converter's calibration step uses tf.lite.Interpreter internally and warns about it
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
        return _convert_quietly(checkpoint, framework, work, options, convert)


def _convert_quietly(checkpoint, framework: str, work: Path, options, convert=None) -> dict:
    if framework == "flax":
        from prelnedge.export.jax2tf import convert_flax

        info, _holder, _concrete = convert_flax(checkpoint, work, options, convert)  # as the float export
        return info
    from prelnedge.export.tflite import convert_tf_reference

    # through a SavedModel, as the float export (issue 13: a concrete function's frozen copy of every
    # weight sat beside the model through conversion and calibration)
    return convert_tf_reference(checkpoint, work, converter_options=options, convert=convert)


def _representative(calibration: Batches):
    """The converter's representative dataset: one example at a time, int32 like the signature, with
    its padding cut off. Integer models are for unpadded batch-1 calls: a padded key's bias
    (float32's lowest) inside the calibrated range would leave no resolution for real scores."""
    def samples():
        for ids, mask in calibration:
            rows, cols = ids.reshape(-1, ids.shape[-1]), mask.reshape(-1, mask.shape[-1])
            for row, keep in zip(rows, cols):
                n = int(keep.sum())
                yield {"input_ids": row[None, :n].astype(np.int32), "attention_mask": keep[None, :n].astype(np.int32)}
    return samples


def convert_fp16(checkpoint, framework: str, work: Path, calibration: Batches | None = None) -> dict:
    import tensorflow as tf

    def options(converter):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]

    info = _convert(checkpoint, framework, work, options)
    info["converter_settings"] = "optimizations=DEFAULT, supported_types=[float16]"
    return info


def convert_int8_dynamic(checkpoint, framework: str, work: Path, calibration: Batches | None = None) -> dict:
    import tensorflow as tf

    def options(converter):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

    info = _convert(checkpoint, framework, work, options)
    info["converter_settings"] = "optimizations=DEFAULT (dynamic range)"
    return info


# Ops the int8-static model runs in float32 between a DEQUANTIZE and a QUANTIZE; every other op,
# every linear layer included, stays int8. Why (issue 13, hidden 256, LiteRT 2.3 with its default
# XNNPACK delegate): XNNPACK has no int8 kernel for the attention products (BATCH_MATMUL of two
# activations) or SOFTMAX, and refuses some int8 residual ADDs (their input and output scales differ
# too much), so those run on TFLite's builtin int8 kernels and split the graph into many delegate
# partitions. benchmarks/LATENCY.md's hidden-256 grid (Intel Xeon, 2 logical CPUs, AVX-512 VNNI) has
# the model with them in int8 (int8-full) at 3.3x (s128) and 7.2x (s384) this one's CPU time per b1
# call; its "TFLite int8-full" section the single ops (int8 q.k and p.v 12-19x XNNPACK's float ones,
# softmax 6x). int8 GELU (a table lookup) and RSQRT stay int8: making them float as well moved the
# whole model by less than the noise (session 4, on another CPU; LATENCY.md's History).
INT8_STATIC_FLOAT_OPS = ("BATCH_MATMUL", "SOFTMAX", "ADD")


def quantize_calibrated(calibrated: bytes, float_ops: tuple[str, ...], float_nodes: tuple[str, ...] = ()) -> bytes:
    """The quantization step alone, on a calibrated model: `float_ops` (op types) and `float_nodes` (ops
    by output tensor name: a mixed-precision recipe's float units) stay float. Per-channel weights, as
    the converter's default."""
    from tensorflow.lite.python import convert as tflite_convert

    return tflite_convert.mlir_quantize(calibrated, disable_per_channel=False, fully_quantize=False,
                                        denylisted_ops=list(float_ops), denylisted_nodes=list(float_nodes))


def _calibrate_then_quantize(float_ops: tuple[str, ...], float_nodes: tuple[str, ...] = (), keep: dict | None = None):
    """converter.convert() in its two steps, calibration and then quantization with `float_ops`
    (and the ops named in `float_nodes`) left in float: the calls tf.lite.experimental.QuantizationDebugger
    makes for its `denylisted_ops` and `denylisted_nodes` options, without the debugger's instrumented
    second model. `keep` receives the calibrated model (prelnedge tune re-quantizes it per candidate)."""
    def convert(converter) -> bytes:
        converter._experimental_calibrate_only = True
        calibrated = converter.convert()
        if keep is not None:
            keep["calibrated"] = calibrated
        assert not converter._experimental_disable_per_channel  # quantize_calibrated's setting
        return quantize_calibrated(calibrated, float_ops, float_nodes)
    return convert


def _int8_static_options(calibration: Batches):
    import tensorflow as tf

    def options(converter):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration)
        # the float ops need TFLITE_BUILTINS; the quantizer makes everything else int8
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    return options


def calibrated_int8_static(checkpoint, framework: str, work: Path, calibration: Batches) -> bytes:
    """int8-static's calibrated model (float ops with recorded ranges), before quantization."""
    keep: dict = {}
    _convert(checkpoint, framework, work, _int8_static_options(calibration),
             _calibrate_then_quantize(INT8_STATIC_FLOAT_OPS, keep=keep))
    return keep["calibrated"]


def convert_int8_static(checkpoint, framework: str, work: Path, calibration: Batches | None = None, *,
                        float_nodes: tuple[str, ...] = ()) -> dict:
    """float_nodes: ops (by output tensor name) a mixed-precision recipe keeps float (prelnedge.quantize.mixed)."""
    info = _convert(checkpoint, framework, work, _int8_static_options(calibration),
                    _calibrate_then_quantize(INT8_STATIC_FLOAT_OPS, float_nodes))
    info["converter_settings"] = ("optimizations=DEFAULT, representative_dataset, supported_ops=[TFLITE_BUILTINS_INT8, "
                                  "TFLITE_BUILTINS], calibrate then quantize with denylisted_ops")
    info["ops"] = "TFLITE_BUILTINS_INT8, float " + ", ".join(INT8_STATIC_FLOAT_OPS)
    info["float_ops"] = list(INT8_STATIC_FLOAT_OPS)
    info["optimizations"] = {"float attention products, softmax and adds": "XNNPACK runs them in float; with "
                             "them on TFLite's builtin int8 kernels (int8-full) a call took 3.3-7.2x the CPU time "
                             "(benchmarks/LATENCY.md)"}
    return info


def float_compute_ops(model: Path) -> list[str]:
    """The ops of a .tflite model that compute in float, read from the file as converted (no delegate
    regroups the graph; prelnedge.export.tflite_graph): every op with a float tensor among its inputs or
    outputs, except the interface conversions. Those are a DEQUANTIZE whose outputs are model outputs
    (float logits out) and, at the inputs, a QUANTIZE of a model input or of a CAST of one: the int32
    attention mask is cast to float and quantized once, the work a float-input model's QUANTIZE does.
    Between them everything is integer. Ops of any further subgraph (control flow) have no interface."""
    from prelnedge.export.tflite_graph import read_subgraphs

    floating = []
    for g, graph in enumerate(read_subgraphs(model)):
        inputs, outputs = set(graph.inputs), set(graph.outputs)
        cast_inputs = {i for op in graph.ops if op.name == "CAST" and set(op.inputs) <= inputs for i in op.outputs}

        def interface(op) -> bool:
            if g > 0:
                return False
            if op.name == "DEQUANTIZE":
                return set(op.outputs) <= outputs
            if op.name == "CAST":
                return set(op.inputs) <= inputs
            return op.name == "QUANTIZE" and set(op.inputs) <= inputs | cast_inputs

        where = f"subgraph {g}, op" if g else "op"
        floating += [f"{op.name} ({where} {i})" for i, op in enumerate(graph.ops)
                     if any(map(graph.is_float, (*op.inputs, *op.outputs))) and not interface(op)]
    return floating


def convert_int8_full(checkpoint, framework: str, work: Path, calibration: Batches | None = None) -> dict:
    """Every op int8 (TFLITE_BUILTINS_INT8 only), for integer-only hardware; int32 ids in, float outputs
    (a DEQUANTIZE at the end). The converter's new quantizer leaves an op it cannot quantize in float
    without a word, so the written model's op list is checked here (`float_compute_ops`)."""
    import tensorflow as tf

    def options(converter):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

    info = _convert(checkpoint, framework, work, options)
    floating = float_compute_ops(work / "model.tflite")
    if floating:
        raise RuntimeError("int8-full conversion left ops in float: " + ", ".join(floating))
    info["converter_settings"] = "optimizations=DEFAULT, representative_dataset, supported_ops=[TFLITE_BUILTINS_INT8]"
    info["ops"] = "TFLITE_BUILTINS_INT8"
    info["float_ops"] = []
    return info


def convert_int16x8(checkpoint, framework: str, work: Path, calibration: Batches | None = None) -> dict:
    import tensorflow as tf

    def options(converter):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]

    info = _convert(checkpoint, framework, work, options)
    info["converter_settings"] = ("optimizations=DEFAULT, representative_dataset, "
                                  "supported_ops=[EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]")
    info["ops"] = "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8"
    return info

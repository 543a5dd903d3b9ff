"""ONNX quantization modes, each rewriting a validated float model.onnx into a new file.

Every function takes (float model path, output path, calibration batches or None) and returns
facts for the manifest. ONNX Runtime's own quantization tools do the work; what is ours is the
choice of ops (linear layers and embedding tables; never LayerNorm, softmax or the attention
products of two activations, whose int8 error swamps the rest) and the fp16 storage scheme.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np

Batches = list[tuple[np.ndarray, np.ndarray]]
# Tensors smaller than this stay fp32 under fp16 storage: biases and LayerNorm vectors weigh nothing.
FP16_MIN_ELEMENTS = 1024


@contextmanager
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


def quantize_int8_dynamic(src: Path, dst: Path, calibration: Batches | None = None) -> dict:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_quantizer_logs():
        quantize_dynamic(src, dst, op_types_to_quantize=["MatMul", "Gather"], per_channel=False,
                         weight_type=QuantType.QInt8, extra_options={"MatMulConstBOnly": True})
    return {"tool": "onnxruntime.quantization.quantize_dynamic", "weight_type": "int8",
            "ops": ["MatMul (constant weights)", "Gather (embeddings)"]}


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over our batches (one example per call, so
    every length seen is calibrated without padding skewing the ranges)."""

    def __init__(self, batches: Batches) -> None:
        self._feeds = iter([{"input_ids": ids[i:i + 1].astype(np.int64),
                             "attention_mask": mask[i:i + 1].astype(np.int64)}
                            for ids, mask in batches for i in range(ids.shape[0])])

    def get_next(self):
        return next(self._feeds, None)


def quantize_int8_static(src: Path, dst: Path, calibration: Batches | None = None) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ValueError("int8-static needs calibration batches")
    with _quiet_quantizer_logs():
        quantize_static(src, dst, _Reader(calibration), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["MatMul", "Gather"], per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"MatMulConstBOnly": True, "ActivationSymmetric": False})
    return {"tool": "onnxruntime.quantization.quantize_static (QDQ, MinMax)", "weight_type": "int8 per channel",
            "activation_type": "int8", "ops": ["MatMul (constant weights)", "Gather (embeddings)"],
            "calibration_examples": sum(ids.shape[0] for ids, _ in calibration)}


INT4_BLOCK = 32


def quantize_int4(src: Path, dst: Path, calibration: Batches | None = None) -> dict:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                 MatMulNBitsQuantizer)

    config = DefaultWeightOnlyQuantConfig(block_size=INT4_BLOCK, is_symmetric=True, bits=4,
                                          op_types_to_quantize=("MatMul", "Gather"),
                                          quant_axes=(("MatMul", 0), ("Gather", 1)))
    quantizer = MatMulNBitsQuantizer(onnx.load(str(src)), algo_config=config)
    with _quiet_quantizer_logs():
        quantizer.process()
    quantizer.model.save_model_to_file(str(dst), use_external_data_format=False)
    return {"tool": "onnxruntime MatMulNBitsQuantizer (DEFAULT, symmetric)", "bits": 4, "block_size": INT4_BLOCK,
            "ops": ["MatMul -> MatMulNBits", "Gather -> GatherBlockQuantized"]}

"""Quantization modes: THE registry every stage reads (CLI choices, export, quantize, report, tests).

A mode belongs to one target. Whether it can serve a (target, framework) pair is decided here, with
the reason, before any work starts. ONNX modes rewrite a float model.onnx; TFLite modes are
converter settings, so they re-convert from the framework's reference (the float .tflite cannot be
re-quantized).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from prelnedge.errors import UserError
from prelnedge.tasks import Task, get_task
from prelnedge.verify import tolerances
from prelnedge.verify.tolerances import Tolerance


@dataclass(frozen=True)
class QuantMode:
    name: str
    target: str
    summary: str
    implementation: str  # "module:function"
    needs_calibration: bool = False
    # framework -> why this mode cannot be made from it
    refused_frameworks: dict[str, str] = field(default_factory=dict)
    # task -> why this mode cannot serve it ("" when it can)
    refuses_task: Callable[[Task], str] = lambda task: ""
    # integer TFLite models are calibrated without padding: they are called one unpadded example at a time
    unpadded_only: bool = False
    # ONNX modes: the transformers.js dtype whose file name a web bundle gives the model (q8 ->
    # onnx/model_quantized.onnx, ...); transformers.js picks the file by dtype
    transformers_js_dtype: str = ""
    # what the mode costs in speed on CPU where that is its known price, with the measurement behind it;
    # `prelnedge report` prints it under its table (docs/modes.md shows it too)
    cpu_cost: str = ""

    @property
    def tolerance(self) -> Tolerance:
        """The rule its validation is judged by (SQNR and agreement floors, with their reasons)."""
        return tolerances.MODE_TOLERANCES[(self.target, self.name)]


# Full-integer TFLite keeps the attention mask as an additive bias of float32's lowest value; a
# calibrated range holding it would leave no resolution for the real scores, so calibration sees
# no padding and these models take one unpadded example per call.
def _integer_tflite_refusal(task: Task) -> str:
    if task.causal:
        return ("the causal mask adds float32's lowest value inside every example, so the calibrated "
                "attention-score range cannot resolve real scores; use int8-dynamic or fp16")
    if task.per_choice:
        return ("choices are padded to a common length, and integer models are calibrated "
                "for unpadded inputs only; use int8-dynamic or fp16")
    return ""


_FLAX_HAS_NO_INT8 = {"flax": "jax2tf lowers LayerNorm means and the softmax to DIV ops, which have no int8 kernel "
                             "in LiteRT; export --framework tf instead"}


def _int16x8_refusal(task: Task) -> str:
    refusal = _integer_tflite_refusal(task)
    if not refusal and task.head_kind == "lm":
        refusal = ("the LM decoder shares the word-embedding table, and TFLite's 16x8 quantizer fails on a "
                   "table used by both a gather and a matmul ('Mismatch between number of weight maxs and "
                   "channels'); use int8-static, int8-dynamic or fp16")
    return refusal


# Where every cpu_cost figure below was measured, as prelnedge.timing.cpu_id() spells a CPU: `prelnedge
# report` compares it with the CPU its own latency column ran on and says so beside the figure when they
# differ (a KVM guest of 2 logical CPUs, AVX-512 VNNI and AMX-INT8 in /proc/cpuinfo; session 5's machine).
# A figure measured on another CPU needs its own constant.
CPU_COST_MEASURED_ON = "Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 207)"
_COST_SITE = ("measured 2026-11-26 on an Intel Xeon, family 6 model 207, 2 logical CPUs, AVX-512 VNNI and "
              "AMX-INT8, LiteRT 2.3 with 2 threads")

# From benchmarks/LATENCY.md's hidden-256 grid (benchmarks/latency.py --size 256 --rounds 7, 2026-11-26
# 21:08 UTC, artifacts of 263015a; CPU ms per b1 call, int8-full / int8-static: 15.3 / 4.7 at length 128,
# 120.6 / 16.8 at 384). The single-op figures are that file's "TFLite int8-full" section
# (benchmarks/probes/litert_attention_ops.py, 20:57 UTC), the same machine.
INT8_FULL_CPU_COST = (
    "3.3x the CPU time of int8-static per call at hidden 256, batch 1, length 128, and 7.2x at length 384 "
    f"({_COST_SITE}): XNNPACK has no int8 kernel for the "
    "attention products or softmax and refuses some of the int8 adds, so they run on TFLite's builtin int8 "
    "kernels, at length 384 12-19x (q.k, p.v) and 6x (softmax) the time of XNNPACK's float ones. It is for "
    "integer-only hardware, not CPUs")
# The same grid: tflite int16x8 against tflite fp32 at length 32, batch 1: wall 102.8 / 2.6 ms, CPU 100.1 / 4.9 ms.
INT16X8_CPU_COST = (
    f"40x the wall time (20x the CPU time) of TFLite fp32 per call at hidden 256, batch 1, length 32 ({_COST_SITE}): "
    "LiteRT runs none of its ops in XNNPACK, every one on TFLite's builtin int16 kernels, most of them "
    "reference implementations")

MODES: tuple[QuantMode, ...] = (
    QuantMode("fp16", "onnx", "float16 weights, cast to float32 at load; compute stays fp32 on CPU/wasm",
              "prelnedge.quantize.onnx:quantize_fp16", transformers_js_dtype="fp16"),
    QuantMode("int8-dynamic", "onnx",
              "ONNX Runtime dynamic quantization: int8 weights of every MatMul and the embedding tables, "
              "activations quantized per call", "prelnedge.quantize.onnx:quantize_int8_dynamic", transformers_js_dtype="q8"),  # what optimum's dynamic int8 is called there
    QuantMode("int8-static", "onnx",
              "ONNX Runtime static quantization: int8 weights (per channel) and uint8 activations with calibrated "
              "ranges in every linear layer (one integer MatMulIntegerToFloat each, bias included) and embedding "
              "Gather; attention products, softmax and LayerNorm in float", "prelnedge.quantize.onnx:quantize_int8_static",
              needs_calibration=True, transformers_js_dtype="int8"),
    QuantMode("int4", "onnx",
              "4-bit block-wise weight-only (MatMulNBits for linear layers, GatherBlockQuantized for the "
              "embedding tables, block 32, accuracy_level 4 = int8 compute); for size, not speed on x86: ONNX "
              "Runtime 1.32's 4-bit kernel is built for one row at a time, so a 128-token call runs near fp32 "
              "speed, several times int8-dynamic (benchmarks/LATENCY.md)", "prelnedge.quantize.onnx:quantize_int4",
              transformers_js_dtype="q4"),  # transformers.js's q4 is MatMulNBits block-wise 4-bit
    QuantMode("fp16", "tflite", "TFLite float16 weights (dequantized to fp32 on CPU; GPU delegates run fp16)",
              "prelnedge.quantize.tflite:convert_fp16"),
    QuantMode("int8-dynamic", "tflite", "TFLite dynamic range: int8 weights, float activations",
              "prelnedge.quantize.tflite:convert_int8_dynamic"),
    QuantMode("int8-static", "tflite",
              "TFLite static int8: int8 weights and activations in every linear layer, GELU and LayerNorm's "
              "mean/mul/rsqrt; attention products, softmax and every ADD in float32 (XNNPACK has no fast int8 kernel for "
              "them); int32 token ids in, float outputs; ranges from a representative dataset",
              "prelnedge.quantize.tflite:convert_int8_static",
              needs_calibration=True, refuses_task=_integer_tflite_refusal,
              unpadded_only=True, refused_frameworks=_FLAX_HAS_NO_INT8),
    QuantMode("int8-full", "tflite",
              "TFLite full integer, for integer-only hardware (NPUs, Edge TPU, microcontrollers): every op int8, "
              "attention products, softmax, adds, LayerNorm and GELU included (TFLITE_BUILTINS_INT8 only); the "
              "only float is the interface: the int32 mask cast and quantized once at the input, the outputs "
              "dequantized; int32 token ids in; ranges from a representative dataset. Slow on CPU: use "
              "int8-static or int8-dynamic there", "prelnedge.quantize.tflite:convert_int8_full",
              needs_calibration=True, refuses_task=_integer_tflite_refusal,
              cpu_cost=INT8_FULL_CPU_COST,
              unpadded_only=True, refused_frameworks=_FLAX_HAS_NO_INT8),
    QuantMode("int16x8", "tflite",
              "TFLite 16x8: int16 activations, int8 weights, ranges from a representative dataset",
              "prelnedge.quantize.tflite:convert_int16x8", needs_calibration=True,
              refuses_task=_int16x8_refusal, unpadded_only=True, refused_frameworks={"flax": "jax2tf's DIV lowering of LayerNorm and softmax has no 16x8 "
                                          "kernel; export --framework tf instead"},
              cpu_cost=INT16X8_CPU_COST),
)


def mode_names(target: str | None = None) -> list[str]:
    names = [m.name for m in MODES if target is None or m.target == target]
    return list(dict.fromkeys(names))


def get_mode(target: str, name: str) -> QuantMode:
    for mode in MODES:
        if mode.target == target and mode.name == name:
            return mode
    raise UserError(f"unknown quantization mode {name!r} for target {target}; "
                    f"allowed: {', '.join(mode_names(target))}")


def check_calibration_used(calibration: Path | None, modes) -> None:
    """Refuse a calibration file that no chosen mode would read (it would be ignored silently)."""
    if calibration is not None and not any(mode.needs_calibration for mode in modes):
        calibrated = ", ".join(dict.fromkeys(m.name for m in MODES if m.needs_calibration))
        chosen = ", ".join(dict.fromkeys(m.name for m in modes)) or "none"
        raise UserError(f"--calibration is read only by the calibrated modes ({calibrated}); mode {chosen} "
                        "does not calibrate: leave --calibration out")


def check_mode(target: str, framework: str, name: str, task: str | None = None) -> QuantMode:
    """The mode, or a UserError naming why it cannot serve this target, framework and task (a
    registered task name or alias)."""
    mode = get_mode(target, name)
    if framework in mode.refused_frameworks:
        raise UserError(f"mode {name} cannot be made for {target} from {framework}: "
                        f"{mode.refused_frameworks[framework]}")
    refusal = mode.refuses_task(get_task(task)) if task is not None else ""
    if refusal:
        raise UserError(f"mode {name} cannot serve task {task} on {target}: {refusal}")
    return mode

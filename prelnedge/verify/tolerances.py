"""The one tolerance table. Each entry says why its number is what it is.

Float artifacts are bound on peak-relative error: max|actual - expected| / max|expected|, where the
peak max|expected| is taken over the whole validation set of that output (every batch and length),
not over one tensor: a one-element output's own peak may sit near zero and says nothing of the
output's scale (see compare.judge_over_set). One golden example is judged against its own peak.
Quantized artifacts are judged by SQNR and by whether they give the float model's answers; each
quantization mode in prelnedge.quantize.MODES carries its entry from here.
Never loosen one to quiet a failing test: find the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prelnedge.errors import UserError


@dataclass(frozen=True)
class Tolerance:
    name: str  # recorded in validation.json, manifests and bundles
    reason: str
    peak_rel: float = float("inf")  # float artifacts: bound on peak-relative error; quantized ones: not used
    min_sqnr_db: float = float("-inf")  # quantized: every output's SQNR over the evaluation set
    min_agreement: float = 0.0  # quantized: every task-agreement measure (argmax, span, top-k)
    # float: the peak-relative bound a device runtime's golden self-test applies (see device_reason)
    device_peak_rel: float = float("inf")
    device_reason: str = ""

    @property
    def quantized(self) -> bool:
        return self.min_sqnr_db > float("-inf")

    def record(self) -> dict[str, Any]:
        """What validation.json and the manifest record of the rule an artifact passed."""
        if self.quantized:
            return {"name": self.name, "min_sqnr_db": self.min_sqnr_db, "min_agreement": self.min_agreement,
                    "reason": self.reason}
        return {"name": self.name, "peak_rel": self.peak_rel, "reason": self.reason}


FP32_REFERENCE = Tolerance(
    "fp32-reference",
    "two fp32 implementations of the same graph differ only in summation order (matmul "
    "blocking, LayerNorm/softmax reductions); measured ~5e-7 on 3-layer test models, so 1e-5 "
    "leaves room for deeper models without hiding a wrong LayerNorm or mask (those give >1e-2)",
    peak_rel=1e-5)
FP32_EXPORT = Tolerance(
    "fp32-export",
    "an fp32 artifact runs the reference's graph with another runtime's kernels (ONNX Runtime, "
    "LiteRT/XNNPACK); only summation order differs, as for fp32-reference",
    peak_rel=1e-5, device_peak_rel=1e-4,
    device_reason="ten times the export's own bound, because ARM NEON and WebAssembly SIMD kernels add in "
    "other orders than the x86 ones the export was validated with, and golden values are rounded to "
    "1e-6 (measured in Chromium on the default model: ~1e-6 absolute on logits peaking near 10). It is "
    "the bound the Android self-test already used; for outputs peaking above 1 it is looser than the "
    "web page's former 1e-4 absolute bound, and no ARM device has been measured yet to justify more "
    "than the export's 1e-5: tighten it once one has")
# golden.json stores values rounded to 6 decimals: a golden replay cannot resolve finer than this
GOLDEN_RESOLUTION = 1e-5
# Scores and probabilities in golden.json's "decoded" answers against a device's (float32 runtime,
# float64 or float32 softmax on the device): within this much, and candidates closer than it may
# swap places.
DECODED_SCORE_TOL = 1e-4

# Quantized artifacts. The floors catch a broken mode (a wrong scale, an unquantized range, a mask
# lost), not the normal cost of fewer bits; that cost is what `prelnedge report` measures and gates.
FP16 = Tolerance(
    "fp16",
    "fp16 rounds each weight to 11 significant bits (~3.3 decimal digits): ~60-75 dB measured on "
    "random test models; below 40 dB something other than weight rounding is wrong",
    min_sqnr_db=40.0, min_agreement=0.95)
INT8_DYNAMIC = Tolerance(
    "int8-dynamic",
    "int8 weights and per-call int8 activations: 25-45 dB measured on random test models (each "
    "int8 step adds ~6 dB of error budget per layer stack); under 15 dB the answers stop matching",
    min_sqnr_db=15.0, min_agreement=0.6)
INT8_STATIC = Tolerance(
    "int8-static",
    "int8 weights and activations with calibrated fixed ranges: inputs outside the calibrated "
    "range clip, so it sits a few dB under dynamic; 10 dB is the floor of a working model",
    min_sqnr_db=10.0, min_agreement=0.5)
INT8_FULL = Tolerance(
    "int8-full",
    "every op int8, the softmax's probabilities and the residual stream included, with calibrated fixed "
    "ranges: measured 0-3 dB under int8-static (trained default models, QA: 29.7-30.3 dB, start/end "
    "agreement 0.70-0.95 over 20 held-out questions, held-out EM 0.790 against float's 0.807; sentiment 18.2 "
    "dB, agreement 1.0; random hidden-256 QA model 24.6-26.2 dB, agreement 0.90), so int8-static's 10 dB and "
    "0.5 agreement floors leave the same margin: under them "
    "the model is broken (a wrong scale, a lost range), not merely 8-bit",
    min_sqnr_db=10.0, min_agreement=0.5)
INT4 = Tolerance(
    "int4",
    "4-bit weights in blocks of 32 (16 levels per block): 12-20 dB measured on random test "
    "models; under 8 dB the model is no longer the float model",
    min_sqnr_db=8.0, min_agreement=0.4)
INT16X8 = Tolerance(
    "int16x8",
    "int16 activations with int8 weights: weight rounding dominates, as for int8-dynamic",
    min_sqnr_db=15.0, min_agreement=0.6)

# Float rules by name, for callers that name one (tests); a quantized
# artifact's rule is its mode's (MODE_TOLERANCES below).
FLOAT_TOLERANCES = {t.name: t for t in (FP32_REFERENCE, FP32_EXPORT)}


def tolerance(name: str) -> Tolerance:
    """A float rule by name (fp32-reference, fp32-export)."""
    try:
        return FLOAT_TOLERANCES[name]
    except KeyError:
        raise UserError(f"unknown float tolerance {name!r}; known: {', '.join(FLOAT_TOLERANCES)} (a quantized "
                        "artifact is judged by its mode's tolerance)") from None


# Each quantization mode's rule, by (target, mode). The mode registry (prelnedge.quantize.MODES) takes its
# tolerance from here, and verify judges a quantized folder by it, so verify never asks the registry.
MODE_TOLERANCES: dict[tuple[str, str], Tolerance] = {
    ("onnx", "fp16"): FP16, ("onnx", "int8-dynamic"): INT8_DYNAMIC, ("onnx", "int8-static"): INT8_STATIC,
    ("onnx", "int4"): INT4,
    ("tflite", "fp16"): FP16, ("tflite", "int8-dynamic"): INT8_DYNAMIC, ("tflite", "int8-static"): INT8_STATIC,
    ("tflite", "int8-full"): INT8_FULL, ("tflite", "int16x8"): INT16X8,
}


"""The one tolerance table. Each entry says why its number is what it is.

A tolerance is a bound on peak-relative error: max|actual - expected| / max|expected|, where the
peak max|expected| is taken over the whole validation set of that output (every batch and length),
not over one tensor: a one-element output's own peak may sit near zero and says nothing of the
output's scale (see compare.judge_over_set). One golden example is judged against its own peak.
Never loosen one to quiet a failing test: find the cause.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    peak_rel: float  # float artifacts: bound on peak-relative error; quantized ones: not used (inf)
    reason: str
    min_sqnr_db: float = float("-inf")  # quantized: every output's SQNR over the evaluation set
    min_agreement: float = 0.0  # quantized: every task-agreement measure (argmax, span, top-k)


TOLERANCES: dict[str, Tolerance] = {
    "fp32-reference": Tolerance(
        1e-5,
        "two fp32 implementations of the same graph differ only in summation order (matmul "
        "blocking, LayerNorm/softmax reductions); measured ~5e-7 on 3-layer test models, so 1e-5 "
        "leaves room for deeper models without hiding a wrong LayerNorm or mask (those give >1e-2)"),
    "fp32-export": Tolerance(
        1e-5,
        "an fp32 artifact runs the reference's graph with another runtime's kernels (ONNX Runtime, "
        "LiteRT/XNNPACK); only summation order differs, as for fp32-reference"),
    # Quantized artifacts are judged by SQNR and by whether they give the float model's answers.
    # The floors catch a broken mode (a wrong scale, an unquantized range, a mask lost), not the
    # normal cost of fewer bits; that cost is what `prelnedge report` measures and gates over time.
    "fp16": Tolerance(
        float("inf"),
        "fp16 rounds each weight to 11 significant bits (~3.3 decimal digits): ~60-75 dB measured on "
        "random test models; below 40 dB something other than weight rounding is wrong",
        min_sqnr_db=40.0, min_agreement=0.95),
    "int8-dynamic": Tolerance(
        float("inf"),
        "int8 weights and per-call int8 activations: 25-45 dB measured on random test models (each "
        "int8 step adds ~6 dB of error budget per layer stack); under 15 dB the answers stop matching",
        min_sqnr_db=15.0, min_agreement=0.6),
    "int8-static": Tolerance(
        float("inf"),
        "int8 weights and activations with calibrated fixed ranges: inputs outside the calibrated "
        "range clip, so it sits a few dB under dynamic; 10 dB is the floor of a working model",
        min_sqnr_db=10.0, min_agreement=0.5),
    "int4": Tolerance(
        float("inf"),
        "4-bit weights in blocks of 32 (16 levels per block): 12-20 dB measured on random test "
        "models; under 8 dB the model is no longer the float model",
        min_sqnr_db=8.0, min_agreement=0.4),
    "int16x8": Tolerance(
        float("inf"),
        "int16 activations with int8 weights: weight rounding dominates, as for int8-dynamic",
        min_sqnr_db=15.0, min_agreement=0.6),
}


def tolerance(name: str) -> Tolerance:
    return TOLERANCES[name]

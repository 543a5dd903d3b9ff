"""The one tolerance table. Each entry says why its number is what it is.

A tolerance is a bound on peak-relative error: max|actual - expected| / max|expected|.
Never loosen one to quiet a failing test: find the cause.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    peak_rel: float
    reason: str


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
}


def tolerance(name: str) -> Tolerance:
    return TOLERANCES[name]

"""Which rule an artifact is held to, decided in one place from its manifest.

golden.json holds the FLOAT reference's outputs. A float artifact must reproduce them within the
fp32-export peak-relative bound; a quantized one must keep every output's SQNR against them above
its mode's floor (prelnedge.quantize.MODES carries each mode's tolerance). The Python golden replay
(`prelnedge validate`, the Android bundle's model.ort check) applies `golden_rule`; device runtimes
(the browser page, the Android app) read `device_rule` from the bundle and apply the same kind of rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from prelnedge.errors import ValidationError
from prelnedge.verify.compare import ErrorStats, compare_outputs, measure_outputs
from prelnedge.verify.tolerances import DECODED_SCORE_TOL, FP32_EXPORT, GOLDEN_RESOLUTION, MODE_TOLERANCES, Tolerance


def artifact_tolerance(manifest: dict) -> Tolerance:
    """The tolerance an exported or quantized folder passed: fp32-export, or its mode's."""
    quant = manifest.get("quantization")
    if not quant:
        return FP32_EXPORT
    return MODE_TOLERANCES[(manifest["target"], quant["mode"])]


@dataclass(frozen=True)
class GoldenRule:
    """How one artifact's outputs are held to golden.json's float outputs."""
    tolerance: Tolerance

    @property
    def quantized(self) -> bool:
        return self.tolerance.quantized

    @property
    def peak_rel(self) -> float:
        # golden values are rounded to 6 decimals: compare at that resolution at most
        return max(self.tolerance.peak_rel, GOLDEN_RESOLUTION)

    @property
    def statistic(self) -> str:
        """The ErrorStats field the rule bounds (what a replay reports as the worst)."""
        return "sqnr_db" if self.quantized else "peak_rel"

    def worse(self, a: float, b: float) -> float:
        return min(a, b) if self.quantized else max(a, b)

    def describe(self) -> str:
        return f"SQNR >= {self.tolerance.min_sqnr_db:g} dB" if self.quantized else f"peak_rel <= {self.peak_rel:g}"

    def check(self, actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], label: str) -> dict[str, ErrorStats]:
        """Names, shapes, dtypes and finiteness first, then the bound; ValidationError naming the output."""
        if not self.quantized:
            return compare_outputs(actual, expected, self.peak_rel, label=label)
        stats = measure_outputs(actual, expected, label=label)
        floor = self.tolerance.min_sqnr_db
        for name, s in stats.items():
            if not s.sqnr_db >= floor:
                raise ValidationError(f"{label}: {name} SQNR {s.sqnr_db:.1f} dB is under the floor {floor:g} dB")
        return stats


def golden_rule(manifest: dict) -> GoldenRule:
    return GoldenRule(artifact_tolerance(manifest))


def device_rule(manifest: dict) -> dict[str, Any]:
    """The rule a device runtime (the web page, the Android app) holds a bundle's model to in its
    golden self-test; bundles carry it as manifest.json spec.rule.

    Float export: {"peak_rel", "tolerance", "decoded": "exact", "score_tol"}: each output's error of
    each example against that output's largest |golden| across all golden examples (as
    compare.judge_over_set judges a set), within the tolerance's device bound, and the decoded answers
    equal to golden's. Quantized export: {"min_sqnr_db", "tolerance", "decoded": "reported",
    "score_tol"}: every output's SQNR against golden's float outputs above the mode's floor, as the
    Python golden replay demands; decoded agreement is counted and reported, not required (the
    mode's agreement floor is judged on the evaluation set at quantize time, not on 4-5 examples).
    `tolerance` names the row the bound comes from; score_tol also holds when a runtime decodes
    golden's own stored outputs (its post-processing against Python's, whatever the model)."""
    tol = artifact_tolerance(manifest)
    if not tol.quantized:
        assert tol.device_peak_rel >= tol.peak_rel
        return {"peak_rel": tol.device_peak_rel, "tolerance": tol.name, "decoded": "exact",
                "score_tol": DECODED_SCORE_TOL}
    return {"min_sqnr_db": tol.min_sqnr_db, "tolerance": tol.name, "decoded": "reported",
            "score_tol": DECODED_SCORE_TOL}

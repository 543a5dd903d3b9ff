"""A quantized artifact's fidelity (prelnedge.verify.fidelity.measure) against its mode's floors:
every output's SQNR over the evaluation set, and every task-agreement measure."""

from __future__ import annotations

from typing import Any

from prelnedge.errors import ValidationError
from prelnedge.verify.tolerances import Tolerance


def judge_fidelity(fidelity: dict, tol: Tolerance, label: str) -> dict[str, Any]:
    """Raise ValidationError naming the output or measure under its floor; return the thresholds
    (what validation.json and the manifest record)."""
    for name, stats in fidelity["outputs"].items():
        if not stats["sqnr_db"] >= tol.min_sqnr_db:
            raise ValidationError(f"{label}: {name} SQNR {stats['sqnr_db']:.1f} dB is under the {tol.name} "
                                  f"floor {tol.min_sqnr_db:g} dB (max_abs {stats['max_abs']:.3g}, "
                                  f"cosine {stats['cosine']:.5f})")
    for key, value in fidelity["agreement"].items():
        if not value >= tol.min_agreement:
            raise ValidationError(f"{label}: {key} {value:.3f} is under the {tol.name} floor {tol.min_agreement:g}")
    return tol.record()

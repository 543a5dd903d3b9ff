"""numpy-only comparison of model outputs with error statistics.

Checks go names, then shapes, then dtypes, then values, and a failure names the output
(`start_logits`, `hidden_states.3`) with its statistics. Hidden states are checked in layer order
first, so the error names the first layer that diverges.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from prelnedge.errors import ValidationError


@dataclass(frozen=True)
class ErrorStats:
    max_abs: float
    mean_abs: float
    peak_rel: float  # max_abs / max|expected|
    cosine: float
    sqnr_db: float  # 10 log10(signal power / error power); inf when identical

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def describe(self) -> str:
        return (f"max_abs={self.max_abs:.3g} mean_abs={self.mean_abs:.3g} peak_rel={self.peak_rel:.3g} "
                f"cosine={self.cosine:.6f} SQNR={self.sqnr_db:.1f} dB")


def error_stats(actual: np.ndarray, expected: np.ndarray) -> ErrorStats:
    a = np.asarray(actual, dtype=np.float64).ravel()
    e = np.asarray(expected, dtype=np.float64).ravel()
    diff = a - e
    peak = float(np.abs(e).max()) if e.size else 0.0
    max_abs = float(np.abs(diff).max()) if diff.size else 0.0
    norms = float(np.linalg.norm(a) * np.linalg.norm(e))
    noise = float(np.sum(diff**2))
    signal = float(np.sum(e**2))
    return ErrorStats(
        max_abs=max_abs,
        mean_abs=float(np.abs(diff).mean()) if diff.size else 0.0,
        peak_rel=max_abs / peak if peak > 0 else (0.0 if max_abs == 0 else float("inf")),
        cosine=float(a @ e / norms) if norms > 0 else float(np.array_equal(a, e)),
        sqnr_db=float("inf") if noise == 0 else 10 * np.log10(signal / noise) if signal > 0 else float("-inf"),
    )


def _check_order(name: str) -> tuple[int, int, str]:
    match = re.fullmatch(r"hidden_states\.(\d+)", name)
    return (0, int(match.group(1)), name) if match else (1, 0, name)


def compare_outputs(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                    peak_rel_tol: float, label: str = "outputs") -> dict[str, ErrorStats]:
    """Statistics per output; raises ValidationError at the first output out of tolerance."""
    if set(actual) != set(expected):
        raise ValidationError(f"{label}: output names differ: missing {sorted(set(expected) - set(actual))}, "
                              f"unexpected {sorted(set(actual) - set(expected))}")
    stats: dict[str, ErrorStats] = {}
    for name in sorted(expected, key=_check_order):
        a, e = np.asarray(actual[name]), np.asarray(expected[name])
        if a.shape != e.shape:
            raise ValidationError(f"{label}: {name} has shape {a.shape}, expected {e.shape}")
        if a.dtype.kind != e.dtype.kind:
            raise ValidationError(f"{label}: {name} has dtype {a.dtype}, expected {e.dtype}")
        if not np.isfinite(a).all():
            raise ValidationError(f"{label}: {name} holds NaN or inf")
        stats[name] = error_stats(a, e)
        if not stats[name].peak_rel <= peak_rel_tol:
            raise ValidationError(f"{label}: {name} differs beyond peak_rel {peak_rel_tol:g}: {stats[name].describe()}")
    return stats

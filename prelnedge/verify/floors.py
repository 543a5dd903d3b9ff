"""A quantized artifact's fidelity (prelnedge.verify.fidelity.measure) against its mode's floors:
every output's SQNR over the evaluation set, and every task-agreement measure.

`validate_quantized_artifact` is the one entry that measures and judges: the quantize stage calls it
on the model it just wrote, and `prelnedge validate` on a quantized folder, so both hold the same
examples to the same floors.
"""

from __future__ import annotations

from typing import Any

from prelnedge.errors import ValidationError
from prelnedge.verify.tolerances import Tolerance


def validate_quantized_artifact(run_artifact, reference, task, config, tok, tolerance: Tolerance, label: str,
                                max_tokens: int) -> dict[str, Any]:
    """Measure `run_artifact` against `reference` (the checkpoint's float reference,
    models.build_forward) on the held-out evaluation examples and judge it by `tolerance`: raise
    ValidationError naming the output or measure under its floor. The held-out examples are the
    default examples' odd lines (the quantize stage calibrates on the even ones), or without a
    tokenizer the validation ids row by row. Returns {"passed", "tolerance", "fidelity"} (what
    validation.json records)."""
    from prelnedge.examples import default_examples
    from prelnedge.verify.fidelity import evaluation_batches, measure

    batches = evaluation_batches(task, tok, config, default_examples(task)[1::2])
    fidelity = measure(task, run_artifact, lambda i, m: reference(i, m, False), batches,
                       eos_id=config.eos_token_id, mask_id=tok.mask_id if tok else None, max_tokens=max_tokens)
    thresholds = judge_fidelity(fidelity, tolerance, label)
    return {"passed": True, "tolerance": thresholds, "fidelity": fidelity}


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

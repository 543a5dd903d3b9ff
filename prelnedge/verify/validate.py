"""Validation as a stage: an artifact is run against the float reference of its framework on
generated inputs (several batch sizes and lengths, right padding) and fails loudly."""

from __future__ import annotations

from typing import Callable

import numpy as np

from prelnedge.verify.compare import judge_over_set, measure_outputs
from prelnedge.config import PreLNConfig
from prelnedge.tasks import Task
from prelnedge.verify.tolerances import FP32_EXPORT, Tolerance

Forward = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]


def validation_batches(config: PreLNConfig, task: Task, seed: int = 0,
                       max_tokens: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(batch, lengths) cases: a single token, a short sequence, padded batches, and the model's
    maximum length (or max_tokens: a static-shape model's length) both in a padded batch and alone,
    so that positions up to the last are checked."""
    longest = max_tokens or config.max_tokens
    cases = [[1], [min(9, longest)], [longest, 2, max(3, longest // 3)], [5, 1], [longest]]
    rng = np.random.default_rng(seed)
    batches = []
    for lengths in cases:
        rows = len(lengths) * (3 if task.per_choice else 1)  # three choices per item
        width = max(lengths)
        ids = np.full((rows, width), config.pad_token_id, dtype=np.int64)
        for r in range(rows):
            n = max(1, lengths[r % len(lengths)] - (r // len(lengths)))
            body = rng.integers(4, config.vocab_size - 1, size=n)  # skip specials and <mask>
            body[0] = config.bos_token_id
            if n > 1:
                body[-1] = config.eos_token_id
            ids[r, :n] = body
        mask = (ids != config.pad_token_id).astype(np.int64)
        if task.per_choice:
            ids, mask = ids.reshape(len(lengths), 3, width), mask.reshape(len(lengths), 3, width)
        batches.append((ids, mask))
    return batches


def validate(run_artifact: Forward, run_reference: Forward, config: PreLNConfig, task: Task,
             tol: Tolerance = FP32_EXPORT, max_tokens: int | None = None, label: str = "artifact vs reference") -> dict:
    """Compare on every case; raise ValidationError (naming output and statistics) on a miss.
    Each output is judged against its peak over all cases (see verify.compare.judge_over_set), so the
    structural checks fail at the first case and the value checks after the last.
    label: what is compared with what, in messages ("model.ort vs model.onnx" for the Android check).
    Returns the summary written to validation.json: worst statistics per output."""
    limit = tol.peak_rel
    measured = []
    for ids, mask in validation_batches(config, task, max_tokens=max_tokens):
        case = f"{label} (inputs {'x'.join(map(str, ids.shape))})"
        measured.append((case, list(ids.shape), measure_outputs(run_artifact(ids, mask), run_reference(ids, mask), case)))
    judged = judge_over_set([(case, stats) for case, _, stats in measured], limit)
    worst: dict[str, dict[str, float]] = {}
    cases = []
    for (_, shape, _), stats in zip(measured, judged):
        cases.append({"input_shape": shape, "outputs": {k: v.as_dict() for k, v in stats.items()}})
        for name, s in stats.items():
            w = worst.setdefault(name, {"max_abs": 0.0, "peak_rel": 0.0, "mean_abs": 0.0,
                                        "cosine": 1.0, "sqnr_db": float("inf")})
            w["max_abs"] = max(w["max_abs"], s.max_abs)
            w["peak_rel"] = max(w["peak_rel"], s.peak_rel)
            w["mean_abs"] = max(w["mean_abs"], s.mean_abs)
            w["cosine"] = min(w["cosine"], s.cosine)
            w["sqnr_db"] = min(w["sqnr_db"], s.sqnr_db)
    return {"passed": True, "tolerance": tol.record(), "worst": worst, "cases": cases}

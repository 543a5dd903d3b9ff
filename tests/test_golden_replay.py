"""The one golden-replay loop and the rules it applies, on golden dicts written here by the real
golden writer (no model is exported: the replay is a pure function of golden.json and the outputs)."""

from __future__ import annotations

import numpy as np
import pytest

from prelnedge.errors import ValidationError
from prelnedge.quantize import MODES, get_mode
from prelnedge.tasks import TASKS
from prelnedge.verify.golden import FULL_LIMIT, build_golden_from_ids
from prelnedge.verify.replay import replay_golden
from prelnedge.verify.rules import GoldenRule, device_rule, golden_rule
from prelnedge.verify.tolerances import DECODED_SCORE_TOL, FP32_EXPORT

TASK = TASKS["masked-lm"]  # logits (B, L, V): big enough to be stored as argmax + slice
VOCAB = 7001
FLOAT = golden_rule({"target": "onnx"})
INT8 = golden_rule({"target": "onnx", "quantization": {"mode": "int8-dynamic"}})


def forward(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """Deterministic logits whose maximum lies past the stored 64-wide slice."""
    rng = np.random.default_rng(int(ids.sum()))
    logits = rng.normal(size=(*ids.shape, VOCAB)).astype(np.float32)
    logits[..., 100] += 10.0
    return {"logits": logits}


@pytest.fixture(scope="module")
def golden() -> dict:
    ids = np.array([[0, 5, 6, 7, 8, 2, 1, 1], [0, 9, 10, 11, 12, 13, 14, 2]], np.int64)
    data = build_golden_from_ids(TASK, [(ids, (ids != 1).astype(np.int64))], forward)
    stored = data["examples"][0]["expected"]["logits"]
    assert ids.size * VOCAB > FULL_LIMIT and "argmax" in stored and "values" not in stored  # the case tested
    return data


def changed(edit):
    def run(ids, mask):
        out = forward(ids, mask)
        edit(out["logits"])
        return out
    return run


def test_the_writers_model_passes_and_padding_is_ignored(golden):
    # padded positions of the model's own outputs are not zero; the replay zeroes them as golden did
    worst = replay_golden(golden, TASK, forward, FLOAT)
    assert worst["logits.peak_rel"] <= FLOAT.peak_rel


def test_a_float_model_is_held_to_the_argmax_past_the_slice(golden):
    def swap_top(logits):
        logits[0, 1, 200] = logits[0, 1, 100] + 1.0  # a new winner outside the stored slice
    with pytest.raises(ValidationError, match="golden example 0: logits's argmax differs from golden"):
        replay_golden(golden, TASK, changed(swap_top), FLOAT)
    # a quantized model may flip a near-tie: its slice is held to the SQNR floor instead
    assert replay_golden(golden, TASK, changed(swap_top), INT8)["logits.sqnr_db"] > 100  # rounding only


def test_a_quantized_model_is_held_to_its_sqnr_floor(golden):
    def noise(logits):
        logits += np.random.default_rng(0).normal(scale=1.0, size=logits.shape).astype(np.float32)
    with pytest.raises(ValidationError, match=r"logits SQNR -?\d+\.\d dB is under the floor 15 dB"):
        replay_golden(golden, TASK, changed(noise), INT8)


@pytest.mark.parametrize("run, message", [
    (lambda ids, mask: {"start_logits": forward(ids, mask)["logits"]}, "the model gives no logits"),
    (lambda ids, mask: {"logits": forward(ids, mask)["logits"][..., :-1]}, r"logits has shape \[2, 8, 7000\]"),
    (changed(lambda logits: logits.__setitem__((0, 2, 500), np.nan)), "logits holds NaN or inf"),  # past the slice
], ids=["missing", "shape", "nan"])
def test_structure_is_checked_before_values(golden, run, message):
    for rule in (FLOAT, INT8):
        with pytest.raises(ValidationError, match=message):
            replay_golden(golden, TASK, run, rule, label="model.ort on golden example")


def test_every_mode_carries_its_own_tolerance_and_the_device_rule_follows_it():
    for mode in MODES:
        assert mode.tolerance.quantized and mode.tolerance.reason, mode.name
        manifest = {"target": mode.target, "quantization": {"mode": mode.name}}
        assert device_rule(manifest) == {"min_sqnr_db": mode.tolerance.min_sqnr_db, "tolerance": mode.tolerance.name,
                                         "decoded": "reported", "score_tol": DECODED_SCORE_TOL}
        assert golden_rule(manifest) == GoldenRule(get_mode(mode.target, mode.name).tolerance)
    assert device_rule({"target": "tflite"}) == {"peak_rel": FP32_EXPORT.device_peak_rel, "tolerance": "fp32-export",
                                                 "decoded": "exact", "score_tol": DECODED_SCORE_TOL}
    assert golden_rule({"target": "tflite"}).tolerance is FP32_EXPORT

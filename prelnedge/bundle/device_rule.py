"""The rule a device runtime holds a bundle's model to in its golden self-test, written into the
bundle so that the browser page and the Android app judge exactly as the Python golden replay does.

Float models: each output's peak-relative error against golden, max|actual - golden| of each
example over that output's largest |golden| across all golden examples (as
prelnedge.verify.compare.judge_over_set judges a set: two near-zero logits of one example do not
show the output's scale), and the decoded answers equal to golden's. Peak-relative, not an absolute
bound, because every float check in prelnedge.verify is peak-relative and outputs differ in scale
(LM logits near 40, pooled features within 1): one absolute number cannot mean the same for both. Quantized models: golden.json holds
the FLOAT model's outputs, so each output's SQNR against them must clear the mode's floor in the
tolerance table (prelnedge.verify.tolerances), which is what the quantize stage's golden check
demands; decoded agreement is counted and reported, not required, as in the Python golden replay
(the mode's agreement floor is judged on the evaluation set at quantize time, not on 4-5 examples).
"""

from __future__ import annotations

# Float bundles on a device: ten times the export's own bound (fp32-export, 1e-5 peak-relative on
# x86), because ARM NEON and WebAssembly SIMD kernels add in other orders than the x86 ones the
# export was validated with, and golden values are rounded to 1e-6 (measured in Chromium on the
# default model: ~1e-6 absolute on logits peaking near 10).
DEVICE_FLOAT_PEAK_REL = 1e-4
# Scores and probabilities in golden "decoded" against a device's (float32 runtime, float64 or
# float32 softmax on the device): within this much, and candidates closer than it may swap places.
DECODED_SCORE_TOL = 1e-4


def device_rule(manifest: dict) -> dict:
    """Float export: {"peak_rel", "tolerance", "decoded": "exact", "score_tol"}. Quantized export:
    {"min_sqnr_db", "tolerance", "decoded": "reported", "score_tol"}. `tolerance` names the
    tolerance-table row the bound comes from; score_tol also holds when a runtime decodes golden's
    own stored outputs (its post-processing against Python's, whatever the model)."""
    from prelnedge.verify.tolerances import tolerance

    quant = manifest.get("quantization")
    if not quant:
        assert DEVICE_FLOAT_PEAK_REL >= tolerance("fp32-export").peak_rel
        return {"peak_rel": DEVICE_FLOAT_PEAK_REL, "tolerance": "fp32-export", "decoded": "exact",
                "score_tol": DECODED_SCORE_TOL}
    from prelnedge.quantize import get_mode

    entry = get_mode(manifest["target"], quant["mode"]).tolerance
    return {"min_sqnr_db": tolerance(entry).min_sqnr_db, "tolerance": entry, "decoded": "reported",
            "score_tol": DECODED_SCORE_TOL}

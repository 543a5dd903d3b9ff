"""The rule a device runtime holds a bundle's model to in its golden self-test, written into the
bundle so that the browser page and the Android app judge exactly as the Python golden replay does.

Float models: golden outputs within an error bound. Quantized models: golden.json holds the FLOAT
model's outputs, so each output's SQNR against them must clear the mode's floor in the tolerance
table (prelnedge.verify.tolerances), which is what the quantize stage's golden check demands.
"""

from __future__ import annotations

# Float bundles on a device: its fp32 kernels against the fp32 reference differ by summation order
# only (~1e-6 measured on the default model); golden values are rounded to 1e-6.
FLOAT_MAX_ABS_ERR = 1e-4


def device_rule(manifest: dict) -> dict:
    """{"max_abs_err": ...} for a float export; {"min_sqnr_db": floor, "tolerance": entry} for a
    quantized one (entry names the tolerance-table row the floor comes from)."""
    quant = manifest.get("quantization")
    if not quant:
        return {"max_abs_err": FLOAT_MAX_ABS_ERR}
    from prelnedge.quantize import get_mode
    from prelnedge.verify.tolerances import tolerance

    entry = get_mode(manifest["target"], quant["mode"]).tolerance
    return {"min_sqnr_db": tolerance(entry).min_sqnr_db, "tolerance": entry}

"""A float32 export that misses its tolerance because float32 itself cannot compute the checkpoint
says so (prelnedge.verify.precision), and one of a well-conditioned checkpoint is not blamed on
float32."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from prelnedge.checkpoint.load import load_checkpoint
from prelnedge.cli import EXIT_VALIDATION_FAILED, main
from prelnedge.models import build_forward
from prelnedge.tasks import get_task
from prelnedge.verify.precision import float32_limit
from prelnedge.verify.tolerances import FP32_EXPORT
from prelnedge.verify.validate import validation_batches
from tests.conftest import config_for
from tests.hf_factory import hf_model

QA = get_task("qa")


def scaled_hf_model(gain: float):
    """The test QA model (transformers' class) with every encoder and head matrix multiplied by `gain`:
    at 6 the residual stream and attention scores grow until float32 is ~8e-5 peak-relative from float64."""
    model = hf_model(config_for("qa"), QA, seed=7)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim == 2 and "embeddings" not in name:
                param.mul_(gain)
    return model


def qa_checkpoint(folder: Path, gain: float) -> Path:
    scaled_hf_model(gain).save_pretrained(folder)
    return folder


def test_well_conditioned_checkpoint_is_not_blamed_on_float32(tmp_path):
    checkpoint = load_checkpoint(qa_checkpoint(tmp_path / "ckpt", gain=1.0), QA)
    reference = build_forward("torch", checkpoint)
    run = lambda i, m: reference(i, m, False)  # noqa: E731

    def broken(i, m):  # an export error: end_logits off by 1 % of their scale
        out = run(i, m)
        return {**out, "end_logits": out["end_logits"] * 1.01}

    assert float32_limit(run, run, checkpoint, QA, FP32_EXPORT.peak_rel) is None
    assert float32_limit(broken, run, checkpoint, QA, FP32_EXPORT.peak_rel) is None


def test_float32_limit_measures_the_reference_against_float64(tmp_path):
    checkpoint = load_checkpoint(qa_checkpoint(tmp_path / "ckpt", gain=6.0), QA)
    reference = build_forward("torch", checkpoint)
    run = lambda i, m: reference(i, m, False)  # noqa: E731
    limit = float32_limit(run, run, checkpoint, QA, FP32_EXPORT.peak_rel)
    assert limit is not None and limit.output in ("start_logits", "end_logits")
    assert limit.reference_peak_rel >= FP32_EXPORT.peak_rel  # beyond the whole budget, not merely half
    assert limit.artifact_peak_rel == limit.reference_peak_rel  # the "artifact" here is the reference
    # independent of prelnedge's models: transformers' own class, fp32 against float64 on the same inputs,
    # each output against its peak over the set, gives the same distance within a factor of two
    hf = scaled_hf_model(6.0)
    errors, peaks = [], []
    for ids, mask in validation_batches(checkpoint.config, QA):
        kwargs = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        with torch.no_grad():
            fp32 = getattr(hf.float()(**kwargs), limit.output).numpy()
            fp64 = getattr(hf.double()(**kwargs), limit.output).numpy()
        errors.append(np.abs(fp32 - fp64).max())
        peaks.append(np.abs(fp64).max())
    hf_peak_rel = max(errors) / max(peaks)
    assert limit.reference_peak_rel / 2 < hf_peak_rel < limit.reference_peak_rel * 2


def test_export_of_ill_conditioned_checkpoint_names_float32_as_the_cause(tmp_path, capsys):
    ckpt = qa_checkpoint(tmp_path / "ckpt", gain=6.0)
    capsys.readouterr()  # transformers' own "Writing model shards" bar
    out = tmp_path / "out"
    code = main(["export", "--model", str(ckpt), "--task", "qa", "--target", "onnx", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_VALIDATION_FAILED
    assert len(err.splitlines()) == 1, err
    assert err.startswith("prelnedge: validation failed: ")
    assert "cannot compute this model within 1e-05" in err and "not an export error" in err
    measured = re.search(r"float32 reference itself is peak_rel ([0-9.e+-]+) from a float64 run", err)
    assert measured and float(measured.group(1)) >= FP32_EXPORT.peak_rel / 2
    assert not out.exists()  # nothing left behind by the failed export

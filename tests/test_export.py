"""Exports for every task and path, run by their runtimes and compared with transformers' outputs
(never with the exporter's own reference alone), plus the stage's folder guarantees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import config_for
from registry_coverage import uncovered
from hf_factory import hf_outputs, random_batch
from prelnedge.errors import UserError, ValidationError
from prelnedge.export import EXPORTERS, ExportConfig, export
from prelnedge.hashing import sha256_file
from prelnedge.runtime.sessions import open_session
from prelnedge.tasks import TASKS
from prelnedge.verify.compare import compare_outputs
from prelnedge.verify.tolerances import tolerance

PATHS = sorted(EXPORTERS)  # (target, framework)
ROOT = Path(__file__).resolve().parents[1]


TASK_NAMES = list(TASKS)


@pytest.mark.parametrize("target,framework", PATHS, ids=["-".join(p) for p in PATHS])
@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_export_matches_transformers(exports, hf_checkpoints, task_name, target, framework):
    out = exports(task_name, target, framework)
    _, hf_model = hf_checkpoints[task_name]
    task = TASKS[task_name]
    manifest = json.loads((out / "manifest.json").read_text())
    session = open_session(out / manifest["model_file"])
    limit = tolerance("fp32-export").peak_rel
    rng = np.random.default_rng(42)
    for lengths in ([1], [4, 38, 11], [6, 2]):  # none of them is the traced shape
        ids, mask = random_batch(config_for(task_name), lengths, rng,
                                 choices=2 if task_name == "multiple-choice" else None)
        got, want = session.run(ids, mask), hf_outputs(hf_model, task, ids, mask)
        compare_outputs(got, {name: want[name] for name in task.output_names}, limit,
                        label=f"{target} from {framework} vs transformers (inputs {ids.shape})")


def test_every_registered_task_and_path_is_covered():
    """The parity test reaches every task in the registry and every exporter: narrowing its lists fails here
    (test_parity.py::test_coverage_check_can_fail shows the check failing)."""
    assert uncovered(test_export_matches_transformers, "task_name", TASKS) == []
    assert uncovered(test_export_matches_transformers, "target,framework", EXPORTERS) == []


@pytest.mark.parametrize("target,framework", PATHS, ids=["-".join(p) for p in PATHS])
def test_folder_contents_and_manifest(exports, target, framework):
    out = exports("qa", target, framework)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "qa" and manifest["target"] == target and manifest["framework"] == framework
    assert [i["name"] for i in manifest["io"]["inputs"]] == ["input_ids", "attention_mask"]
    assert [o["name"] for o in manifest["io"]["outputs"]] == ["start_logits", "end_logits"]
    assert manifest["io"]["inputs"][0]["dtype"] == ("int64" if target == "onnx" else "int32")
    assert manifest["validation"]["passed"] and len(manifest["source"]["sha256"]) == 64
    for name, digest in manifest["files"].items():
        assert sha256_file(out / name) == digest
    for name in ("config.json", "validation.json", "golden.json", manifest["model_file"]):
        assert (out / name).exists()
    if target == "onnx":
        assert manifest["export"]["opset"] >= 17
    else:  # builtin ops only: LiteRT's Python interpreter has no Flex delegate, a phone may lack custom ops
        from prelnedge.export.tflite_graph import op_names

        ops = set(op_names(out / "model.tflite"))
        assert ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops


def test_validate_command_rechecks_and_detects_tampering(exports, tmp_path):
    import shutil

    from prelnedge.verify.validate_folder import validate_folder

    out = tmp_path / "copy"
    shutil.copytree(exports("sequence-classification", "onnx", "torch"), out)
    check = validate_folder(out)
    assert check.full and check.golden_examples == 4  # no tokenizer: ids of 4 validation cases, max length among them
    assert check.hashed_files == len(json.loads((out / "manifest.json").read_text())["files"])
    with open(out / "config.json", "a") as f:
        f.write(" ")
    with pytest.raises(ValidationError, match="config.json is missing or changed"):
        validate_folder(out)


def test_existing_out_needs_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(UserError, match="already exists; pass --force"):
        export(ExportConfig(task="qa", target="onnx", out=out))
    assert (out / "keep.txt").read_text() == "user data"


def test_failed_validation_leaves_nothing(tmp_path, monkeypatch):
    import prelnedge.verify.validate as validate_module

    def fail(*args, **kwargs):
        raise ValidationError("start_logits differs (injected)")

    monkeypatch.setattr(validate_module, "validate", fail)
    with pytest.raises(ValidationError):
        export(ExportConfig(task="qa", target="onnx", out=tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []


def test_bad_combinations_are_refused():
    with pytest.raises(UserError, match="allowed: tf, flax"):
        ExportConfig(task="qa", target="tflite", framework="torch")
    with pytest.raises(UserError, match="unknown target 'coreml'"):
        ExportConfig(task="qa", target="coreml")
    with pytest.raises(UserError, match="unknown task"):
        ExportConfig(task="summarize", target="onnx")


def test_cli_export_force_and_sigterm(tmp_path):
    out = tmp_path / "qa"
    cmd = [sys.executable, "-m", "prelnedge.cli", "export", "--task", "qa", "--target", "onnx", "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "validation passed" in first.stdout and first.stderr == ""
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert again.returncode == 2 and "--force" in again.stderr and len(again.stderr.splitlines()) == 1
    before = sha256_file(out / "model.onnx")
    # a run stopped with SIGTERM once its partial folder exists leaves the old OUT untouched
    proc = subprocess.Popen([*cmd, "--force"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".qa.partial-*")):
        time.sleep(0.05)
    assert list(tmp_path.glob(".qa.partial-*")), "the export never started writing"
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qa"]
    assert sha256_file(out / "model.onnx") == before

"""`prelnedge report`: the matrix, its files and plots, and the baseline gate (passes on an
unchanged model, fails on an injected regression naming the cell)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import pytest

from prelnedge.report.build import ReportConfig, run_report

CELLS = ("fp32", "fp16", "int8-dynamic")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "base"
    eval_file = out.parent / "eval.jsonl"
    eval_file.write_text("\n".join(json.dumps(line) for line in [
        {"question": "When was the lamp electrified?", "answers": ["1931", "in 1931"],
         "context": "The lamp was first fuelled by whale oil, then by kerosene, and was finally electrified in 1931."},
        {"question": "How many steps are there?", "answers": ["212"],
         "context": "Visitors can climb the 212 steps to the gallery on weekends between April and October."}]))
    report = run_report(ReportConfig(task="qa", out=out, targets=("onnx",), modes=CELLS, eval_file=eval_file))
    return out, report, eval_file


def test_report_files_cells_and_plots(baseline):
    out, report, _ = baseline
    assert [c["mode"] for c in report["cells"]] == list(CELLS)
    # the gate's identity of the model: the checkpoint's hash, as every cell's export recorded it
    from prelnedge.checkpoint.load import load_checkpoint

    assert report["model_sha256"] == load_checkpoint(None, "qa").source_sha256
    assert report["eval_examples"] == 2
    for cell in report["cells"]:
        assert cell["status"] == "ok"
        assert cell["size_bytes"] > 0 and cell["latency_ms"] > 0
        assert set(cell["task_metric"]) == {"exact_match", "f1", "examples"}
        assert cell["task_metric"]["examples"] == 2
    fp32, fp16, int8 = report["cells"]
    assert fp32["size_ratio"] == 1.0 and int8["size_ratio"] < fp16["size_ratio"] < 1.0
    assert fp16["min_sqnr_db"] > int8["min_sqnr_db"]
    assert json.loads((out / "report.json").read_text())["cells"] == json.loads(json.dumps(report["cells"]))
    for name in ("fidelity_vs_size.png", "fidelity_vs_latency.png"):
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "src=\"fidelity" not in page  # self-contained
    assert "| onnx | int8-dynamic | ok |" in (out / "report.md").read_text()
    # where the latency column was timed, named in the report (prelnedge.timing.machine)
    assert report["machine"]["logical_cpus"] >= 1 and f"Timed on {report['machine']['cpu']}" in (out / "report.md").read_text()


# The gate's rules, and the command's exit code on a regression, are tested on report dicts in
# test_report_render.py; these two rerun whole reports (three cells each), so they sit in the heavy
# tier: reruns are deterministic enough for the gate, and a real quantizer regression is caught end
# to end.
@pytest.mark.heavy
def test_gate_passes_on_an_unchanged_model(baseline, tmp_path):
    out, _, eval_file = baseline
    again = run_report(ReportConfig(task="qa", out=tmp_path / "again", targets=("onnx",), modes=CELLS,
                                    eval_file=eval_file, baseline=out / "report.json"))
    assert again["baseline"]["regressions"] == []
    assert "Gate: PASS" in (tmp_path / "again" / "report.md").read_text()


@pytest.mark.heavy
def test_gate_fails_on_an_injected_regression(baseline, tmp_path, monkeypatch):
    """int8-dynamic made worse (7-bit weights, as with reduce_range): the gate names the cell."""
    import prelnedge.quantize.onnx as onnx_modes

    def seven_bit(src, dst, calibration=None):
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(src, dst, op_types_to_quantize=["MatMul", "Gather"], weight_type=QuantType.QInt8,
                         reduce_range=True, extra_options={"MatMulConstBOnly": True})
        return {}

    monkeypatch.setattr(onnx_modes, "quantize_int8_dynamic", seven_bit)
    out, _, eval_file = baseline
    worse = run_report(ReportConfig(task="qa", out=tmp_path / "worse", targets=("onnx",), modes=CELLS,
                                    eval_file=eval_file, baseline=out))
    regressions = worse["baseline"]["regressions"]
    assert regressions and all(line.startswith("onnx:int8-dynamic: ") for line in regressions), regressions
    assert any("SQNR" in line and "baseline" in line for line in regressions)
    # written although it fails the gate: CI keeps the failing report as its artifact
    assert json.loads((tmp_path / "worse" / "report.json").read_text())["baseline"]["regressions"] == regressions


def test_bad_report_requests_are_one_line_errors(tmp_path):
    for args, message in [(["--modes", "int3"], "unknown mode 'int3'"),
                          (["--targets", "coreml"], "unknown target 'coreml'"),
                          (["--baseline", str(tmp_path / "nope.json")], "baseline .* does not exist")]:
        result = subprocess.run([sys.executable, "-m", "prelnedge.cli", "report", "--task", "qa", "--out",
                                 str(tmp_path / "r"), *args], capture_output=True, text=True)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        import re

        assert re.search(message, result.stderr)
    assert not (tmp_path / "r").exists()


def test_a_crashing_cell_is_retried_then_failed_and_the_rest_completes(tmp_path, monkeypatch):
    """A cell whose quantizer raises (not a verdict: a crash) is tried 1 + retries times, then marked
    failed with its reason; the float cell beside it completes and the report is written, and the
    command fails for it (exit 1) naming the cell."""
    import prelnedge.quantize.onnx as onnx_modes
    from prelnedge import cli

    calls = []

    def broken(src, dst, calibration=None):
        calls.append(dst)
        raise RuntimeError("quantizer crashed")

    monkeypatch.setattr(onnx_modes, "quantize_int8_dynamic", broken)
    report = run_report(ReportConfig(task="qa", out=tmp_path / "r", targets=("onnx",), modes=("fp32", "int8-dynamic"),
                                     eval_file=None, retries=1))
    fp32, int8 = report["cells"]
    assert fp32["status"] == "ok" and fp32["latency_ms"] > 0 and fp32["run"]["attempts"] == 1
    assert (int8["status"], int8["fault"], int8["run"]["attempts"]) == ("failed", True, 2)
    assert int8["reason"] == "RuntimeError: quantizer crashed" and len(calls) == 2
    assert "| onnx | int8-dynamic | failed |" in (tmp_path / "r" / "report.md").read_text()
    import os
    import warnings

    from prelnedge import quiet

    for name in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY"):  # main() sets them; put them back afterwards
        monkeypatch.setenv(name, os.environ.get(name, "3"))
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    monkeypatch.setattr(quiet, "enabled", quiet.enabled)
    monkeypatch.setattr("prelnedge.report.build.run_report", lambda cfg: report)  # the report above, as run
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "report.md").write_text("# report\n")
    assert cli.main(["report", "--task", "qa", "--out", str(tmp_path / "again")]) == cli.EXIT_VALIDATION_FAILED

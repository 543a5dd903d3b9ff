"""The report's documents and plots, and the baseline gate, on report dicts written here (no model is
exported: the gate and the renderer are pure functions of report.json's content)."""

from __future__ import annotations

import copy
import html
import itertools
import os
import subprocess
import sys
import warnings

import pytest

from prelnedge.errors import UserError
from prelnedge.verify.gate import GATE_SQNR_DB, check_comparable, faults, gate
from prelnedge.report.render import facts, figure, write_outputs

SHA = "4a6d7eb0e283" + "0" * 52
OTHER_SHA = "9f00d2c1aa47" + "1" * 52


def cell(target: str, mode: str, sqnr: float, latency: float, size_mib: float, outputs_reversed=False) -> dict:
    outputs = {"start_logits": {"sqnr_db": sqnr}, "end_logits": {"sqnr_db": sqnr + 1.5}}
    if outputs_reversed:  # quantized folders' validation lists the outputs in another order
        outputs = dict(reversed(list(outputs.items())))
    return {"target": target, "mode": mode, "status": "ok", "size_bytes": int(size_mib * 2**20),
            "size_ratio": size_mib / 0.76, "latency_ms": latency, "outputs": outputs, "min_sqnr_db": sqnr,
            "agreement": {"start_end": 0.98, "span_exact": 0.95} if mode != "fp32" else {},
            "task_metric": {"exact_match": 0.5, "f1": 0.61, "examples": 40}}


def report(cells: list[dict], sha: str = SHA, task: str = "qa") -> dict:
    return {"format": "prelnedge-report/1", "task": task, "model": "runs/ckpt-7", "model_sha256": sha,
            "eval_file": "data/qa-heldout.jsonl", "eval_examples": 40,
            "gate": {"sqnr_db": GATE_SQNR_DB, "agreement": 0.02, "metric": 0.01}, "cells": cells,
            "baseline": None}


def matrix() -> list[dict]:
    # int4 30x slower than the rest (an unfused kernel), and three cells close together
    return [cell("onnx", "fp32", 128.0, 2.0, 0.76), cell("onnx", "fp16", 71.0, 2.1, 0.40, True),
            cell("onnx", "int8-dynamic", 33.0, 1.9, 0.24, True), cell("onnx", "int4", 21.0, 60.0, 0.16, True),
            cell("tflite", "fp32", 127.5, 2.2, 0.77), cell("tflite", "int8-dynamic", 33.4, 2.0, 0.25, True)]


# --- the gate -------------------------------------------------------------------------------------

def test_gate_passes_an_unchanged_report():
    assert gate(report(matrix()), report(matrix())) == []


def test_gate_names_the_cell_and_output_that_got_worse():
    now = report(matrix())
    now["cells"][2]["outputs"]["end_logits"]["sqnr_db"] -= GATE_SQNR_DB + 0.5
    now["cells"][3]["outputs"]["start_logits"]["sqnr_db"] -= GATE_SQNR_DB - 0.1  # within tolerance
    problems = gate(now, report(matrix()))
    assert len(problems) == 1 and problems[0].startswith("onnx:int8-dynamic: end_logits SQNR"), problems


def test_gate_flags_a_cell_that_no_longer_builds():
    now = report(matrix())
    now["cells"][1] = {"target": "onnx", "mode": "fp16", "status": "failed", "reason": "SQNR below floor"}
    assert gate(now, report(matrix())) == ["onnx:fp16: passed in the baseline, now failed: SQNR below floor"]


def test_gate_fails_a_cell_that_never_ran_whatever_the_baseline_says():
    """A fault (the cell crashed or lost its worker, retries ran out) measured nothing: it fails the
    gate even where the baseline's cell had failed too, and is named once."""
    crashed = {"target": "onnx", "mode": "fp16", "status": "failed", "fault": True,
               "reason": "WorkerCrashedError: the worker died"}
    now, before = report(matrix()), report(matrix())
    now["cells"][1] = crashed
    before["cells"][1] = {"target": "onnx", "mode": "fp16", "status": "failed", "reason": "SQNR below floor"}
    expected = ["onnx:fp16: failed to run: WorkerCrashedError: the worker died"]
    assert gate(now, before) == expected
    assert gate(now, report(matrix())) == expected  # not also "passed in the baseline, now failed"
    assert faults(now) == expected and faults(before) == []


def test_gate_refuses_another_model():
    with pytest.raises(UserError, match=r"another model \(runs/ckpt-7, checkpoint sha256 9f00d2c1aa47…\)"):
        gate(report(matrix()), report(matrix(), sha=OTHER_SHA))


def test_gate_refuses_another_task():
    with pytest.raises(UserError, match="the baseline is a masked-lm report and this one is qa"):
        gate(report(matrix()), report(matrix(), task="masked-lm"))


def test_gate_refuses_a_baseline_that_does_not_name_its_model():
    old = report(matrix())
    del old["model_sha256"]
    with pytest.raises(UserError, match="does not record its model's sha256"):
        check_comparable(old, "qa", SHA)


def test_cli_refuses_another_tasks_baseline_in_one_line_before_any_work(tmp_path):
    import json

    (tmp_path / "old.json").write_text(json.dumps(report(matrix(), task="masked-lm")))
    result = subprocess.run([sys.executable, "-m", "prelnedge.cli", "report", "--task", "qa", "--out",
                             str(tmp_path / "r"), "--baseline", str(tmp_path / "old.json")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "masked-lm report" in result.stderr and not (tmp_path / "r").exists()


def test_cli_exits_1_naming_each_regression(tmp_path, monkeypatch, capsys):
    """The command's side of the gate: the report it ran has regressions -> exit 1 and one stderr line
    naming them. run_report is replaced by one returning a gated report dict (that run_report writes
    the report before the command fails: test_report.py::test_gate_fails_on_an_injected_regression)."""
    import prelnedge.report.build as build
    from prelnedge import cli, quiet

    for name in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY"):  # main() sets them; put them back afterwards
        monkeypatch.setenv(name, os.environ.get(name, "3"))
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    monkeypatch.setattr(quiet, "enabled", quiet.enabled)
    now = report(matrix())
    for stats in now["cells"][1]["outputs"].values():
        stats["sqnr_db"] -= 20  # fp16 got 20 dB worse than the baseline

    def gated_report(cfg):
        assert cfg.baseline == tmp_path / "old.json" and cfg.modes == ("fp32", "fp16")
        cfg.out.mkdir()
        (cfg.out / "report.md").write_text("# report\n")
        return {**now, "baseline": {"regressions": gate(now, report(matrix()))}}

    monkeypatch.setattr(build, "run_report", gated_report)
    code = cli.main(["report", "--task", "qa", "--targets", "onnx", "--modes", "fp32", "fp16", "--out",
                     str(tmp_path / "r"), "--baseline", str(tmp_path / "old.json")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_VALIDATION_FAILED == 1, err
    assert len(err.strip().splitlines()) == 1 and "got worse than the baseline" in err, err
    assert "onnx:fp16: start_logits SQNR" in err and "onnx:fp16: end_logits SQNR" in err, err
    assert "allowed drop 1 dB" in err, err


# --- the documents ----------------------------------------------------------------------------------

@pytest.fixture
def written(tmp_path):
    now = report(matrix())
    now["cells"][3]["outputs"]["start_logits"]["sqnr_db"] -= 5
    now["baseline"] = {"path": "ci/baseline/report.json", "model": "runs/ckpt-7", "model_sha256": SHA,
                       "regressions": gate(now, report(matrix()))}
    write_outputs(now, tmp_path)
    return now, (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()


def test_html_says_what_the_markdown_says(written):
    now, md, page = written
    paragraphs = facts(now)
    assert any(p.startswith("Method: ") for p in paragraphs)
    assert "data/qa-heldout.jsonl (40 examples)" in " ".join(paragraphs)
    assert "SQNR drop 1.0 dB" in " ".join(paragraphs)
    for text in [*paragraphs, "Gate: FAIL against ci/baseline/report.json (same model: runs/ckpt-7, task qa)",
                 *now["baseline"]["regressions"]]:
        assert text in md, text
        assert html.escape(text) in page, text


def test_outputs_appear_in_one_order_in_every_row(written):
    _, md, _ = written
    rows = [line for line in md.splitlines() if line.startswith("| onnx |") or line.startswith("| tflite |")]
    assert len(rows) == 6
    for row in rows:
        sqnr = row.split(" | ")[5]
        assert sqnr.index("start_logits") < sqnr.index("end_logits"), row


def test_latency_axis_turns_logarithmic_when_one_mode_is_30x_slower():
    import matplotlib.pyplot as plt

    slow = figure(report(matrix()), "median batch-1 latency (ms)", "latency_ms")
    even = figure(report(matrix()[:3]), "median batch-1 latency (ms)", "latency_ms")
    try:
        assert slow.axes[0].get_xscale() == "log" and "log scale" in slow.axes[0].get_xlabel()
        assert even.axes[0].get_xscale() == "linear"
    finally:
        plt.close(slow), plt.close(even)


@pytest.mark.parametrize("field, xlabel", [("size_bytes", "size (MiB)"), ("latency_ms", "median batch-1 latency (ms)")])
def test_plot_texts_do_not_overlap(field, xlabel):
    """Every piece of text drawn (title, axis labels, tick labels, the legend's cell names) has its own
    box, even with cells almost on top of one another."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    fig = figure(report(matrix()), xlabel, field)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        found = fig.findobj(match=Text)  # the drawn strings (a legend's TextArea wraps one of these)
        texts = [t for t in dict.fromkeys(found) if t.get_visible() and t.get_text().strip()]
        names = {t.get_text() for t in texts}
        assert {"onnx:int8-dynamic", "tflite:int8-dynamic", "onnx:fp32", "tflite:fp32"} <= names
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
        overlapping = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]
        assert not overlapping
        assert all(0 <= box.x0 and box.x1 <= fig.bbox.width for _, box in boxes)  # nothing cut off
    finally:
        plt.close(fig)


def test_a_modes_cpu_cost_is_said_under_the_table(tmp_path):
    from prelnedge.quantize import get_mode

    cost = get_mode("tflite", "int8-full").cpu_cost
    now = report(matrix() + [dict(cell("tflite", "int8-full", 30.0, 9.0, 0.25, True), cpu_cost=cost)])
    write_outputs(now, tmp_path)
    md, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert cost and f"- tflite:int8-full: {cost}" in md and html.escape(f"tflite:int8-full: {cost}") in page
    assert md.count("CPU cost of some modes:") == 1 and "- tflite:int8-dynamic:" not in md


def test_a_cpu_cost_measured_on_another_cpu_says_so_beside_the_figure(tmp_path):
    from prelnedge.quantize import CPU_COST_MEASURED_ON, get_mode

    cost = get_mode("tflite", "int8-full").cpu_cost
    assert "family 6 model 207" in cost and "2 logical CPUs" in cost and "2 threads" in cost  # where, said in it
    cells = matrix() + [dict(cell("tflite", "int8-full", 30.0, 9.0, 0.25, True), cpu_cost=cost)]
    elsewhere = dict(report(cells), machine={"cpu": "AMD EPYC 9654 (AuthenticAMD family 25 model 17)",
                                             "flags": ["avx512f", "avx512_vnni"], "logical_cpus": 8})
    (tmp_path / "amd").mkdir()
    write_outputs(elsewhere, tmp_path / "amd")
    md = (tmp_path / "amd" / "report.md").read_text()
    assert (f"- tflite:int8-full: {cost} [that figure is from {CPU_COST_MEASURED_ON}; this report ran on "
            "AMD EPYC 9654 (AuthenticAMD family 25 model 17)]") in md
    assert "Timed on AMD EPYC 9654 (AuthenticAMD family 25 model 17) (avx512f, avx512_vnni), 8 logical CPUs." in md
    same = dict(report(cells), machine={"cpu": CPU_COST_MEASURED_ON, "flags": [], "logical_cpus": 2})
    (tmp_path / "same").mkdir()
    write_outputs(same, tmp_path / "same")
    md = (tmp_path / "same" / "report.md").read_text()
    assert f"- tflite:int8-full: {cost}\n" in md and "this report ran on" not in md


def test_a_report_without_eval_or_baseline_still_says_so(tmp_path):
    plain = copy.deepcopy(report(matrix()))
    plain.update(eval_file=None, eval_examples=None)
    write_outputs(plain, tmp_path)
    assert "Task metric: none (no --eval file given)." in (tmp_path / "report.html").read_text()
    assert "Gate:" not in (tmp_path / "report.md").read_text()
    assert "CPU cost" not in (tmp_path / "report.md").read_text()  # no cell's mode has a known price

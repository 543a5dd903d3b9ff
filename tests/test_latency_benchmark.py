"""The latency benchmark's bookkeeping (benchmarks/latency*.py), without building or timing a model:
which artifacts it rebuilds, which runners it lists, and that a failed build shows in its table.
Speed itself is claimed only by the benchmark's own output, never asserted here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import latency_build, source_fingerprint as fp  # noqa: E402
from benchmarks.latency_report import render_markdown  # noqa: E402

MODES_MODULE = '''
"""Two modes and a helper they share."""
import math

SCALE = 2
OTHER = 3


def _shared(x):
    return x * SCALE


def mode_a(x):
    return _shared(x) + 1


def mode_b(x):
    return math.floor(x) * OTHER
'''


def test_changing_one_mode_changes_only_its_digest(tmp_path):
    path = tmp_path / "modes.py"
    path.write_text(MODES_MODULE)
    before = {f: fp.function_digest(path, f) for f in ("mode_a", "mode_b")}
    path.write_text(MODES_MODULE.replace("return math.floor(x) * OTHER", "return math.ceil(x) * OTHER"))
    assert fp.function_digest(path, "mode_a") == before["mode_a"]
    assert fp.function_digest(path, "mode_b") != before["mode_b"]
    path.write_text(MODES_MODULE.replace("SCALE = 2", "SCALE = 4"))  # a constant used through a helper
    assert fp.function_digest(path, "mode_a") != before["mode_a"]
    assert fp.function_digest(path, "mode_b") == before["mode_b"]


def test_comments_and_layout_do_not_count(tmp_path):
    path = tmp_path / "modes.py"
    path.write_text(MODES_MODULE)
    before = fp.module_digest(path), fp.function_digest(path, "mode_a")
    path.write_text(MODES_MODULE.replace("def mode_a(x):", "# why it adds one\n\n\ndef mode_a(x):  # note"))
    assert (fp.module_digest(path), fp.function_digest(path, "mode_a")) == before


def test_a_new_registry_entry_leaves_the_other_modes_alone(tmp_path):
    """The real registry, with a mode appended: every existing mode keeps its digest, and changing
    one entry changes that entry's digest only."""
    source = latency_build.REGISTRY.read_text()
    registry = tmp_path / "registry.py"
    registry.write_text(source)

    def digest(name, target):
        return fp.registry_digest(registry, "MODES", lambda c: fp.call_literals(c, ("name", "target")) == (name, target))

    before = {m: digest(m, "onnx") for m in ("fp16", "int8-static")}
    added = source.replace('MODES: tuple[QuantMode, ...] = (',
                           'MODES: tuple[QuantMode, ...] = (\n    QuantMode(name="int2", target="onnx", summary="new", '
                           'implementation="x:y", tolerance=tolerances.INT4),')
    assert added != source
    registry.write_text(added)
    assert {m: digest(m, "onnx") for m in before} == before
    assert digest("int2", "onnx") != digest("int2", "tflite")  # the new entry is found by keyword
    registry.write_text(source.replace('"float16 weights, cast to float32 at load', '"fp16 weights, cast at load'))
    assert digest("fp16", "onnx") != before["fp16"]
    assert digest("int8-static", "onnx") == before["int8-static"]


def _stamped_step(tmp_path: Path) -> tuple[latency_build.Step, Path]:
    """A step whose stamp says it was built from `entry.py:make` and wrote out/model.bin."""
    entry = tmp_path / "entry.py"
    entry.write_text("def make(folder):\n    return 1\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.bin").write_bytes(b"weights")
    step = latency_build.Step("thing", "diy", {"out": str(out)}, entry=(entry, "make"))
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    parts = latency_build.digest_parts(step, [], stamps, root=tmp_path)
    stamp = {"status": "built", "reason": None, "when": "now", "imports": [], "parts": parts,
             "outputs": latency_build.folder_hashes(out)}
    (stamps / "thing.json").write_text(json.dumps(stamp))
    return step, stamps


def test_a_stamp_is_reused_by_content_not_by_time(tmp_path):
    step, stamps = _stamped_step(tmp_path)
    assert latency_build.why_rebuild(step, stamps, root=tmp_path) == ""
    model = tmp_path / "out" / "model.bin"
    os.utime(model, (1, 1))  # an old time stamp alone changes nothing
    assert latency_build.why_rebuild(step, stamps, root=tmp_path) == ""
    model.write_bytes(b"other weights")
    assert "files changed" in latency_build.why_rebuild(step, stamps, root=tmp_path)
    model.write_bytes(b"weights")
    (tmp_path / "entry.py").write_text("def make(folder):\n    return 2\n")
    assert latency_build.why_rebuild(step, stamps, root=tmp_path) == "changed: entry.py:make"


def test_every_registered_mode_is_a_runner():
    from prelnedge.export import TARGETS
    from prelnedge.quantize import MODES

    runners = latency_build.prelnedge_runners()
    assert {f"{m.target} {m.name}" for m in MODES} | {f"{t} fp32" for t in TARGETS} == set(runners)


def _result(**extra) -> dict:
    row = {"median_ms": 10.0, "p25_ms": 9.0, "p75_ms": 11.0, "min_ms": 8.0, "samples": 5, "cpu_ms": 12.0,
           "cpu_p25_ms": 11.0, "cpu_p75_ms": 13.0, "vs_eager": {"ratio": 0.2, "min": 0.1, "max": 0.3},
           "vs_diy": {"ratio": 0.9, "min": 0.8, "max": 1.1, "cpu_ratio": 0.85}, "round_ms": [10.0, 10.0, 10.0]}
    result = {"model": "m", "command": "python benchmarks/latency.py", "when": "now", "cpu": "cpu", "cpus": 2,
              "niceness": 0, "threads": 2, "rounds": 3, "budget_s": 0.3, "load_before": "1.0 1.0 1.0",
              "load_after": "1.0 1.0 1.0", "peak_rss_gib": 1.0,
              "runners": ["hf eager (torch)", "tflite int8-static", "tflite int16x8", "onnx int4"],
              "row_by_row": ["tflite int8-static"], "slow_runners": ["tflite int16x8"], "slow_configs": ["32x1"],
              "slow_skipped": {"128x1": ["tflite int16x8"]},
              "configs": {"seq 128, batch 1": {"load_after": "1.0 1.0 1.0",
                                               "rows": {"hf eager (torch)": row, "tflite int8-static": row}}},
              "not_built": {"onnx int4": "prelnedge: validation failed: end_logits SQNR 7.1 dB below 8"}}
    result.update(extra)
    return result


@pytest.mark.parametrize("runner, cell", [("onnx int4", "not built"), ("tflite int16x8", "skipped (slow)")])
def test_a_runner_without_times_says_why_in_every_table(runner, cell):
    text = render_markdown(_result())
    rows = [line for line in text.splitlines() if line.startswith(f"| {runner} |")]
    assert len(rows) == 4 and all(row.endswith(f"| {cell} |") for row in rows)
    if runner == "onnx int4":
        assert "- onnx int4: prelnedge: validation failed: end_logits SQNR 7.1 dB below 8" in text


def test_row_by_row_runners_are_labelled():
    text = render_markdown(_result())
    assert "| tflite int8-static (row by row) | 0.20x [0.10-0.30] |" in text
    assert "batch 8 is 8 calls of one row" in text


def test_targets_are_judged_per_configuration():
    def row(ms, cpu):
        return {"median_ms": ms, "p25_ms": ms, "p75_ms": ms, "min_ms": ms, "samples": 3, "cpu_ms": cpu,
                "cpu_p25_ms": cpu, "cpu_p75_ms": cpu, "round_ms": [ms, ms, ms]}

    rows = {"hf eager (torch)": row(100.0, 150.0), "diy torch.onnx + quantize_dynamic": row(30.0, 40.0),
            "onnx int8-dynamic": row(20.0, 30.0), "onnx int8-static": row(25.0, 28.0)}
    result = _result(runners=list(rows), row_by_row=[], slow_skipped={}, not_built={},
                     configs={"seq 128, batch 1": {"load_after": "1", "rows": rows}})
    lines = {line.split(" | ")[0]: line for line in render_markdown(result).splitlines()}
    assert lines["| ONNX int8-dynamic <= 0.22x eager and <= 0.85x do-it-yourself"].endswith(
        "| met: 0.20x eager (CPU 0.20x), 0.67x diy (CPU 0.75x) |")
    assert "**not met**: 0.25x eager (CPU 0.19x), 1.25x int8-dynamic (CPU 0.93x)" in \
        lines["| ONNX int8-static <= 0.22x eager and faster than int8-dynamic"]


def test_the_profiler_charges_each_kernel_to_the_call_it_ran_in():
    """ort_profile.py profiles several batch sizes in one session: each kernel event belongs to the
    model_run around it, warm-ups are left out, times are per call."""
    from benchmarks.ort_profile import RUN, TOTAL, _per_run

    def run(ts, dur):
        return {"name": "model_run", "ts": ts, "dur": dur}

    def kernel(ts, op, node, dur):
        return {"cat": "Node", "name": f"{node}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}

    events = [run(0, 100), kernel(10, "Gelu", "g", 50),  # warm-up at batch 1
              run(200, 100), kernel(210, "Gelu", "g", 40), kernel(250, "Add", "a", 20),
              run(400, 100), kernel(410, "Gelu", "g", 60), kernel(450, "Add", "a", 20),
              run(600, 900), kernel(610, "Gelu", "g", 800),  # batch 8, one call
              {"cat": "Session", "name": "session_initialization", "ts": -50, "dur": 5}]
    result = _per_run(events, [None, 1, 1, 8])
    assert result[1]["Gelu"] == (0.05, 1) and result[1]["Add"] == (0.02, 1)
    assert result[1][TOTAL][0] == pytest.approx(0.07) and result[1][RUN][0] == pytest.approx(0.1)
    assert result[8] == {"Gelu": (0.8, 1), TOTAL: (0.8, 0), RUN: (0.9, 0)}

"""TFLite in the browser: a static-shape TFLite export's web bundle runs with LiteRT.js
(@litertjs/core) in headless Chromium, with the same page, tokenizer, post-processing and
self-test rule as the ONNX bundle (tests/test_web_bundle.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prelnedge.errors import UserError
from prelnedge.quantize import MODES
from test_web_bundle import (CLASSIFY_TEXT, CONTEXT, FLOAT_RULE, QUESTION, reference, run_pages,
                                   selftest_numbers, serve)
from web_support import require_node_modules

ROOT = Path(__file__).resolve().parents[1]
LENGTH = 48  # shorter than CONTEXT's tokens, so the QA form's context is windowed at the static length
# Quantized exports measure fidelity on the corpus's QA pairs, whose questions alone outgrow 48 of
# the embedded model's small-vocabulary tokens: they use its full length.
QUANTIZED_LENGTH = 128


def cli_bundle(export_dir: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prelnedge.cli", "bundle", str(export_dir), "--platform", "web",
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    from prelnedge.pipeline import ExportConfig, export

    work = tmp_path_factory.mktemp("litert-exports")
    for task in ("qa", "sequence-classification"):
        export(ExportConfig(task=task, target="tflite", out=work / task, static_shape=LENGTH))
    # dynamic-range int8: LiteRT's hybrid (int8 weight, float activation) kernels in the browser
    export(ExportConfig(task="qa", target="tflite", out=work / "qa-int8", static_shape=QUANTIZED_LENGTH,
                        quantize="int8-dynamic"))
    return work


@pytest.fixture(scope="module")
def site(exports, tmp_path_factory) -> Path:
    require_node_modules("@litertjs/core", "@litertjs/wasm-utils", "playwright-core")
    root = tmp_path_factory.mktemp("litert-site")
    for task in ("qa", "sequence-classification", "qa-int8"):
        done = cli_bundle(exports / task, root / task)
        assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory) -> dict[str, dict]:
    pages = {"qa": {"form": {"question": QUESTION, "context": CONTEXT}},
             "sequence-classification": {"form": {"text": CLASSIFY_TEXT}},
             "qa-int8": {}}
    with serve(site) as base:
        return run_pages(base, pages, tmp_path_factory.mktemp("browser"))


def test_static_export_has_fixed_inputs(exports):
    from ai_edge_litert.interpreter import Interpreter

    manifest = json.loads((exports / "qa" / "manifest.json").read_text())
    assert manifest["io"]["static_shape"] == {"batch": 1, "length": LENGTH, "input_shape": [1, LENGTH]}
    assert manifest["io"]["dynamic_axes"] == [] and manifest["io"]["max_tokens"] == LENGTH
    details = Interpreter(model_path=str(exports / "qa" / "model.tflite")).get_input_details()
    assert sorted(d["shape"].tolist() for d in details) == [[1, LENGTH], [1, LENGTH]]
    assert all(d["shape_signature"].tolist() == [1, LENGTH] for d in details)  # no -1: nothing to resize
    golden = json.loads((exports / "qa" / "golden.json").read_text())
    assert golden["max_tokens"] == LENGTH
    # validation ran the static artifact on padded batches up to its length
    shapes = [case["input_shape"] for case in json.loads((exports / "qa" / "validation.json").read_text())["cases"]]
    assert max(s[-1] for s in shapes) == LENGTH and max(s[0] for s in shapes) > 1


def test_static_session_pads_and_cuts_like_the_dynamic_model(exports, reference):
    """The Python runner of a static model (what the page's LiteRT runner mirrors) against the float
    reference: a padded batch of two rows of different lengths."""
    from prelnedge.runtime.sessions import load_exported

    model, _ = reference("qa")
    exported = load_exported(exports / "qa")
    ids = np.array([[0, 31, 45, 99, 2, 1, 1, 1, 1], [0, 7, 8, 9, 10, 11, 12, 13, 2]], np.int64)
    mask = (ids != 1).astype(np.int64)
    got, want = exported(ids, mask), model(ids, mask)
    for name in ("start_logits", "end_logits"):
        assert got[name].shape == (2, 9)
        assert np.abs(got[name] - want[name])[mask == 1].max() <= 1e-5 * np.abs(want[name]).max()
    with pytest.raises(UserError, match=f"do not fit this static-shape model \\({LENGTH} tokens\\)"):
        exported(np.zeros((1, LENGTH + 1), np.int64), np.ones((1, LENGTH + 1), np.int64))


def test_bundle_layout(site):
    manifest = json.loads((site / "qa" / "manifest.json").read_text())
    facts = manifest["bundle"]
    assert facts["runtime"] == "@litertjs/core 2.5.3" and facts["model"] == "tflite/model.tflite"
    assert facts["static_shape"]["length"] == LENGTH
    assert facts["selftest"] == {"page": "index.html?selftest=1"} and manifest["spec"]["rule"] == FLOAT_RULE
    shipped = {k for k in facts["files"] if k.startswith("litert/")}
    assert shipped == {"litert/index.js", "litert/wasm-utils.js", "litert/litert_wasm_internal.js",
                       "litert/litert_wasm_internal.wasm", "litert/litert_wasm_compat_internal.js",
                       "litert/litert_wasm_compat_internal.wasm"}
    assert not any(k.startswith("ort/") or k.startswith("onnx/") for k in facts["files"])
    assert '"@litertjs/wasm-utils"' not in (site / "qa" / "litert" / "index.js").read_text()


def real_errors(result: dict) -> list[str]:
    """The page's errors, less LiteRT's own native log lines: its WebAssembly build writes its
    INFO/WARNING log (environment created, no NPU/WebGPU here, XNNPACK delegate) to stderr, which
    Emscripten sends to console.error."""
    return [e for e in result["errors"] if not re.match(r"(INFO|WARNING): ", e)]


@pytest.mark.parametrize("name", ["qa", "sequence-classification"])
def test_selftest_passes_in_chromium(browser, site, name):
    result = browser[name]
    assert not real_errors(result) and not result["failed_requests"], result
    numbers = selftest_numbers(result.get("selftest", ""))
    assert numbers["peak_rel"] <= FLOAT_RULE["peak_rel"]
    assert numbers["examples"] == len(json.loads((site / name / "golden.json").read_text())["examples"])
    files = set(json.loads((site / name / "manifest.json").read_text())["bundle"]["files"]) | {"manifest.json"}
    assert {p.removeprefix(f"/{name}/") for p in result["requests"]} <= files  # nothing from a CDN


def test_quantized_selftest_passes_its_sqnr_floor(browser, site):
    """golden.json holds the float model's outputs: the int8-dynamic model in LiteRT.js must clear
    the mode's SQNR floor against them, as the Python golden replay demands."""
    from prelnedge.quantize import get_mode

    manifest = json.loads((site / "qa-int8" / "manifest.json").read_text())
    floor = get_mode("tflite", "int8-dynamic").tolerance.min_sqnr_db
    assert manifest["spec"]["rule"]["min_sqnr_db"] == floor and manifest["bundle"]["float_model"] is None
    result = browser["qa-int8"]
    assert not real_errors(result) and not result["failed_requests"], result
    numbers = selftest_numbers(result.get("selftest", ""))
    golden = json.loads((site / "qa-int8" / "golden.json").read_text())
    assert numbers["min_sqnr_db"] >= floor and numbers["examples"] == len(golden["examples"])


def test_qa_form_windows_a_long_context_like_python(browser, exports):
    """CONTEXT is longer than the static length: the page windows it at LENGTH tokens, runs each
    window padded, and must give the answer Python's post-processing gives with the static model."""
    from prelnedge.runtime.postprocess import answer_question
    from prelnedge.runtime.sessions import load_exported

    exported = load_exported(exports / "qa")
    want = answer_question(exported, exported.tokenizer, QUESTION, CONTEXT)
    got = json.loads(browser["qa"]["json"])
    assert want["windows"] > 1 and got["windows"] == want["windows"]
    assert (got["answer"], got["window"]) == (want["answer"], want["window"])
    assert got["score"] == pytest.approx(want["score"], abs=1e-4)


def test_classifier_form_gives_the_python_label(browser, reference):
    from prelnedge.runtime.postprocess import classify

    model, tok = reference("sequence-classification")
    want = classify(model, tok, [CLASSIFY_TEXT], model.config.labels)[0]
    got = json.loads(browser["sequence-classification"]["json"])
    assert got["label"] == want["label"] and got["score"] == pytest.approx(want["score"], abs=1e-4)


def test_dynamic_tflite_export_is_refused_with_the_fix(tmp_path):
    from prelnedge.bundle.web import write_web_bundle

    with pytest.raises(UserError, match="--static-shape LENGTH"):
        write_web_bundle(tmp_path, {"target": "tflite", "model_file": "model.tflite", "io": {}}, tmp_path / "dest")


@pytest.mark.parametrize("mode", [m.name for m in MODES if m.target == "tflite" and m.unpadded_only])
def test_integer_modes_refuse_a_static_shape(exports, tmp_path, mode):
    done = subprocess.run([sys.executable, "-m", "prelnedge.cli", "quantize", str(exports / "qa"), "--mode",
                           mode, "--out", str(tmp_path / "q")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "a static-shape model pads every row" in done.stderr, done.stderr
    assert not (tmp_path / "q").exists()


@pytest.mark.heavy
def test_fp16_static_selftest_in_chromium(tmp_path):
    """Heavy tier: the other mode LiteRT.js runs (float16 weights), exported, bundled and self-tested."""
    from prelnedge.pipeline import ExportConfig, export
    from prelnedge.quantize import get_mode

    export(ExportConfig(task="qa", target="tflite", out=tmp_path / "export", static_shape=QUANTIZED_LENGTH,
                        quantize="fp16"))
    assert cli_bundle(tmp_path / "export", tmp_path / "site" / "qa-fp16").returncode == 0
    with serve(tmp_path / "site") as base:
        result = run_pages(base, {"qa-fp16": {}}, tmp_path)["qa-fp16"]
    assert selftest_numbers(result.get("selftest", ""))["min_sqnr_db"] >= get_mode("tflite", "fp16").tolerance.min_sqnr_db


@pytest.mark.parametrize("args, needle", [
    (["--target", "onnx", "--static-shape", "32"], "--static-shape applies to --target tflite --framework tf only"),
    (["--target", "tflite", "--static-shape", "32", "--quantize", "int8-static"],
     "cannot be combined with --quantize int8-static"),
    (["--target", "tflite", "--static-shape", "32", "--quantize", "int8-full"],
     "cannot be combined with --quantize int8-full"),
    (["--target", "tflite", "--static-shape", "0"], "1..4096"),
])
def test_static_shape_option_errors(tmp_path, args, needle):
    done = subprocess.run([sys.executable, "-m", "prelnedge.cli", "export", "--task", "qa", *args,
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and needle in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr

"""A tuned (mixed-precision) model runs in the web and Android bundles and passes their golden self-tests,
as any quantized export does: the bundle reads its mode's rule from the manifest, and the recipe travels
with it (manifest quantization.settings.recipe)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "prelnedge.cli"]


@pytest.fixture(scope="module")
def tuned_qa(default_onnx_export, tmp_path_factory) -> Path:
    """The embedded QA model's ONNX export tuned under int8-dynamic for an SQNR the plain model misses
    (it reaches ~50 dB), so the recipe keeps some units float."""
    out = tmp_path_factory.mktemp("tuned") / "qa-int8-tuned"
    done = subprocess.run([*CLI, "tune", str(default_onnx_export("qa")), "--quantize", "int8-dynamic", "--min-sqnr",
                           "53", "--search-examples", "30", "--out", str(out), "--cache",
                           str(tmp_path_factory.mktemp("cache"))], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "recipe.json").read_text())["units"], "the budget should keep some unit float"
    return out


def test_tuned_model_selftests_in_chromium(tuned_qa, tmp_path):
    from test_web_bundle import run_pages, selftest_numbers, serve
    from web_support import require_node_modules

    require_node_modules("onnxruntime-web", "playwright-core")
    site = tmp_path / "site"
    done = subprocess.run([*CLI, "bundle", str(tuned_qa), "--platform", "web", "--out", str(site / "qa-tuned")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((site / "qa-tuned" / "manifest.json").read_text())
    assert manifest["quantization"]["settings"]["recipe"] == json.loads((tuned_qa / "recipe.json").read_text())
    with serve(site) as base:
        result = run_pages(base, {"qa-tuned": {}}, tmp_path)["qa-tuned"]
    assert not result["errors"] and not result["failed_requests"], result
    numbers = selftest_numbers(result["selftest"])
    assert numbers["min_sqnr_db"] >= manifest["spec"]["rule"]["min_sqnr_db"]


def test_tuned_model_selftests_in_the_android_core(tuned_qa, tmp_path):
    from test_android_bundle import SELFTEST, bundle, compiled_java, record

    assets = bundle(tuned_qa, tmp_path / "assets")  # model.ort, checked against golden in onnxruntime first
    manifest = json.loads((assets / "manifest.json").read_text())
    assert manifest["bundle"]["model_file"] == "model.ort" and manifest["quantization"]["settings"]["recipe"]
    recorded = record(assets, tmp_path / "recorded.json")
    env = {**os.environ, "PRELNEDGE_JAVA_CLASSES": str(compiled_java())}
    done = subprocess.run(["bash", str(SELFTEST), str(assets), str(recorded)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("SELFTEST PASS examples=4"), done.stdout

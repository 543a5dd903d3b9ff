"""The web page runs onnxruntime-web multi-threaded when cross-origin isolated (served by the bundle's
serve.py, which sends COOP/COEP) and single-threaded from a plain static server, passing its golden
self-test both ways. Headless Debian Chromium via playwright-core, as tests/test_web_bundle.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from test_web_bundle import cli, run_pages, serve
from web_support import require_node_modules


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, default_onnx_export) -> Path:
    require_node_modules("onnxruntime-web", "playwright-core")
    root = tmp_path_factory.mktemp("web-threads")
    cli("bundle", str(default_onnx_export("qa")), "--platform", "web", "--out", str(root / "qa"))
    return root


@contextmanager
def isolated_server(bundle_dir: Path) -> Iterator[str]:
    """The bundle's own serve.py on a free port; its base URL (one folder above the page, as serve())."""
    proc = subprocess.Popen([sys.executable, str(bundle_dir / "serve.py"), "--port", "0",
                             "--directory", str(bundle_dir.parent)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert match, f"serve.py printed {line!r}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def pages(bundle, tmp_path_factory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("browser-threads")
    with isolated_server(bundle / "qa") as base:
        isolated = run_pages(base, {"qa": {"threads": True}}, work)["qa"]
    with serve(bundle) as base:
        plain = run_pages(base, {"qa": {"threads": True}}, work)["qa"]
    return {"isolated": isolated, "plain": plain}


def test_the_bundle_ships_the_isolating_server(bundle):
    facts = json.loads((bundle / "qa" / "manifest.json").read_text())["bundle"]
    assert "serve.py" in facts["files"]
    assert "thread" in facts["backend"]


def test_an_isolated_page_runs_threaded_and_passes_its_self_test(pages):
    page = pages["isolated"]
    assert page["errors"] == [] and page["failed_requests"] == [], page
    assert page["isolated"] is True
    assert page["selftest"].startswith("SELFTEST PASS"), page["selftest"]
    # every logical core up to 4; this machine's Chromium reports at least 2
    assert isinstance(page["wasm_threads"], int) and page["wasm_threads"] >= 2, page
    # onnxruntime's pool: numThreads - 1 pthread workers, all from the shipped ort-wasm-simd-threaded.mjs
    assert page["workers"] >= page["wasm_threads"] - 1, page
    assert {p.rsplit("/", 1)[-1] for p in page["requests"] if "/ort/" in p} <= {
        "ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"}


def test_a_plain_server_page_runs_single_threaded_and_passes_its_self_test(pages):
    page = pages["plain"]
    assert page["errors"] == [] and page["failed_requests"] == [], page
    assert page["isolated"] is False
    assert page["selftest"].startswith("SELFTEST PASS"), page["selftest"]
    assert page["wasm_threads"] == 1 and page["workers"] == 0, page

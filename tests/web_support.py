"""Helpers for the browser-runtime tests: node, Chromium, the runtime's npm packages, UTF-16 offsets.

A missing tool is a failure, never a skip: `make web-deps` installs all three (Chromium from apt,
the npm packages from runtimes/web/package-lock.json), and CI runs it before the tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[1] / "runtimes" / "web"
CHROMIUM = Path("/usr/bin/chromium")
FIX = "run `make web-deps` (apt-get install chromium; npm ci --prefix runtimes/web)"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail(f"node is not installed; the browser runtime's tests need Node.js 18+ ({FIX})")
    return found


def require_node_modules(*packages: str) -> None:
    for package in packages:
        if not (WEB / "node_modules" / package / "package.json").is_file():
            pytest.fail(f"runtimes/web/node_modules/{package} is missing; {FIX}")


def require_chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing; the web bundle's tests drive it headless; {FIX}")
    return CHROMIUM


def run_node(script: str, *args: str, timeout: float = 120) -> str:
    """Run a script under runtimes/web/test with node; its stdout, or a failure with its stderr."""
    proc = subprocess.run([node(), str(WEB / "test" / script), *args], cwd=WEB, capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"node {script} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.stdout


def run_js_tokenizer(tokenizer_json: Path, max_tokens: int, items: list[dict], work: Path) -> list:
    """One node process for the whole batch (see runtimes/web/test/tokenize_cli.mjs)."""
    request = work / "tokenize-request.json"
    request.write_text(json.dumps({"tokenizer": str(tokenizer_json), "max_tokens": max_tokens, "items": items},
                                  ensure_ascii=False), encoding="utf-8")
    return json.loads(run_node("tokenize_cli.mjs", str(request)))


def utf16_units(text: str) -> list[int]:
    """units[i]: the UTF-16 index of code point i of `text` (len(text) + 1 entries)."""
    units = [0]
    for ch in text:
        units.append(units[-1] + (2 if ord(ch) > 0xFFFF else 1))
    return units


def utf16_offsets(text: str, offsets) -> list[list[int]]:
    """Python's code-point offsets into `text` as UTF-16 code units (what the JS runtime reports)."""
    units = utf16_units(text)
    return [[units[a], units[b]] for a, b in offsets]

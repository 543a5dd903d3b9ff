"""docs/modes.md is the registry's own table: a mode added, a floor moved or a refusal changed in
prelnedge/quantize/__init__.py without rebuilding the page fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prelnedge.quantize import MODES
from prelnedge.verify import tolerances

ROOT = Path(__file__).resolve().parents[1]


def test_docs_page_is_what_the_command_prints_now():
    printed = subprocess.run([sys.executable, "-m", "prelnedge.cli", "info", "--modes"], capture_output=True,
                             text=True, check=True, cwd=ROOT).stdout
    assert (ROOT / "docs" / "modes.md").read_text(encoding="utf-8") == printed, (
        "docs/modes.md is stale: rebuild it with `prelnedge info --modes > docs/modes.md`")


def test_every_mode_has_a_row_with_its_own_floor():
    page = (ROOT / "docs" / "modes.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| onnx ") or line.startswith("| tflite ")]
    assert len(rows) == len(MODES)
    for row, mode in zip(rows, MODES):
        assert row.startswith(f"| {mode.target} | `{mode.name}` |")
        assert f"SQNR >= {mode.tolerance.min_sqnr_db:g} dB" in row
    int8_full = next(row for row in rows if "`int8-full`" in row)
    # the refusals come from the registry's own functions, reasons included
    assert "`causal-lm`" in int8_full and "`multiple-choice`" in int8_full and "`flax` export" in int8_full
    assert f"SQNR >= {tolerances.INT8_FULL.min_sqnr_db:g} dB" in int8_full

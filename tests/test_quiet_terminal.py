"""The libraries' start-up and converter chatter stays off the terminal; real warnings do not."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prelnedge.progress import Progress
from prelnedge.quiet import captured_stderr, is_noise

ROOT = Path(__file__).resolve().parents[1]
# One line of each kind seen on a terminal before this was fixed (TF 2.21, ORT 1.32, LiteRT 2.3).
KNOWN_NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795697919.185351   15211 port.cc:153] oneDNN custom operations are on. You may see ...",
    "I0000 00:00:1795697919.186318   15211 cudart_stub.cc:31] Could not find cuda drivers on your machine",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, output_inference_type: FLOAT32",
    "WARNING:root:Please consider to run pre-processing before quantization. Refer to example: https://...",
    "2026-11-26 12:58:20,999 onnxruntime.quantization.matmul_nbits_quantizer [WARNING] - The opset of the input "
    "model is under 21 and doesn't support int4 data type. Force to update it to opset 21, but the generated model "
    "may not be a valid model.",
    "2026-11-26 12:58:20,999 onnxruntime.quantization.matmul_nbits_quantizer [INFO] - skip to quantize node_cumsum ...",
    "WARNING:onnxruntime.quantization.matmul_nbits_quantizer:The opset of the input model is under 21 and doesn't "
    "support int4 data type. Force to update it to opset 21, but the generated model may not be a valid model.",
    "INFO:onnxruntime.quantization.matmul_nbits_quantizer:skip to quantize node_cumsum ...",
]
# What the user must still see.
REAL = [
    "prelnedge: warning: checkpoint X has no 'classifier' weights for task token-classification",
    "W0000 00:00:1.0   1 convert.cc:42] op tf.Foo could not be lowered",
    "error: 'tf.Cumsum' op is neither a custom op nor a flex op",
]


@pytest.mark.parametrize("line", KNOWN_NOISE)
def test_known_noise_is_recognised(line):
    assert is_noise(line)


@pytest.mark.parametrize("line", REAL)
def test_real_warnings_are_not_noise(line):
    assert not is_noise(line)


def _write_fd2(text: str) -> None:
    sys.stderr.flush()
    os.write(2, text.encode())  # as C++ code does, below Python's sys.stderr


def test_stage_keeps_its_line_and_writes_real_warnings_after_it(capfd):
    stream = io.StringIO()
    with Progress(total=1, enabled=True, stream=stream).stage("converting"):
        _write_fd2(KNOWN_NOISE[1] + "\n" + REAL[1] + "\n" + KNOWN_NOISE[3] + "\n")
    assert stream.getvalue().startswith("[1/1] converting ... done (")
    assert stream.getvalue().splitlines()[1:] == [REAL[1]]
    assert capfd.readouterr().err == ""


def test_a_crash_shows_everything_captured(capfd):
    with pytest.raises(RuntimeError):
        with captured_stderr():
            _write_fd2(KNOWN_NOISE[3] + "\n")
            raise RuntimeError("converter crashed")
    assert KNOWN_NOISE[3] in capfd.readouterr().err


def _stderr_of(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "prelnedge.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": ""})
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_quantizing_export_prints_no_library_noise(tmp_path):
    """A real quantizing export through TF's start-up, the TFLite converter and LiteRT: stderr (not a
    terminal, so no progress lines) stays empty."""
    err = _stderr_of("export", "--task", "qa", "--target", "tflite", "--quantize", "int8-static",
                     "--out", str(tmp_path / "q"))
    assert err == ""


@pytest.mark.heavy
def test_quantizing_report_prints_no_library_noise(tmp_path):
    """Every noisy library in one run, ORT's static and int4 quantizers included."""
    err = _stderr_of("report", "--task", "qa", "--targets", "onnx", "tflite", "--modes", "int8-static", "int4",
                     "--out", str(tmp_path / "r"))
    assert err == ""

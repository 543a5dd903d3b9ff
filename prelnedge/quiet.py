"""Keep the libraries' start-up chatter off the user's terminal, and their real warnings on it.

TensorFlow, LiteRT and ONNX Runtime write to the process's stderr from C++ (absl logging, printf) as
well as through Python logging, so the only place to catch all of it is file descriptor 2. During a
stage, fd 2 points at a temporary file; afterwards each captured line that is not known noise is
written back to stderr, and after a crash everything is (it may explain the crash; a user error or a
validation failure keeps its one line). `--debug` turns capturing off.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from typing import Callable, Iterator

# Each pattern is a line the libraries print on every run that tells the user nothing about their model.
NOISE = tuple(re.compile(pattern) for pattern in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"^I\d{4} [\d:.]+\s+\d+ \S+\] ",  # absl INFO lines: oneDNN notes, CUDA probes, converter steps
    r"^W\d{4} [\d:.]+\s+\d+ (cudart_stub|cuda_|gpu_|port)\S*\] ",  # no-GPU probes
    r"^E\d{4} [\d:.]+\s+\d+ cuda_\S*\] ",  # "failed call to cuInit": there is no GPU to find
    # The TFLite converter's notes on options it ignores and metadata it leaves to the exporter, printed on
    # every conversion; they show when TF_CPP_MIN_LOG_LEVEL is 1 (JAX sets that default when imported first).
    r"^W\d{4} [\d:.]+\s+\d+ (tf_tfl_flatbuffer_helpers|flatbuffer_export)\.cc:\d+\] "
    r"(Ignored (output_format|drop_control_dependency)|Skipping runtime version metadata)",
    r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.",
    r"^fully_quantize: \d+, inference_type: \d+, input_inference_type: ",  # the TFLite converter's settings dump
    r"^(WARNING:root:)?Please consider (to run )?pre-processing before quantization",
    r"^INFO:onnxruntime\.quantization\.|onnxruntime\.quantization\.\S+ \[INFO\] - ",  # either log format
    r"onnxruntime\.quantization\.matmul_nbits_quantizer.{1,14}The opset of the input model is under 21",
    r"^WARNING:absl:.*(compiled the loaded model|were not saved|Importing a function)",
    r"^\s*$",
))

_capturing = False
enabled = True  # the CLI sets this to False for --debug


def is_noise(line: str) -> bool:
    return any(pattern.search(line) for pattern in NOISE)


@contextmanager
def captured_stderr(stream=None, before_emit: Callable[[bool], None] | None = None) -> Iterator[None]:
    """Send fd 2 to a temporary file for the block; write back what is not noise (all after a crash).
    `before_emit(raised)` runs once fd 2 is back, before that text (a progress line ends there)."""
    global _capturing
    if not enabled or _capturing:
        with _then(before_emit):
            yield
        return
    stream = stream or sys.stderr
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ else 2
        saved = os.dup(fd)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreter): nothing to catch
        with _then(before_emit):
            yield
        return
    failed = raised = False
    with tempfile.TemporaryFile(mode="w+b") as sink:
        _flush()
        os.dup2(sink.fileno(), fd)
        _capturing = True
        try:
            yield
        except BaseException as exc:
            from prelnedge.errors import UserError, ValidationError

            raised = True
            failed = not isinstance(exc, (UserError, ValidationError))  # a crash: show what might explain it
            raise
        finally:
            _flush()
            os.dup2(saved, fd)
            os.close(saved)
            _capturing = False
            sink.seek(0)
            text = sink.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if failed or not is_noise(line)]
            if before_emit is not None:
                before_emit(raised)
            if kept:
                print("\n".join(kept), file=stream, flush=True)


@contextmanager
def _then(callback: Callable[[bool], None] | None) -> Iterator[None]:
    try:
        yield
    except BaseException:
        if callback is not None:
            callback(True)
        raise
    if callback is not None:
        callback(False)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass

"""Every user mistake is one line on stderr naming what is wrong, exit code 2, no traceback, and
nothing written: one table of (command, expected fragment), one harness.

The files the commands point at (a calibration line with the wrong type, a model whose vocabulary is
smaller than its tokenizer's, random bytes in a weights file, a manifest or baseline with fields
missing) are written once per session into the `bad` folder; `{bad}` in a command stands for it.
Commands run in-process (`prelnedge.cli.main`) from an empty folder, so the harness can also check
that nothing appeared anywhere under it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from prelnedge.checkpoint.load import default_model_dir

# The embedded model's tokenizer size (it equals its vocab_size); the small-vocabulary model keeps 25 rows fewer.
TOKENIZER_SIZE = json.loads((default_model_dir() / "config.json").read_text())["vocab_size"]
SMALL_VOCAB = TOKENIZER_SIZE - 25
from prelnedge.cli import main

ROOT = Path(__file__).resolve().parents[1]
LONG = " ".join(["lamp"] * 200)  # longer than the embedded model's 128 tokens


@pytest.fixture(scope="session")
def bad(tmp_path_factory) -> Path:
    from safetensors.numpy import load_file, save_file

    folder = tmp_path_factory.mktemp("bad")
    (folder / "answers.jsonl").write_text('{"question": "q?", "context": "c.", "answers": 5}\n')
    (folder / "calibration.jsonl").write_text('"a calibration sentence"\n')

    # A model with fewer vocabulary rows than the embedded model's tokenizer has tokens.
    small = folder / "small-vocab"
    shutil.copytree(default_model_dir(), small)
    config = json.loads((small / "config.json").read_text())
    (small / "config.json").write_text(json.dumps({**config, "vocab_size": SMALL_VOCAB}))
    state = load_file(small / "model.safetensors")
    save_file({k: v[:SMALL_VOCAB] if v.shape[0] == TOKENIZER_SIZE else v for k, v in state.items()}, small / "model.safetensors")

    noise = np.random.default_rng(0).bytes(4096)
    (folder / "random-bin").mkdir()
    shutil.copy(default_model_dir() / "config.json", folder / "random-bin" / "config.json")
    (folder / "random-bin" / "pytorch_model.bin").write_bytes(noise)
    (folder / "model.pt").write_bytes(noise)

    (folder / "no-task").mkdir()
    (folder / "no-task" / "manifest.json").write_text(json.dumps({"format": "prelnedge-artifact/1", "target": "onnx"}))
    (folder / "baseline.json").write_text(json.dumps({"format": "prelnedge-report/1", "task": "qa"}))
    (folder / "baseline-cells.json").write_text(json.dumps(
        {"format": "prelnedge-report/1", "task": "qa", "cells": [{"target": "onnx", "mode": "fp16", "status": "ok"}]}))
    (folder / "baseline-task.json").write_text(json.dumps({"format": "prelnedge-report/1", "task": "base", "cells": []}))
    not_utf8 = b'{"format": "prelnedge-artifact/1", "task": "qa \xff\xfe"}'
    (folder / "latin1").mkdir()
    (folder / "latin1" / "manifest.json").write_bytes(not_utf8)
    (folder / "baseline-latin1.json").write_bytes(not_utf8.replace(b"artifact", b"report"))
    (folder / "nul-raw.jsonl").write_bytes(b'{"question": "when\x00?", "context": "It opened in 1887."}\n')
    (folder / "nul-escaped.jsonl").write_text('{"question": "when\\u0000?", "context": "It opened in 1887."}\n')
    return folder


EXPORT_QA = ["export", "--task", "qa", "--target", "onnx"]
CASES = [
    # (id, command, fragment of the one error line)
    ("calibration-answers-type", [*EXPORT_QA, "--quantize", "int8-static", "--calibration", "{bad}/answers.jsonl",
                                  "--out", "out"], "answers.jsonl line 1: 'answers' must be a list of strings"),
    ("vocab-smaller-than-tokenizer", [*EXPORT_QA, "--model", "{bad}/small-vocab", "--out", "out"],
     f"has {TOKENIZER_SIZE} tokens but the model's vocabulary (vocab_size in its config) has only {SMALL_VOCAB}"),
    ("out-is-current-folder", [*EXPORT_QA, "--out", ".", "--force"], "output folder . is the current folder"),
    ("out-above-current-folder", [*EXPORT_QA, "--out", "..", "--force"], "is the current folder or holds it"),
    ("out-under-a-file", [*EXPORT_QA, "--out", "{bad}/model.pt/out"], "it is a file, not a folder"),
    ("manifest-fields-missing-validate", ["validate", "{bad}/no-task"], "manifest.json lacks task, framework"),
    ("manifest-fields-missing-predict", ["predict", "{bad}/no-task", "--text", "hi"], "manifest.json lacks task"),
    ("manifest-fields-missing-quantize", ["quantize", "{bad}/no-task", "--quantize", "fp16", "--out", "out"],
     "manifest.json lacks task"),
    ("manifest-fields-missing-bundle", ["bundle", "{bad}/no-task", "--platform", "web", "--out", "out"],
     "manifest.json lacks task"),
    ("baseline-without-cells", ["report", "--task", "qa", "--targets", "onnx", "--modes", "fp16", "--out", "out",
                                "--baseline", "{bad}/baseline.json"], "baseline.json lacks its list of cells"),
    ("baseline-cell-without-outputs", ["report", "--task", "qa", "--targets", "onnx", "--out", "out", "--baseline",
                                       "{bad}/baseline-cells.json"], "cell 0 (onnx:fp16) lacks its outputs' sqnr_db"),
    ("baseline-other-task", ["report", "--task", "qa", "--targets", "onnx", "--out", "out", "--baseline",
                             "{bad}/baseline-task.json"], "the baseline is a base report and this one is qa"),
    ("random-bytes-pytorch-bin", ["info", "--model", "{bad}/random-bin"],
     "random-bin/pytorch_model.bin as a PyTorch state dict: not a PyTorch tensor file"),
    ("random-bytes-fairseq-pt", ["info", "--model", "{bad}/model.pt"],
     "model.pt as a fairseq checkpoint: not a PyTorch tensor file"),
    ("model-is-config-json", ["info", "--model", "{bad}/random-bin/config.json"],
     "config.json is a single file and not a fairseq .pt checkpoint; pass its folder"),
    ("calibration-for-uncalibrated-mode", [*EXPORT_QA, "--quantize", "int8-dynamic", "--calibration",
                                           "{bad}/calibration.jsonl", "--out", "out"],
     "mode int8-dynamic does not calibrate"),
    ("calibration-for-report-without-calibrated-mode",
     ["report", "--task", "qa", "--targets", "onnx", "--modes", "fp16", "--out", "out", "--calibration",
      "{bad}/calibration.jsonl"], "mode fp16 does not calibrate"),
    ("report-bad-calibration-file", ["report", "--task", "qa", "--targets", "onnx", "--modes", "int8-static",
                                     "--out", "out", "--calibration", "{bad}/answers.jsonl"],
     "'answers' must be a list of strings"),
    ("report-vocab-mismatch", ["report", "--task", "qa", "--model", "{bad}/small-vocab", "--targets", "onnx",
                               "--out", "out"], f"has only {SMALL_VOCAB}"),
    ("multiple-choice-second-text", ["predict", "--task", "multiple-choice", "--text", "Bees carry", "--text",
                                     "and", "--choice", "pollen", "--choice", "granite"],
     "multiple-choice takes one --text (the prompt); got 2"),
    ("qa-given-text", ["predict", "--task", "qa", "--question", "q?", "--context", "c.", "--text", "t"],
     "task qa does not read --text"),
    ("classification-given-choices", ["predict", "--task", "sequence-classification", "--text", "t", "--choice",
                                      "a"], "does not read --choice"),
    ("mask-past-the-limit", ["predict", "--task", "fill-mask", "--text", LONG + " <mask>"],
     "a <mask> lies past the model's limit of 128 tokens"),
    ("quantize-without-mode", ["quantize", "{bad}/no-task", "--out", "out"], "quantize needs --quantize MODE"),
    ("manifest-not-utf8-validate", ["validate", "{bad}/latin1"], "manifest.json is not UTF-8 text (byte 0xff"),
    ("manifest-not-utf8-predict", ["predict", "{bad}/latin1", "--text", "hi"], "manifest.json is not UTF-8 text"),
    ("manifest-not-utf8-quantize", ["quantize", "{bad}/latin1", "--quantize", "fp16", "--out", "out"],
     "manifest.json is not UTF-8 text"),
    ("manifest-not-utf8-bundle", ["bundle", "{bad}/latin1", "--platform", "web", "--out", "out"],
     "manifest.json is not UTF-8 text"),
    ("baseline-not-utf8", ["report", "--task", "qa", "--targets", "onnx", "--out", "out", "--baseline",
                           "{bad}/baseline-latin1.json"], "baseline-latin1.json is not UTF-8 text (byte 0xff"),
    ("calibration-raw-nul", [*EXPORT_QA, "--quantize", "int8-static", "--calibration", "{bad}/nul-raw.jsonl",
                             "--out", "out"], "line 1: holds a NUL byte (U+0000) at column 19"),
    ("calibration-escaped-nul", [*EXPORT_QA, "--quantize", "int8-static", "--calibration",
                                 "{bad}/nul-escaped.jsonl", "--out", "out"],
     "line 1: 'question' holds a NUL byte (U+0000) at column 5"),
    ("predict-export-with-framework", ["predict", "{bad}/no-task", "--framework", "tf", "--text", "t"],
     "--framework chooses the float reference"),
]


def run_in(cwd: Path, argv: list[str], capfd) -> tuple[int, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with warnings.catch_warnings():  # as in a shell: warnings are shown, not raised (pytest's setting)
            warnings.simplefilter("default")
            code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    finally:
        os.chdir(old)
    return code, capfd.readouterr().err


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("argv,fragment", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(bad, tmp_path, capfd, argv, fragment):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    before, bad_before = tree(tmp_path), tree(bad)
    code, err = run_in(cwd, [arg.replace("{bad}", str(bad)) for arg in argv], capfd)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("prelnedge"), err
    assert fragment in lines[0], err
    assert "Traceback" not in err and "weights_only" not in err
    assert tree(tmp_path) == before and tree(bad) == bad_before


def test_every_case_names_its_class_once():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


# ---- input a command would drop: a warning line, and the answer --------------------------------------
@pytest.mark.parametrize("argv,warning", [
    (["predict", "--task", "sequence-classification", "--text", "short", "--text", LONG],
     "text 2 is longer than the model's limit of 128 tokens; the answer is based on its first 128 tokens only"),
    (["predict", "--task", "token-classification", "--text", LONG],
     "the text is longer than the model's limit of 128 tokens; the answer is based on tags for its first 128"),
    (["predict", "--task", "fill-mask", "--text", "<mask> " + LONG], "the text is longer than the model's limit"),
    (["predict", "--task", "sequence-classification", "--text", "a fine day", "--top-k", "2"],
     "--top-k has no effect on task sequence-classification"),
    (["predict", "--task", "qa", "--question", "when was it opened \udcff\udcfe?", "--context", "It opened in 1887."],
     "--question holds bytes that are not UTF-8 text; they were read as the replacement character U+FFFD"),
], ids=["classification", "token-classification", "fill-mask", "top-k-unused", "question-not-utf8"])
def test_dropped_input_is_said_on_stderr(tmp_path, capfd, argv, warning):
    code, err = run_in(tmp_path, argv, capfd)
    assert code == 0, err
    assert f"prelnedge: warning: {warning}" in err


# ---- --debug, read-only file systems: in a child process ------------------------------------------------
def cli(*args, cwd=ROOT, prefix=()):
    return subprocess.run([*prefix, sys.executable, "-m", "prelnedge.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": ""})


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_works_before_or_after_the_subcommand(where):
    args = ["info", "--model", "/no/such/dir"]
    proc = cli(*(["--debug", *args] if where == "before" else [*args, "--debug"]))
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "does not exist" in proc.stderr


def _read_only_mount(folder: Path) -> list[str] | None:
    """A command prefix that runs its command with `folder` as a read-only tmpfs in a private mount
    namespace (nothing outside the child sees it), or None where this machine cannot make one."""
    for prefix in (["unshare", "-rm"], ["unshare", "-m"]):
        if shutil.which(prefix[0]) is None:
            return None
        wrap = [*prefix, "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{folder}" && touch "{folder}/x" 2>/dev/null; '
                                     f'test $? -ne 0']
        if subprocess.run(wrap, capture_output=True).returncode == 0:
            return [*prefix, "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{folder}" && exec "$@"', "sh"]
    return None


@pytest.mark.parametrize("command", [
    [*EXPORT_QA, "--out", "{ro}/out"],
    ["bundle", "{export}", "--platform", "web", "--out", "{ro}/out"],
    ["report", "--task", "qa", "--targets", "onnx", "--modes", "fp16", "--out", "{ro}/out"],
], ids=["export", "bundle", "report"])
def test_read_only_output_is_refused_before_any_work(tmp_path, command):
    ro = tmp_path / "ro"
    ro.mkdir()
    prefix = _read_only_mount(ro)
    if prefix is None:
        pytest.skip("no read-only mount possible here (unshare -m / -rm not permitted); as root, permission "
                    "bits alone cannot make a folder unwritable")
    export = tmp_path / "export"
    export.mkdir()
    (export / "manifest.json").write_text("{}")  # never read: the output is checked first
    proc = cli(*[a.replace("{ro}", str(ro)).replace("{export}", str(export)) for a in command], prefix=prefix)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and f"cannot write under {ro}: the file system is read-only" in lines[0], proc.stderr

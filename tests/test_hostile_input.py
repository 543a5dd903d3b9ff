"""Hostile and tampered inputs (issue 28, section 2): none may run code, read outside the folder it
names, allocate what its config claims before the weights are checked, or end in a traceback. Each
refusal is one line on stderr with exit code 2, and nothing is written or lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prelnedge.cli import main
from prelnedge.hashing import sha256_file

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "prelnedge.cli"]


@pytest.fixture(scope="module")
def qa_export(default_onnx_export) -> Path:
    return default_onnx_export("qa")


def run_cli(args: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_refusal(code: int, err: str) -> str:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


# ---- manifest names that escape the folder ----------------------------------------------------------
@pytest.fixture()
def escaping_export(qa_export, tmp_path):
    """name -> an export whose manifest lists an outside file (with its right sha256) under that name."""
    outside = tmp_path / "outside.txt"
    outside.write_text("a user's private file")

    def make(kind: str) -> tuple[Path, str]:
        folder = tmp_path / "exports" / kind
        shutil.copytree(qa_export, folder)
        name = {"dotdot": "../../outside.txt", "absolute": str(outside), "symlink": "notes.txt"}[kind]
        if kind == "symlink":
            (folder / "notes.txt").symlink_to(outside)
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"][name] = sha256_file(outside)
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return folder, name
    return make


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
@pytest.mark.parametrize("command", ["validate", "bundle", "quantize", "predict"])
def test_manifest_names_outside_the_folder_are_refused(command, kind, escaping_export, tmp_path, capsys):
    folder, name = escaping_export(kind)
    args = {"validate": ["validate", folder],
            "bundle": ["bundle", folder, "--platform", "web", "--out", tmp_path / "b"],
            "quantize": ["quantize", folder, "--quantize", "int8-dynamic", "--out", tmp_path / "q"],
            "predict": ["predict", folder, "--question", "q?", "--context", "c."]}[command]
    err = one_line_refusal(*run_cli(args, capsys)[::2])
    assert f"lists {name!r}" in err and "only files inside its folder" in err
    assert not (tmp_path / "b").exists() and not (tmp_path / "q").exists()


# ---- bytes that are not UTF-8 on the command line, and a closed stdout --------------------------------
QUESTION = ["predict", "--task", "qa", "--context", "The stone bridge over the river Ashby was opened in 1887."]


def test_question_bytes_that_are_not_utf8_are_replaced_and_said(tmp_path):
    done = subprocess.run([*CLI, *QUESTION, "--question", b"When was the bridge \xff\xfe opened?"], cwd=tmp_path,
                          capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"--question holds bytes that are not UTF-8 text" in done.stderr and b"Traceback" not in done.stderr
    assert "answer" in json.loads(done.stdout)


def test_a_closed_stdout_ends_quietly(tmp_path):
    proc = subprocess.Popen([*CLI, *QUESTION, "--question", "When was the bridge opened?"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    proc.stdout.close()  # `prelnedge predict ... | true`: the reader is gone before the answer is written
    err = proc.stderr.read().decode(errors="replace")
    assert proc.wait(timeout=300) == 141, err  # 128 + SIGPIPE, as `yes | true` ends
    assert err == "", err


# ---- pickles that would run code ------------------------------------------------------------------------
class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling this calls os.system (pickled as posix.system)
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("layout", ["fairseq-model.pt", "hf-pytorch_model.bin"])
def test_a_pickle_that_runs_code_is_refused_naming_what_it_loads(layout, tmp_path, capsys):
    import torch

    from prelnedge.checkpoint.load import default_model_dir

    marker = tmp_path / "it-ran"
    if layout == "fairseq-model.pt":
        model = tmp_path / "model.pt"
    else:
        model = tmp_path / "hf"
        model.mkdir()
        shutil.copy(default_model_dir() / "config.json", model / "config.json")
    torch.save({"model": {"x": torch.zeros(2)}, "args": _RunsCode(marker)},
               model if model.suffix == ".pt" else model / "pytorch_model.bin")
    err = one_line_refusal(*run_cli(["info", "--model", model], capsys)[::2])
    assert "load posix.system" in err and "save a plain state dict of tensors" in err, err
    assert "weights_only" not in err and "safe_globals" not in err and "trust" not in err, err
    assert not marker.exists()


# ---- configs whose sizes would exhaust memory -----------------------------------------------------------
@pytest.fixture(scope="module")
def headless(tmp_path_factory) -> Path:
    """The embedded model without its classifier and pooler: loading it for sequence-classification
    initialises a (hidden x hidden) dense layer from the config's sizes."""
    from safetensors.numpy import load_file, save_file

    from prelnedge.checkpoint.load import default_model_dir

    folder = tmp_path_factory.mktemp("headless")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        shutil.copy(default_model_dir() / name, folder / name)
    state = load_file(default_model_dir() / "model.safetensors")
    save_file({k: v for k, v in state.items() if not k.startswith(("classifier.", "qa_outputs.", "lm_head."))
               and ".pooler." not in k}, folder / "model.safetensors")
    return folder


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))  # far below what the configs claim


@pytest.mark.parametrize("sizes,fragment", [
    ({"hidden_size": 10**7, "num_hidden_layers": 100_000, "vocab_size": 10**10},
     "config field vocab_size=10000000000 is invalid; allowed: a positive integer up to 16,777,216"),
    ({"hidden_size": 10**7}, "config field hidden_size=10000000 is invalid"),
    # within the limits but not the weights' sizes: the weights say so before any head is made
    ({"hidden_size": 32768, "num_attention_heads": 4, "vocab_size": 10**6},
     "shape mismatch against config.json: roberta_prelayernorm.embeddings.word_embeddings.weight"),
], ids=["all-absurd", "hidden-absurd", "hidden-not-the-weights"])
def test_absurd_sizes_are_refused_before_anything_is_built(sizes, fragment, headless, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(headless, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, **sizes}))
    done = subprocess.run([*CLI, "info", "--model", str(model), "--task", "sequence-classification"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, preexec_fn=_limit_memory)
    err = one_line_refusal(done.returncode, done.stderr)
    assert fragment in err and "initialised" not in err, err


# ---- the embedded model is an input too ------------------------------------------------------------------
@pytest.mark.parametrize("where", ["default_model/out", "default_model", "data/out", "package"])
@pytest.mark.parametrize("command", ["export", "report", "quantize"])
def test_output_inside_the_installed_package_is_refused(command, where, qa_export, capsys):
    from prelnedge.checkpoint.load import default_model_dir

    package = default_model_dir().parent
    out = package if where == "package" else package / where
    def files():  # byte-code caches aside: importing a stage may write one
        return sorted(str(p) for p in package.rglob("*") if "__pycache__" not in p.parts)

    before = files()
    args = {"export": ["export", "--task", "qa", "--target", "onnx"],
            "report": ["report", "--task", "qa", "--targets", "onnx", "--modes", "fp32"],
            "quantize": ["quantize", qa_export, "--quantize", "fp16"]}[command]
    err = one_line_refusal(*run_cli([*args, "--out", out, "--force"], capsys)[::2])
    assert "would write over prelnedge's installed package" in err, err
    assert files() == before


@pytest.mark.parametrize("command", ["validate", "predict", "export"])
def test_paths_that_are_not_utf8_are_refused_in_one_line(command, qa_export, tmp_path, capsys):
    """Bytes that are not UTF-8 in a folder name reach Python as lone surrogates, which ONNX Runtime and
    LiteRT cannot take as a path (a TypeError traceback before)."""
    odd = tmp_path / os.fsdecode(b"exp-\xff")
    if command != "export":
        shutil.copytree(qa_export, odd)
    args = {"validate": ["validate", odd], "predict": ["predict", odd, "--question", "q?", "--context", "c."],
            "export": ["export", "--task", "qa", "--target", "onnx", "--out", odd]}[command]
    err = one_line_refusal(*run_cli(args, capsys)[::2])
    assert "exp-\\xff" in err and "not UTF-8" in err, err

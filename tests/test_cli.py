"""The command line: light start-up, one-line errors with exit code 2, predict for every task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prelnedge.tasks import TASKS

CLI = [sys.executable, "-m", "prelnedge.cli"]
ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "tensorflow", "jax")


def run(*args, check_exit=None):
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": ""})
    if check_exit is not None:
        assert proc.returncode == check_exit, proc.stderr
    return proc


@pytest.mark.parametrize("code", [
    "import prelnedge",
    "from prelnedge.cli import build_parser; build_parser().format_help()",
    "import prelnedge.checkpoint.load, prelnedge.runtime.tokenizer, prelnedge.verify.compare, prelnedge.runtime.postprocess",
])
def test_light_imports(code):
    probe = f"{code}\nimport sys\nprint([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_tasks():
    out = run("predict", "--help", check_exit=0).stdout
    for name in TASKS:
        assert name in out


def test_help_describes_the_embedded_model_as_trained_for_demonstration():
    from prelnedge.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "untrained" not in text
    assert "demonstration model embedded in the package (trained on generated data" in text


QA = ["--question", "When was the lamp electrified?",
      "--context", "The lamp was first fuelled by whale oil and was finally electrified in 1931."]


@pytest.mark.parametrize("args,needle", [
    (["info", "--model", "/no/such/dir"], "does not exist"),
    (["predict", "--task", "translation"], "invalid choice: 'translation'"),
    (["predict", "--task", "qa", "--question", "q"], "needs --question and --context"),
    (["predict", "--task", "masked-lm", "--text", "no mask here"], "needs a --text containing <mask>"),
    (["predict", "--task", "multiple-choice", "--text", "p", "--choice", "a"], "at least two --choice"),
    (["predict", "--task", "sequence-classification"], "needs --text"),
    (["predict", "--task", "fill-mask", "--text", "a <mask>", "--top-k", "0"], "--top-k must be at least 1"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    proc = run(*args, check_exit=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0] and lines[0].startswith("prelnedge")
    assert "Traceback" not in proc.stderr


def test_bad_config_in_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "roberta-prelayernorm", "hidden_act": "relu"}))
    proc = run("info", "--model", str(tmp_path), check_exit=2)
    assert "config field hidden_act='relu' is invalid; allowed: one of ['gelu']" in proc.stderr
    debug = run("--debug", "info", "--model", str(tmp_path))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_info_reports_default_model():
    data = json.loads(run("info", "--json", check_exit=0).stdout)
    assert data["format"] == "hf" and data["config"]["model_type"] == "roberta-prelayernorm"
    assert data["parameters"] > 100_000 and data["initialized"] == []


def test_predict_qa_answers_from_context():
    out = json.loads(run("predict", "--task", "question-answering", "--json", *QA, check_exit=0).stdout)
    context = QA[3]
    assert out["answer"] == context[out["start"]:out["end"]] and out["answer"]
    assert 0 < out["score"] <= 1


@pytest.mark.parametrize("task,args", [
    ("base", ["--text", "hello there", "--text", "bees"]),
    ("masked-lm", ["--text", "The lamp was <mask> in 1931."]),
    ("causal-lm", ["--text", "The river Ashby"]),
    ("sequence-classification", ["--text", "a fine day", "--text", "rain again"]),
    ("token-classification", ["--text", "Marta Oyelaran kept the lighthouse in Harwick."]),
    ("multiple-choice", ["--text", "Bees carry", "--choice", "pollen", "--choice", "granite"]),
])
def test_predict_every_task(task, args):
    top_k = ["--top-k", "3"] if task.endswith("-lm") else []
    proc = run("predict", "--task", task, "--json", *top_k, *args, check_exit=0)
    out = json.loads(proc.stdout)
    assert proc.stderr == ""  # every head is trained: nothing initialised, nothing to warn about
    if task == "masked-lm":
        assert len(out[0][0]["candidates"]) == 3
    elif task == "multiple-choice":
        assert out["choice"] == "pollen" and abs(sum(out["scores"]) - 1) < 1e-5
    elif task == "sequence-classification":
        assert [r["label"] in ("negative", "positive") for r in out] == [True, True]
    elif task == "token-classification":
        assert "".join(t["token"] for t in out[0]) == "MartaOyelarankeptthelighthouseinHarwick."
        # the default model's entity tags (BIO over PER/LOC/DATE/QTY): a person, a place, nothing else
        tagged = [(t["token"], t["label"][2:]) for t in out[0] if t["label"] != "O"]
        assert "".join(tok for tok, kind in tagged if kind == "PER") == "MartaOyelaran"
        assert [tok for tok, kind in tagged if kind != "PER"] == ["Harwick"] and tagged[-1][1] == "LOC"

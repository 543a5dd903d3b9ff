"""Our ONNX export folders load, unedited, in optimum-onnx's ORTModelFor* classes for the six encoder
tasks and reproduce the export's own outputs.

optimum-onnx pins transformers<4.58, so it lives in a venv of its own (.venvs/hf4, see client_venvs.py)
and runs in a subprocess (tests/optimum_client.py). The batches: the export's golden example (real tokenized text)
and random padded batches of several sizes and lengths.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from client_venvs import ROOT, client_python
from conftest import config_for
from hf_factory import random_batch
from prelnedge.runtime.sessions import open_session
from prelnedge.tasks import TASKS
from prelnedge.verify.compare import compare_outputs
from prelnedge.verify.tolerances import tolerance

ENCODER_TASKS = [name for name, task in TASKS.items() if not task.causal]


def batches(task_name: str, folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    example = json.loads((folder / "golden.json").read_text())["examples"][0]
    made = [(np.asarray(example["input_ids"], np.int64), np.asarray(example["attention_mask"], np.int64))]
    rng = np.random.default_rng(3)
    choices = 2 if task_name == "multiple-choice" else None
    for lengths in ([7], [3, 12, 5]):
        made.append(random_batch(config_for(task_name), lengths, rng, choices=choices))
    return made


@pytest.fixture(scope="module")
def optimum_runs(exports, tmp_path_factory):
    """task -> (our runtime's outputs per batch, optimum's saved outputs), one subprocess for all tasks."""
    python = client_python("hf4")
    work = tmp_path_factory.mktemp("optimum")
    jobs, ours = [], {}
    for task_name in ENCODER_TASKS:
        folder = exports(task_name, "onnx", "torch")
        session = open_session(folder / "model.onnx")
        made = batches(task_name, folder)
        ours[task_name] = [session.run(ids, mask) for ids, mask in made]
        np.savez(work / f"{task_name}-in.npz", **{f"{key}_{k}": value for k, (ids, mask) in enumerate(made)
                                                  for key, value in (("input_ids", ids), ("attention_mask", mask))})
        jobs.append({"task": task_name, "folder": str(folder), "inputs": str(work / f"{task_name}-in.npz"),
                     "outputs": str(work / f"{task_name}-out.npz")})
    (work / "jobs.json").write_text(json.dumps(jobs))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)  # nothing of ours or of the main venv leaks into the client
    run = subprocess.run([str(python), str(ROOT / "tests/optimum_client.py"), str(work / "jobs.json")],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, f"optimum client failed:\n{run.stderr[-3000:]}"
    return {job["task"]: (ours[job["task"]], dict(np.load(job["outputs"]))) for job in jobs}


@pytest.mark.parametrize("task_name", ENCODER_TASKS)
def test_optimum_loads_the_export_and_reproduces_it(optimum_runs, task_name):
    ours, theirs = optimum_runs[task_name]
    task = TASKS[task_name]
    # optimum's feature-extraction class returns last_hidden_state only; every other field must be there
    required = ["last_hidden_state"] if task_name == "base" else list(task.output_names)
    for k, outputs in enumerate(ours):
        for name in required:
            assert f"{name}_{k}" in theirs, f"{theirs['class']} returned no {name}"
        compare_outputs({name: theirs[f"{name}_{k}"] for name in required}, {name: outputs[name] for name in required},
                        tolerance("fp32-export").peak_rel, label=f"{theirs['class']} vs our runner (batch {k})")

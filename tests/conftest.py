"""Shared fixtures: HF checkpoints written by `transformers` for each task, and their exports, once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The test models are tiny (hidden 128 or less), so PyTorch's second OpenMP thread buys nothing, while on a
# busy 2-core machine its spin-waits cost a lot: the held-out multiple-choice metric (20 examples) took 9.7 s
# with 2 threads and 0.13 s with 1. Set before torch starts its pool; subprocesses (the CLI tests) inherit it.
# A caller's own OMP_NUM_THREADS wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402 - after the thread setting

from hf_factory import TEST_CONFIG, save_hf_checkpoint  # noqa: E402
from prelnedge.export import ExportConfig, export  # noqa: E402
from prelnedge.tasks import TASKS  # noqa: E402

# In case torch was imported before this file (a plugin, the warning filter's module): the env var is then late.
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def config_for(task_name: str):
    # HF's QA head has config.num_labels outputs and splits them into start/end: it needs 2.
    return TEST_CONFIG.replace(labels=("start", "end")) if task_name == "qa" else TEST_CONFIG


@pytest.fixture(scope="session")
def exports(hf_checkpoints, tmp_path_factory):
    """(task, target, framework) -> OUT, exported once per session on first use
    (shared by the export tests and the client tests that load the same folders)."""
    cache: dict = {}
    base = tmp_path_factory.mktemp("exports")

    def get(task_name: str, target: str, framework: str) -> Path:
        key = (task_name, target, framework)
        if key not in cache:
            folder, _ = hf_checkpoints[task_name]
            cache[key] = export(ExportConfig(task=task_name, target=target, framework=framework, model=folder,
                                             out=base / "-".join(key))).folder
        return cache[key]

    return get


@pytest.fixture(scope="session")
def hf_checkpoints(tmp_path_factory):
    """task name -> (folder, live HF model that wrote it)."""
    made = {}
    for i, (name, task) in enumerate(TASKS.items()):
        folder = tmp_path_factory.mktemp(f"hf-{name}")
        made[name] = (folder, save_hf_checkpoint(folder, config_for(name), task, seed=100 + i))
    return made


@pytest.fixture(scope="session")
def default_onnx_export(tmp_path_factory):
    """task name -> a float ONNX export of the embedded default model, made once per session (the
    web-bundle and transformers.js tests share them)."""
    import warnings

    from prelnedge.checkpoint.load import HeadInitializedWarning
    from prelnedge.export import ExportConfig, export

    root = tmp_path_factory.mktemp("default-onnx")
    made = {}

    def get(task: str):
        if task not in made:
            with warnings.catch_warnings():
                # the default model has a QA and a classifier head only; other heads start random,
                # which these runtime-parity tests do not mind (both sides run the same export)
                warnings.simplefilter("ignore", HeadInitializedWarning)
                made[task] = export(ExportConfig(task=task, target="onnx", out=root / task)).folder
        return made[task]
    return get

"""`prelnedge report`: the quantization matrix (targets x modes) for one model and task, measured in
one run, and the regression gate against an earlier report (its rules: prelnedge.verify.gate).

Each cell is an artifact made by the export and quantize stages (prelnedge.report.cells, pure
functions of their content-hashed inputs, run by prelnedge.executor here or on a Ray cluster): its
size, its fidelity against the float reference (error statistics and task agreement, from the
stage's own validation) and, with --eval, the task metric. Latency (median of repeated batch-1
calls) is timed afterwards on the driver: all cells in one process, interleaved, nothing else
running, so the ratios between cells are what the numbers are for.
"""

from __future__ import annotations

import json
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prelnedge.errors import UserError
from prelnedge.report.cells import EXPORT_CELL, FLOAT, QUANTIZE_CELL
from prelnedge.timing import interleave, machine
from prelnedge.verify.gate import baseline_problem, check_comparable, gate, gate_settings

LATENCY_ROUNDS = 15


@dataclass(frozen=True)
class ReportConfig:
    task: str
    out: Path
    model: Path | None = None
    targets: tuple[str, ...] = ("onnx", "tflite")
    modes: tuple[str, ...] | None = None  # None: every mode of each target
    eval_file: Path | None = None
    calibration: Path | None = None
    baseline: Path | None = None
    force: bool = False
    executor: str = "local"  # prelnedge.executor.BACKENDS
    cpus_per_cell: int = 1  # threads per cell, here or on Ray (the same count gives the same figures)
    retries: int = 2


def plan(cfg: ReportConfig) -> list[tuple[str, str]]:
    """(target, mode) cells, refusing unknown names before any work; modes a target or task cannot
    take are left out of that target's row (the registry's reason goes into the report)."""
    from prelnedge.export import TARGETS
    from prelnedge.quantize import MODES, mode_names

    for target in cfg.targets:
        if target not in TARGETS:
            raise UserError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")
    if cfg.modes is not None:
        known = {FLOAT, *mode_names()}
        for mode in cfg.modes:
            if mode not in known:
                raise UserError(f"unknown mode {mode!r}; allowed: {', '.join(sorted(known))}")
    cells = []
    for target in cfg.targets:
        cells.append((target, FLOAT))
        for mode in MODES:
            if mode.target == target and (cfg.modes is None or mode.name in cfg.modes):
                cells.append((target, mode.name))
    return cells


def _latency(models: dict, ids: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Median ms per batch-1 call, cells interleaved round by round (order rotated) so machine noise
    hits all alike (prelnedge.timing)."""
    calls = {key: (lambda model=model: model(ids, mask)) for key, model in models.items()}
    return {key: timing.median_ms() for key, timing in interleave(calls, LATENCY_ROUNDS).items()}


def report_cells(cfg: ReportConfig, task_name: str, cells: list[tuple[str, str]], eval_file: Path | None) -> list:
    """The executor's cells: a float export per target, and each mode as a quantization of it."""
    from prelnedge.executor import After, Cell

    common = {"task": task_name, "checkpoint": cfg.model, "eval_file": eval_file}
    made = []
    for target, mode in cells:
        if mode == FLOAT:
            made.append(Cell.make(EXPORT_CELL, f"{target}:{mode}", target=target, **common))
        else:
            made.append(Cell.make(QUANTIZE_CELL, f"{target}:{mode}", mode=mode, float_export=After(f"{target}:{FLOAT}"),
                                  calibration=cfg.calibration, **common))
    return made


def run_report(cfg: ReportConfig, progress=None) -> dict:
    from prelnedge.artifact import check_target
    from prelnedge.executor import ExecutorConfig, open_executor
    from prelnedge.progress import Progress
    from prelnedge.examples import load_examples, packaged_eval_file
    from prelnedge.tasks import get_task

    task = get_task(cfg.task)
    cells = plan(cfg)
    executor_cfg = ExecutorConfig(backend=cfg.executor, cpus_per_cell=cfg.cpus_per_cell, retries=cfg.retries)
    # Every input is checked here, before the first cell's export starts.
    baseline = _read_baseline(cfg.baseline) if cfg.baseline else None
    if baseline is not None:
        check_comparable(baseline, task.name, None)  # the model once the checkpoint is read, below
    inputs = (cfg.model, cfg.eval_file, cfg.calibration, cfg.baseline)  # OUT may not be, hold or lie inside them
    check_target(cfg.out, cfg.force, inputs)
    # The embedded default model is judged on its own held-out set unless told otherwise.
    eval_file = cfg.eval_file or (packaged_eval_file(task) if cfg.model is None else None)
    eval_examples = load_examples(eval_file, task, what="evaluation") if eval_file else None
    progress = progress or Progress(total=1)
    # The executor connects (an unreachable cluster is refused) before the checkpoint is even read.
    # OUT is claimed from the start; the cells' folders are named by this process, so that a later
    # report removes them if this one is killed.
    with open_executor(executor_cfg) as executor:
        _check_model_and_calibration(cfg, task, cells, baseline)
        report = _run_cells(cfg, task, cells, eval_file, eval_examples, baseline, inputs, executor, progress)
    return report


def _run_cells(cfg, task, cells, eval_file, eval_examples, baseline, inputs, executor, progress) -> dict:
    from prelnedge.artifact import REPORT_FORMAT, ModelArtifact, ReportArtifact, atomic_folder, tool_versions, write_json
    from prelnedge.output_folder import output_lock, owned_temp_dir
    from prelnedge.progress import CellBar
    from prelnedge.examples import encode_example
    from prelnedge.report.render import write_outputs
    from prelnedge.runtime.sessions import load_exported

    results = {f"{target}:{mode}": {"target": target, "mode": mode} for target, mode in cells}
    artifacts = {}
    model_sha256 = None
    with output_lock(cfg.out), owned_temp_dir(Path(tempfile.gettempdir()), ".prelnedge-report-") as tmp:
        with CellBar(f"{len(cells)} cells on {executor.description}", progress.enabled, progress.stream) as bar:
            for outcome in executor.run(report_cells(cfg, task.name, cells, eval_file), into=tmp, progress=bar):
                cell = results[outcome.name]
                cell["status"] = outcome.status
                if outcome.status != "ok":
                    cell["reason"] = outcome.reason
                    if outcome.fault:
                        cell["fault"] = True
                else:
                    cell.update(outcome.figures)
                    artifacts[outcome.name] = ModelArtifact.read(outcome.folder)
                    if model_sha256 is None:  # every cell is made from one checkpoint; its hash names the model
                        model_sha256 = artifacts[outcome.name].source.sha256
                        if baseline is not None:
                            check_comparable(baseline, task.name, model_sha256)
                cell["run"] = {"key": outcome.key, "node": outcome.node, "attempts": outcome.attempts,
                               "seconds": round(outcome.seconds, 3) if outcome.seconds is not None else None}
        timed_on = socket.gethostname()
        with progress.stage("timing every cell side by side"):
            # after the parallel part, here on the driver, one process, nothing else running
            models = {key: load_exported(artifact.folder, threads=1) for key, artifact in artifacts.items()}
            if models:
                any_model = next(iter(models.values()))
                ids, mask = _timing_input(task, any_model, encode_example)
                for key, ms in _latency(models, ids, mask).items():
                    results[key].update({"latency_ms": ms, "latency_input": list(ids.shape)})
        report = {"format": REPORT_FORMAT, "task": task.name,
                  "model": str(cfg.model) if cfg.model else "embedded default model",
                  "model_sha256": model_sha256,
                  "eval_file": str(eval_file) if eval_file else None,
                  "eval_examples": len(eval_examples) if eval_examples is not None else None,
                  "gate": gate_settings(),
                  "executor": executor.description,
                  "latency_timed_on": f"{timed_on} (the driver, after every cell finished, cells interleaved)",
                  "machine": machine(),  # the CPU the latency column was timed on
                  "cells": list(results.values()), "tool_versions": tool_versions()}
        regressions = gate(report, baseline) if baseline is not None else []
        report["baseline"] = ({"path": str(cfg.baseline), "model": baseline["model"],
                               "model_sha256": baseline.get("model_sha256"), "regressions": regressions}
                              if baseline is not None else None)
        with atomic_folder(cfg.out, cfg.force, inputs) as work:
            write_json(work / "report.json", report)
            write_outputs(report, work)
            # a manifest like every prelnedge folder's, so that --force can tell the folder is ours
            ReportArtifact(work, task.name).write(work)
    return report


def _check_model_and_calibration(cfg: ReportConfig, task, cells: list[tuple[str, str]], baseline: dict | None) -> None:
    """The checkpoint loads for this task (and its tokenizer fits it) and is the baseline's model; a
    calibration file is read by some chosen mode and parses. A cell would otherwise record these as
    its own refusal, or the gate refuse the baseline after all the work."""
    import warnings

    from prelnedge.checkpoint.load import load_checkpoint
    from prelnedge.quantize import get_mode
    from prelnedge.examples import load_examples
    from prelnedge.quantize import check_calibration_used

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cells' own exports report initialised heads
        checkpoint = load_checkpoint(cfg.model, task)
    if baseline is not None:
        check_comparable(baseline, task.name, checkpoint.source_sha256)
    if cfg.calibration is not None:
        check_calibration_used(cfg.calibration, [get_mode(target, mode) for target, mode in cells if mode != FLOAT])
        if checkpoint.tokenizer_dir is None:
            raise UserError(f"{checkpoint.source_path} has no tokenizer, so --calibration text cannot be tokenized")
        load_examples(cfg.calibration, task)


def _timing_input(task, model, encode_example):
    from prelnedge.examples import default_examples

    if model.tokenizer is not None:
        return encode_example(model.tokenizer, task, default_examples(task)[0])
    from prelnedge.verify.fidelity import evaluation_batches

    return evaluation_batches(task, None, model.config, [])[1]


def _read_baseline(path: Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"baseline {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"baseline {path} is not JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"baseline {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                        f"{exc.start}); give the report.json prelnedge report wrote") from None
    if not isinstance(data, dict) or data.get("format") != "prelnedge-report/1":
        raise UserError(f"baseline {path} is not a prelnedge report.json")
    problem = baseline_problem(data)
    if problem:
        raise UserError(f"baseline {path} {problem}; make it with prelnedge report")
    return data

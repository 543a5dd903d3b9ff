"""`prelnedge report`: the quantization matrix (targets x modes) for one model and task, measured in
one run, and the regression gate against an earlier report (its rules: prelnedge.verify.gate).

Each cell is an artifact made by the export and quantize stages: its size, its fidelity against the
float reference (error statistics and task agreement, from the stage's own validation), its
latency (median of repeated batch-1 calls, all cells timed in the same process, interleaved, so the
ratios between cells are what the numbers are for) and, with --eval, the task metric.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prelnedge.errors import UserError, ValidationError
from prelnedge.timing import interleave, machine
from prelnedge.verify.gate import baseline_problem, check_comparable, gate, gate_settings

FLOAT = "fp32"  # the float export itself, one cell per target
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


def run_report(cfg: ReportConfig, progress=None) -> dict:
    from prelnedge.artifact import REPORT_FORMAT, ReportArtifact, atomic_folder, check_target, tool_versions, write_json
    from prelnedge.export import ExportConfig, export
    from prelnedge.verify.fidelity import task_metric
    from prelnedge.output_folder import output_lock, owned_temp_dir
    from prelnedge.progress import Progress
    from prelnedge.quantize import check_mode
    from prelnedge.examples import encode_example, load_examples, packaged_eval_file
    from prelnedge.quantize.stage import quantize_folder
    from prelnedge.report.render import write_outputs
    from prelnedge.runtime.sessions import load_exported
    from prelnedge.tasks import get_task

    task = get_task(cfg.task)
    cells = plan(cfg)
    # Every input is checked here, before the first cell's export starts.
    baseline = _read_baseline(cfg.baseline) if cfg.baseline else None
    if baseline is not None:
        check_comparable(baseline, task.name, None)  # the model once the checkpoint is read, below
    inputs = (cfg.model, cfg.eval_file, cfg.calibration, cfg.baseline)  # OUT may not be, hold or lie inside them
    check_target(cfg.out, cfg.force, inputs)
    # The embedded default model is judged on its own held-out set unless told otherwise.
    eval_file = cfg.eval_file or (packaged_eval_file(task) if cfg.model is None else None)
    eval_examples = load_examples(eval_file, task, what="evaluation") if eval_file else None
    _check_model_and_calibration(cfg, task, cells, baseline)
    progress = progress or Progress(total=len(cells) + 1)
    results, artifacts = [], {}
    model_sha256 = None
    # OUT is claimed from the start; the cells' folders are named by this process, so that a later
    # report removes them if this one is killed
    with output_lock(cfg.out), owned_temp_dir(Path(tempfile.gettempdir()), ".prelnedge-report-") as tmp:
        for target, mode in cells:
            key = f"{target}:{mode}"
            cell = {"target": target, "mode": mode}
            with progress.stage(f"cell {key}"):
                try:
                    if mode == FLOAT:
                        artifact = export(ExportConfig(task=task.name, target=target, model=cfg.model,
                                                     out=Path(tmp) / f"{target}-{FLOAT}"), progress=_Quiet())
                    else:
                        float_artifact = artifacts[f"{target}:{FLOAT}"]
                        check_mode(target, float_artifact.framework, mode, task.name)
                        artifact = quantize_folder(float_artifact, mode, Path(tmp) / f"{target}-{mode}",
                                                   calibration=cfg.calibration, model=cfg.model, progress=_Quiet())
                except (UserError, ValidationError) as exc:
                    cell.update({"status": "refused" if isinstance(exc, UserError) else "failed", "reason": str(exc)})
                    results.append(cell)
                    continue
                artifacts[key] = artifact
                if model_sha256 is None:  # every cell is made from one checkpoint; its hash names the model
                    model_sha256 = artifact.source.sha256
                    if baseline is not None:
                        check_comparable(baseline, task.name, model_sha256)
                cell.update(_cell_facts(artifact))
                results.append(cell)
        with progress.stage("timing every cell side by side"):
            models = {key: load_exported(artifact.folder, threads=1) for key, artifact in artifacts.items()}
            if models:
                any_model = next(iter(models.values()))
                ids, mask = _timing_input(task, any_model, encode_example)
                latency = _latency(models, ids, mask)
                for cell in results:
                    key = f"{cell['target']}:{cell['mode']}"
                    if key in latency:
                        cell["latency_ms"] = latency[key]
                        cell["latency_input"] = list(ids.shape)
            if eval_examples is not None:
                for cell in results:
                    key = f"{cell['target']}:{cell['mode']}"
                    if key in models and models[key].tokenizer is not None:
                        cell["task_metric"] = task_metric(task, models[key], models[key].tokenizer, eval_examples,
                                                          models[key].config.labels)
        report = {"format": REPORT_FORMAT, "task": task.name,
                  "model": str(cfg.model) if cfg.model else "embedded default model",
                  "model_sha256": model_sha256,
                  "eval_file": str(eval_file) if eval_file else None,
                  "eval_examples": len(eval_examples) if eval_examples is not None else None,
                  "gate": gate_settings(),
                  "cells": results, "tool_versions": tool_versions(),
                  "machine": machine()}  # where the latency column was timed
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


class _Quiet:
    """A progress sink for the stages run inside one report cell (the report shows the cell)."""

    def stage(self, name):
        from contextlib import nullcontext

        return nullcontext()


def _cell_facts(artifact) -> dict:
    from prelnedge.artifact import read_json

    validation = read_json(artifact.folder / "validation.json")
    size = artifact.model_path.stat().st_size
    facts = {"status": "ok", "size_bytes": size, "framework": artifact.framework}
    if artifact.quantized:
        from prelnedge.quantize import get_mode

        cost = get_mode(artifact.target, artifact.quantization.mode).cpu_cost
        if cost:
            facts["cpu_cost"] = cost
        fidelity = validation["fidelity"]
        facts.update({"outputs": fidelity["outputs"], "agreement": fidelity["agreement"],
                      "examples": fidelity["examples"], "size_ratio": artifact.quantization.size_ratio})
    else:
        facts.update({"outputs": validation["worst"], "agreement": {}, "size_ratio": 1.0})
    facts["min_sqnr_db"] = min(stats["sqnr_db"] for stats in facts["outputs"].values())
    return facts


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

"""The report's cells as pure functions of their inputs, run by prelnedge.executor on this machine or
on a Ray worker: a float export per target, a quantization of it per mode. Each writes its artifact
at `out` and returns its figures: size, fidelity against the float reference (from the stage's own
validation) and, with an evaluation file, the task metric. Latency is not a cell's figure: it is
timed by the driver once every cell is done (prelnedge.report.build), never beside other work.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

FLOAT = "fp32"  # the float export itself, one cell per target
EXPORT_CELL = "prelnedge.report.cells:export_cell"
QUANTIZE_CELL = "prelnedge.report.cells:quantize_cell"
METRIC_THREADS = 1  # the metric's sessions: one thread, as on the driver before cells could travel


class _Quiet:
    """A progress sink for the stages run inside one cell (the report's bar shows the cell)."""

    def stage(self, name):
        return nullcontext()


def export_cell(out: Path, *, task: str, target: str, checkpoint: Path | None = None,
                eval_file: Path | None = None) -> dict:
    from prelnedge.export import ExportConfig, export

    artifact = export(ExportConfig(task=task, target=target, model=checkpoint, out=out), progress=_Quiet())
    return cell_figures(artifact, eval_file)


def quantize_cell(out: Path, *, task: str, mode: str, float_export: Path, checkpoint: Path | None = None,
                  calibration: Path | None = None, eval_file: Path | None = None) -> dict:
    from prelnedge.artifact import ModelArtifact
    from prelnedge.quantize import check_mode
    from prelnedge.quantize.stage import QuantizeConfig, run_quantize

    float_artifact = ModelArtifact.read(float_export, check_files=True)
    check_mode(float_artifact.target, float_artifact.framework, mode, task)
    artifact = run_quantize(QuantizeConfig(float_artifact, mode, out, calibration=calibration, model=checkpoint),
                            progress=_Quiet())
    return cell_figures(artifact, eval_file)


def cell_figures(artifact, eval_file: Path | None) -> dict:
    from prelnedge.artifact import read_json
    from prelnedge.hashing import sha256_file

    validation = read_json(artifact.folder / "validation.json")
    size = artifact.model_path.stat().st_size
    facts = {"status": "ok", "size_bytes": size, "framework": artifact.framework,
             "model_file_sha256": sha256_file(artifact.model_path)}
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
    if eval_file is not None:
        metric = _task_metric(artifact, eval_file)
        if metric is not None:
            facts["task_metric"] = metric
    return facts


def _task_metric(artifact, eval_file: Path) -> dict | None:
    from prelnedge.examples import load_examples
    from prelnedge.runtime.sessions import load_exported
    from prelnedge.tasks import get_task
    from prelnedge.verify.fidelity import task_metric

    task = get_task(artifact.task)
    model = load_exported(artifact.folder, threads=METRIC_THREADS)
    if model.tokenizer is None:
        return None
    examples = load_examples(eval_file, task, what="evaluation")
    return task_metric(task, model, model.tokenizer, examples, model.config.labels)

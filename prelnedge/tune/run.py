"""`prelnedge tune EXPORT --quantize MODE --out OUT` with one budget: the driver.

Refuses before any work (bad budget, a metric the task lacks, labels missing for --max-drop, a mode
the export cannot take, OUT unusable); then searches (prelnedge.tune.search) with every candidate
evaluated by prelnedge.tune.candidate through the on-disk cache, validates the kept recipe with the
quantize stage (against the float reference, under the mode's floors), measures plain and tuned
models on held-out examples the search never saw, and writes OUT: the quantized folder (its manifest
records the recipe) plus recipe.json, tune.json, tune.md, tune.html and the plots. When nothing short of
float meets the budget, OUT is the search's report alone (tune.json, tune.md, tune.html, the plots; the
best candidate measured on the held-out examples too; no model) and the run ends with BudgetUnreachable:
the user sees the frontier that says why. Only this driver writes OUT.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from prelnedge.errors import UserError, ValidationError
from prelnedge.tune.budget import MAX_DROP, Budget

TUNE_FORMAT = "prelnedge-tune/1"


class BudgetUnreachable(ValidationError):
    """Nothing short of the float model meets the budget (the CLI's exit code 1); OUT holds the report."""

    def __init__(self, message: str, report: dict | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class TuneConfig:
    export: Path
    mode: str
    out: Path
    budget: Budget
    eval_file: Path | None = None  # None: the packaged held-out set (embedded model) or the corpus
    calibration: Path | None = None
    model: Path | None = None  # the source checkpoint when it moved (the final validation rebuilds float)
    force: bool = False
    cache: Path | None = None  # figures kept by candidate key; None: prelnedge.tune.candidate.default_cache_dir()
    search_examples: int = 100  # examples the search judges on (the held-out set gets as many others)
    ranking_examples: int = 32  # the worst of them, on which units are ranked
    max_candidates: int = 200
    executor: str = "local"  # where candidates are evaluated (prelnedge.executor.BACKENDS)
    cpus_per_cell: int = 1  # threads per candidate, here or on Ray (the same count gives the same figures)
    retries: int = 2

    @property
    def inputs(self) -> tuple[Path | None, ...]:
        """What the run reads: OUT may not be any of them (nor hold one)."""
        return (self.export, self.model, self.eval_file, self.calibration)

    def __post_init__(self) -> None:
        for name in ("search_examples", "ranking_examples", "max_candidates"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1; got {getattr(self, name)}")


@dataclass(frozen=True)
class Plan:
    """What the refusals established: the run can start."""
    artifact: object
    task: object
    budget: Budget
    base: object  # the plain Recipe
    units: list
    search: object  # EvalSet
    held_out: object  # EvalSet
    validation: object  # EvalSet: the examples the quantize stage validates the kept folder on
    eval_source: str
    settings: object  # candidate.Settings


def plan(cfg: TuneConfig) -> Plan:
    """Every refusal, before any quantization."""
    from prelnedge.artifact import ModelArtifact, check_target
    from prelnedge.hashing import sha256_file
    from prelnedge.quantize import check_mode
    from prelnedge.examples import default_examples, load_examples, packaged_eval_file
    from prelnedge.quantize import check_calibration_used
    from prelnedge.quantize.recipe import Recipe
    from prelnedge.quantize.units import onnx_units, tflite_units
    from prelnedge.tasks import get_task
    from prelnedge.tune.candidate import EvalSet, Settings

    artifact = ModelArtifact.read(cfg.export, check_files=True)
    if artifact.quantized:
        raise UserError(f"{cfg.export} is already quantized ({artifact.quantization.mode}); tune a float export")
    task = get_task(artifact.task)
    mode = check_mode(artifact.target, artifact.framework, cfg.mode, task.name)
    base = Recipe(artifact.target, mode.name)  # refuses a mode without recipes, naming those with
    check_calibration_used(cfg.calibration, [mode])
    if artifact.io.static_length and mode.unpadded_only:
        raise UserError(f"mode {mode.name} takes unpadded rows only; a static-shape export pads every row")
    if not artifact.has_tokenizer:
        raise UserError(f"{cfg.export} has no tokenizer, and tune judges candidates on texts")
    budget = cfg.budget.check_task(task).with_floors(mode.tolerance)
    if cfg.eval_file is not None:
        examples, source = load_examples(cfg.eval_file, task, "evaluation"), str(cfg.eval_file)
    elif artifact.source.embedded_default and packaged_eval_file(task) is not None:
        examples, source = load_examples(packaged_eval_file(task), task, "evaluation"), "the packaged held-out set"
    else:
        examples, source = default_examples(task)[1::2], "prelnedge/data/corpus.txt odd lines"
    if budget.kind == MAX_DROP:
        labelled = [e for e in examples if e.answers or e.label is not None or e.entities]
        if not labelled:
            raise UserError(f"--max-drop needs labelled examples ({', '.join(task.judged.metric)}); {source} has "
                            "none: give --eval FILE with labels, or use --min-sqnr DB")
        examples = labelled
    if len(examples) < 2:
        raise UserError(f"{source} holds {len(examples)} example(s); tune needs at least 2 (search and held out)")
    check_target(cfg.out, cfg.force, cfg.inputs)
    if cfg.calibration is not None:
        load_examples(cfg.calibration, task)  # a broken file is refused now, not after the search
    settings = Settings(metric=budget.metric, calibration=str(cfg.calibration) if cfg.calibration else None,
                        calibration_sha256=sha256_file(cfg.calibration) if cfg.calibration else None,
                        checkpoint=str(cfg.model) if cfg.model else None)
    if artifact.target == "onnx":
        units = onnx_units(artifact.model_path, base.unit_ops)
    else:
        from prelnedge.config import PreLNConfig

        layers = PreLNConfig.from_json_file(artifact.folder / "config.json").num_hidden_layers
        units = tflite_units(artifact.model_path, layers)
    return Plan(artifact, task, budget, base, units,
                EvalSet("search", tuple(examples[0::2][:cfg.search_examples])),
                EvalSet("held-out", tuple(examples[1::2][:cfg.search_examples])),
                EvalSet("validation", tuple(default_examples(task)[1::2])), source, settings)


class _Terminal:
    """One line per candidate on stderr when it is a terminal (quiet when piped)."""

    def __init__(self, stream=None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled

    def say(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)

    def step(self, entry: dict) -> None:
        if entry["step"] == "sensitivity":
            self.say(f"  sensitivity {entry['unit']} -> {entry['precision']}: {entry['min_sqnr_db']:.1f} dB"
                     + (f", metric {entry['metric']:.3f}" if entry.get("metric") is not None else "")
                     + (" (cached)" if entry["cached"] else f" ({entry['seconds']:.1f} s)"))
            return
        unit = f" {entry['unit']}" if entry["unit"] else ""
        self.say(f"  candidate {entry['candidate']}: {entry['step']}{unit}: {entry['min_sqnr_db']:.1f} dB"
                 + (f", metric {entry['metric']:.3f}" if entry.get("metric") is not None else "")
                 + f", {entry['size_bytes'] / 2**20:.2f} MiB" + (" MEETS" if entry["meets"] else "")
                 + (f" but {entry['refused']}" if entry.get("refused") else "")
                 + (" (cached)" if entry["cached"] else f" ({entry['seconds']:.1f} s)"))


def run_tune(cfg: TuneConfig, terminal: _Terminal | None = None) -> dict:
    """Search, validate, write OUT; returns tune.json's contents. BudgetUnreachable when nothing short of
    float meets the budget (OUT then holds the search's report and no model). Candidates are executor
    cells (in this process by default, or on Ray); the cache and every decision stay here."""
    from prelnedge.executor import ExecutorConfig, open_executor

    terminal = terminal or _Terminal()
    executor_cfg = ExecutorConfig(backend=cfg.executor, cpus_per_cell=cfg.cpus_per_cell, retries=cfg.retries)
    p = plan(cfg)
    started = time.perf_counter()
    # The executor connects (an unreachable cluster is refused) before the first candidate.
    with open_executor(executor_cfg) as executor, tempfile.TemporaryDirectory(prefix="prelnedge-tune-cells-") as tmp:
        result, chosen, held_out, counts = _search(cfg, p, _evaluator(cfg, p, executor, Path(tmp)), terminal)
    report = _tune_json(cfg, p, result, chosen, held_out, counts, time.perf_counter() - started)
    report["executor"] = executor.description
    if result.chosen is None:
        _write_report_only(cfg, p, report)
        raise BudgetUnreachable(f"{_unreachable(p, result)}; the search's report (no model): {cfg.out / 'tune.html'}",
                                report)
    _write_out(cfg, p, chosen, report, terminal)
    return report


def _evaluator(cfg: TuneConfig, p: Plan, executor, scratch: Path):
    from prelnedge.hashing import sha256_file
    from prelnedge.tune.candidate import CandidateCache, default_cache_dir
    from prelnedge.tune.dispatch import Evaluator

    checkpoint = None
    if p.base.target == "tflite":  # candidates re-quantize from the source checkpoint: it travels with them
        source = cfg.model or (None if p.artifact.source.embedded_default else Path(p.artifact.source.path))
        checkpoint = source if source is not None and Path(source).exists() else None
    return Evaluator(executor, CandidateCache(cfg.cache if cfg.cache is not None else default_cache_dir()),
                     p.artifact.folder, sha256_file(p.artifact.folder / "manifest.json"), p.settings, scratch,
                     checkpoint)


def _search(cfg: TuneConfig, p: Plan, evaluator, terminal: _Terminal):
    """The search, then the held-out figures of float, plain and the kept recipe (or, when nothing meets
    the budget, the best candidate)."""
    from prelnedge.quantize.recipe import Recipe
    from prelnedge.tune.search import search

    sets = {"search": p.search, "held-out": p.held_out, "validation": p.validation}

    def data(name: str):
        if name == "ranking" and "ranking" not in sets:
            sets["ranking"] = _ranking_set(p.search, evaluator.one(p.base, p.search), cfg.ranking_examples)
        return sets[name]

    def evaluate(recipe, data_name: str) -> dict:
        return evaluator.one(recipe, data(data_name))

    def evaluate_many(requests):
        return evaluator.many([(recipe, data(name)) for recipe, name in requests])

    terminal.say(f"tune {p.artifact.task} {p.base.target} {p.base.mode}: {len(p.units)} units, budget "
                 f"{p.budget.describe()}, {len(p.search.examples)} search examples from {p.eval_source}")

    def confirm(recipe) -> str:
        """The quantize stage validates the kept folder on its own examples against the mode's floors."""
        figures = evaluate(recipe, "validation")
        if p.budget.clears_floors(figures):
            return ""
        worst = min(figures["agreement"].items(), key=lambda item: item[1])
        return (f"under the {p.base.mode} floors on the quantize stage's examples ({figures['min_sqnr_db']:.1f} dB, "
                f"{worst[0]} {worst[1]:.3f})")

    result = search(p.units, p.base, p.budget, evaluate, max_candidates=cfg.max_candidates,
                    on_step=terminal.step, confirm=confirm, evaluate_many=evaluate_many)
    # kept, or when nothing meets the budget the best reached: measured held out all the same
    chosen = Recipe.from_json((result.chosen or result.best())["recipe"])
    names = ("float", "plain", "tuned" if result.chosen else "best")
    terminal.say(f"{'kept' if result.chosen else 'budget not met; best'}: {chosen.describe()}; measuring held-out examples")
    held = dict(evaluate_many([(None, "held-out"), (p.base, "held-out"), (chosen, "held-out")]))
    return result, chosen, {name: held[i] for i, name in enumerate(names)}, evaluator.counts


def _unreachable(p: Plan, result) -> str:
    """The one line: the best the search reached, on the search set."""
    best = result.best()
    reached = (f"{best['min_sqnr_db']:.1f} dB" if p.budget.kind != MAX_DROP else
               f"{p.budget.metric} drop {result.float_figures['metric'] - best['metric']:.3f}")
    return (f"no {p.base.mode} recipe short of float meets {p.budget.describe()}: the best of {len(result.trace)} "
            f"candidates reached {reached} with {len(best['kept_units'])} of {len(p.units)} units kept wider "
            f"({best['size_bytes'] / 2**20:.2f} MiB)")


def _ranking_set(search, plain: dict, size: int):
    """NNCF's ranking subset: the search items the plain quantized model gets most wrong."""
    from prelnedge.tune.candidate import EvalSet

    errors = plain["item_error"]
    worst = sorted(range(len(errors)), key=lambda i: -errors[i])[:size]
    return EvalSet("ranking", tuple(search.examples[i] for i in sorted(worst)))


def _brief(figures: dict, budget: Budget, float_figures: dict | None = None) -> dict:
    out = {"size_bytes": figures["size_bytes"], "min_sqnr_db": figures["min_sqnr_db"], "sqnr_db": figures["sqnr_db"],
           "agreement": figures["agreement"], "examples": figures["examples"]}
    if figures.get("metric") is not None:
        out["metric"] = figures["metric"]
        if float_figures is not None:
            out["drop"] = float_figures["metric"] - figures["metric"]
    return out


def _tune_json(cfg: TuneConfig, p: Plan, result, chosen, held_out: dict, counts: dict, seconds: float) -> dict:
    float_size = p.artifact.model_path.stat().st_size
    budget = p.budget
    return {
        "format": TUNE_FORMAT, "task": p.artifact.task, "target": p.base.target, "mode": p.base.mode,
        "export": str(p.artifact.folder.resolve()),
        "budget": {"kind": budget.kind, "value": budget.value, "metric": budget.metric, "text": budget.describe()},
        "evaluation": {"source": p.eval_source, "search_examples": len(p.search.examples),
                       "held_out_examples": len(p.held_out.examples),
                       "ranking_examples": min(cfg.ranking_examples, len(p.search.examples))},
        "units": [dataclasses.asdict(unit) for unit in p.units],
        "float": _brief(result.float_figures, budget) | {"size_bytes": float_size},
        "plain": result.plain, "sensitivity": result.sensitivity, "trace": result.trace,
        "frontier": [entry["candidate"] for entry in result.frontier()],
        # met: chosen is the kept entry and recipe its recipe; not met: chosen and recipe are None, best the
        # entry that came closest (its held-out figures under "best")
        "met": result.chosen is not None, "chosen": result.chosen,
        "recipe": chosen.to_json() if result.chosen else None, "best": None if result.chosen else result.best(),
        "held_out": {name: _brief(figures, budget, held_out["float"]) for name, figures in held_out.items()},
        "candidates": {"judged": len(result.trace), "sensitivity": len(result.sensitivity), **counts},
        "seconds": round(seconds, 1),
    }


def _write_report_only(cfg: TuneConfig, p: Plan, report: dict) -> None:
    """OUT for a budget nothing meets: the report, with a report manifest (so that --force can tell the
    folder is prelnedge's, and no stage takes it for a model)."""
    from prelnedge.artifact import ReportArtifact, atomic_folder, write_json
    from prelnedge.tune.render import write_documents

    with atomic_folder(cfg.out, cfg.force, cfg.inputs) as work:
        write_json(work / "tune.json", report)
        write_documents(report, work)
        ReportArtifact(work, p.artifact.task).write(work)


def _write_out(cfg: TuneConfig, p: Plan, chosen, report: dict, terminal: _Terminal) -> None:
    from prelnedge.artifact import atomic_folder, write_json
    from prelnedge.quantize.stage import quantize_folder
    from prelnedge.tune.render import write_documents

    with tempfile.TemporaryDirectory(prefix="prelnedge-tune-") as tmp, atomic_folder(cfg.out, cfg.force, cfg.inputs) as work:
        terminal.say("validating the kept recipe against the float reference")
        quantized = quantize_folder(p.artifact, None, Path(tmp) / "q", calibration=cfg.calibration, model=cfg.model,
                                    recipe=chosen)
        for file in quantized.folder.iterdir():
            if file.name != "manifest.json":
                shutil.copy(file, work / file.name)
        report["validation"] = quantized.validation
        write_json(work / "recipe.json", chosen.to_json())
        write_json(work / "tune.json", report)
        write_documents(report, work)
        quantization = dataclasses.replace(quantized.quantization, settings={
            **quantized.quantization.settings, "tune": {"budget": report["budget"]["text"], "report": "tune.json"}})
        dataclasses.replace(quantized, folder=work, quantization=quantization).write(work)

"""The quantize stage: a validated float export folder -> a validated quantized folder.

OUT2 has the float folder's layout (model, config, tokenizer, golden.json with the FLOAT model's
outputs, manifest) plus the fidelity measured against the float reference in validation.json. It
appears only when that fidelity clears the mode's floors (prelnedge.verify.floors).

Like every stage it is one call, `run_quantize(QuantizeConfig, progress) -> artifact`;
`quantize_folder(...)` gives the same config field by field.
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prelnedge.errors import UserError

if TYPE_CHECKING:
    from prelnedge.artifact import ModelArtifact
    from prelnedge.quantize.recipe import Recipe

COPIED = ("config.json", "golden.json", "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")


@dataclass(frozen=True)
class QuantizeConfig:
    """What one quantize run is asked to do (the stage's counterpart of prelnedge.export.ExportConfig)."""
    source: ModelArtifact | Path  # a float export: its artifact, or its folder (read and its files checked)
    mode: str | None  # a mode from prelnedge.quantize.MODES; None: the recipe's
    out: Path
    calibration: Path | None = None  # text to calibrate on (default: the corpus's even lines)
    force: bool = False
    model: Path | None = None  # the source checkpoint, when it moved since the export
    recipe: Recipe | None = None  # mixed precision (prelnedge.quantize.recipe)


def quantize_folder(source: ModelArtifact | Path, mode_name: str | None, out: Path, calibration: Path | None = None,
                    force: bool = False, model: Path | None = None, progress=None,
                    recipe: Recipe | None = None) -> ModelArtifact:
    """run_quantize, its config given field by field."""
    return run_quantize(QuantizeConfig(source, mode_name, out, calibration=calibration, force=force, model=model,
                                       recipe=recipe), progress)


def run_quantize(cfg: QuantizeConfig, progress=None) -> ModelArtifact:
    """A float export -> the quantized artifact written to cfg.out. With a mixed-precision recipe
    (prelnedge.quantize.recipe) the mode is the recipe's, and its units keep the precisions it names."""
    import dataclasses

    from prelnedge.artifact import ModelArtifact, Parent, Quantization, atomic_folder, check_target, write_json
    from prelnedge.config import PreLNConfig
    from prelnedge.checkpoint.load import source_checkpoint
    from prelnedge.verify.fidelity import evaluation_batches
    from prelnedge.verify.decoder import validate_session_cache
    from prelnedge.verify.floors import validate_quantized_artifact
    from prelnedge.progress import Progress
    from prelnedge.quantize import check_calibration_used, check_mode
    from prelnedge.examples import calibration_batches, default_examples, load_examples
    from prelnedge.models import build_forward
    from prelnedge.runtime.sessions import open_session
    from prelnedge.tasks import get_task
    from prelnedge.runtime.tokenizer import PreLNTokenizer

    source, mode_name, calibration, model, recipe = cfg.source, cfg.mode, cfg.calibration, cfg.model, cfg.recipe
    progress = progress or Progress(total=4)
    if not isinstance(source, ModelArtifact):
        source = ModelArtifact.read(source, check_files=True)
    export_dir, out, force = source.folder, Path(cfg.out), cfg.force
    if source.quantization:
        raise UserError(f"{export_dir} is already quantized ({source.quantization.mode}); "
                        "quantize a float export")
    task = get_task(source.task)
    if recipe is not None:
        mode_name = _recipe_mode(recipe, mode_name, source.target)
    mode = check_mode(source.target, source.framework, mode_name, task.name)
    check_calibration_used(calibration, [mode])
    static = source.io.static_length  # a static-shape model (prelnedge.runtime.rows)
    if static and mode.unpadded_only:
        raise UserError(f"mode {mode.name} takes unpadded rows only, and a static-shape model pads every row; "
                        "use fp16 or int8-dynamic for static-shape exports")
    inputs = (export_dir, model, calibration)  # OUT may not be, hold or lie inside any of them
    check_target(out, force, inputs)
    config = PreLNConfig.from_json_file(export_dir / "config.json")
    tok = PreLNTokenizer.from_dir(export_dir, static or config.max_tokens) if source.has_tokenizer else None
    if calibration is not None and tok is None:
        raise UserError(f"{export_dir} has no tokenizer, so --calibration text cannot be tokenized")
    # Calibration and evaluation never share examples: the corpus's even lines calibrate, odd lines
    # judge (prelnedge.verify.floors.validate_quantized_artifact).
    cal_examples = load_examples(calibration, task) if calibration else default_examples(task)[::2]
    cal_batches = calibration_batches(tok, task, cal_examples) if tok else evaluation_batches(task, None, config, [])

    with progress.stage("loading the float reference"):
        checkpoint = source_checkpoint(source, task, model)
        reference = build_forward(source.framework, checkpoint)
    module_name, function = mode.implementation.split(":")
    quantizer = getattr(importlib.import_module(module_name), function)
    with atomic_folder(out, force, inputs) as work:
        with progress.stage(f"quantizing {source.target} {mode.name}"):
            for name in COPIED:
                if (export_dir / name).exists():
                    shutil.copy(export_dir / name, work / name)
            model_file = source.model_file
            if source.target == "onnx" and recipe is not None:
                from prelnedge.quantize.mixed import quantize_onnx_recipe

                info = quantize_onnx_recipe(export_dir / model_file, work / model_file, cal_batches, recipe)
            elif source.target == "onnx":
                info = quantizer(export_dir / model_file, work / model_file, cal_batches)
            else:
                from prelnedge.export.tflite import static_shape

                with static_shape(static):
                    if recipe is not None:
                        from prelnedge.quantize.mixed import quantize_tflite_recipe

                        info = quantize_tflite_recipe(checkpoint, source.framework, work, cal_batches, recipe,
                                                      export_dir / model_file)
                    else:
                        info = quantizer(checkpoint, source.framework, work, cal_batches)
                info = {k: v for k, v in info.items() if k not in ("model_file", "input_dtype")}
        with progress.stage("measuring fidelity against the float reference"):
            session = open_session(work / model_file, static_length=static, task_name=task.name)
            summary = validate_quantized_artifact(session.run, reference, task, config, tok, mode.tolerance,
                                                  f"{mode.name} {source.target} vs float reference",
                                                  static or config.max_tokens)
            thresholds, fidelity = summary["tolerance"], summary["fidelity"]
            cached = validate_session_cache(session, lambda i, m: reference(i, m, False), config, mode.tolerance,
                                            static or config.max_tokens)
        with progress.stage("writing manifest"):
            float_size = (export_dir / model_file).stat().st_size
            size = (work / model_file).stat().st_size
            held_out = "prelnedge/data/corpus.txt odd lines" if tok else "validation ids, unpadded rows"
            summary["evaluation"] = {"examples": fidelity["examples"], "source": held_out}
            if cached is not None:  # a causal-lm decoder with a key/value cache
                summary["cached_decoder"] = cached
            write_json(work / "validation.json", summary)
            quantized = dataclasses.replace(
                source, folder=work,
                quantization=Quantization(
                    mode=mode.name, summary=mode.summary, settings=info,
                    calibration={"source": str(calibration) if calibration else "prelnedge/data/corpus.txt even lines",
                                 "examples": len(cal_batches)} if mode.needs_calibration else None,
                    unpadded_only=mode.unpadded_only, size_bytes=size, float_size_bytes=float_size),
                parent=Parent.of(source),
                validation={"passed": True, "tolerance": thresholds,
                            "worst": {k: v for k, v in fidelity["outputs"].items()},
                            "agreement": fidelity["agreement"]})
            written = quantized.write(work)
    return written.moved_to(out)



def _recipe_mode(recipe: Recipe, mode_name: str | None, target: str) -> str:
    """The recipe's mode, refusing a recipe for another target or a --quantize that says otherwise."""
    if recipe.target != target:
        raise UserError(f"the recipe is for {recipe.target}; this export is {target}")
    if mode_name is not None and mode_name != recipe.mode:
        raise UserError(f"--quantize {mode_name} contradicts the recipe's mode {recipe.mode}; leave --quantize out")
    return recipe.mode

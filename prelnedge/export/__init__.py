"""The export stage: checkpoint -> validated ONNX or TFLite folder.

OUT holds the model file, config.json, the tokenizer files, validation.json, golden.json and
manifest.json. It appears only when the artifact passed validation against the float reference of
its framework.
"""

from __future__ import annotations

import gc
import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prelnedge.errors import UserError

if TYPE_CHECKING:
    from prelnedge.artifact import ModelArtifact

# (target, framework) -> "module:function"; each exporter, exporter(checkpoint, work, cfg) -> info, writes its
# model file into the work folder and returns what the manifest records of the export.
EXPORTERS = {
    ("onnx", "torch"): "prelnedge.export.onnx:export_onnx",
    ("tflite", "tf"): "prelnedge.export.tflite:export_tflite",
    ("tflite", "flax"): "prelnedge.export.jax2tf:export_tflite_flax",
}
# The causal LM exports as a decoder with a key/value cache where the target has that contract.
CACHED_DECODER_EXPORTERS = {("onnx", "torch"): "prelnedge.export.onnx_decoder:export_onnx_decoder"}
TARGETS = ("onnx", "tflite")
DEFAULT_FRAMEWORK = {"onnx": "torch", "tflite": "tf"}


@dataclass(frozen=True)
class ExportConfig:
    task: str
    target: str
    model: Path | None = None  # None: the embedded default model
    framework: str | None = None  # None: DEFAULT_FRAMEWORK[target]
    out: Path | None = None  # None: prelnedge-out/<model>-<task>-<target>-<framework>
    force: bool = False
    keep_savedmodel: bool = False
    quantize: str | None = None  # a mode from prelnedge.quantize.MODES
    calibration: Path | None = None
    static_shape: int | None = None  # tflite from tf: batch 1 and this many tokens (prelnedge.runtime.rows)

    def __post_init__(self) -> None:
        from prelnedge.tasks import get_task

        get_task(self.task)  # an unknown task is refused here, before anything else
        if self.target not in TARGETS:
            raise UserError(f"unknown target {self.target!r}; allowed: {', '.join(TARGETS)}")
        if (self.target, self.resolved_framework) not in EXPORTERS:
            allowed = [fw for (t, fw) in EXPORTERS if t == self.target]
            raise UserError(f"target {self.target} cannot be exported from framework "
                            f"{self.resolved_framework!r}; allowed: {', '.join(allowed)}")
        if self.keep_savedmodel and self.resolved_framework != "flax":
            raise UserError("--keep-savedmodel applies to the flax (jax2tf) path only")
        # quantize and calibration with it are checked by the pipeline that runs them (prelnedge.pipeline)
        if self.quantize is None and self.calibration is not None:
            raise UserError("--calibration needs --quantize MODE")
        if self.static_shape is not None:
            _check_static_shape(self)
        if self.calibration is not None and not Path(self.calibration).is_file():
            raise UserError(f"calibration file {self.calibration} does not exist")

    @property
    def static_suffix(self) -> str:
        return f"-static{self.static_shape}" if self.static_shape else ""

    @property
    def resolved_framework(self) -> str:
        return self.framework or DEFAULT_FRAMEWORK[self.target]

    @property
    def inputs(self) -> tuple[Path | None, ...]:
        """What the run reads: OUT may not be, hold or lie inside any of them."""
        return (self.model, self.calibration)

    @property
    def resolved_out(self) -> Path:
        if self.out is not None:
            return Path(self.out)
        from prelnedge.tasks import get_task

        name = "default" if self.model is None else Path(self.model).resolve().name.removesuffix(".pt")
        suffix = f"-{self.quantize}" if self.quantize else ""
        return Path("prelnedge-out") / (f"{name}-{get_task(self.task).name}-{self.target}-{self.resolved_framework}"
                                         f"{self.static_suffix}{suffix}")


def _check_static_shape(cfg: ExportConfig) -> None:
    """A static shape is for runtimes that cannot resize inputs (LiteRT.js): float TFLite from TF."""
    if cfg.target != "tflite" or cfg.resolved_framework != "tf":
        raise UserError("--static-shape applies to --target tflite --framework tf only (ONNX runtimes resize inputs)")
    if not 1 <= cfg.static_shape <= 4096:
        raise UserError(f"--static-shape {cfg.static_shape}: give the model's fixed length in tokens, 1..4096")


def export(cfg: ExportConfig, progress=None) -> ModelArtifact:
    """Run the float export stage; returns the artifact written to OUT. Raises UserError for bad input,
    ValidationError for a bad artifact. With cfg.quantize, run prelnedge.pipeline.export instead: the
    pipeline that chains export and quantize sits above both stages."""
    if cfg.quantize is not None:
        raise ValueError("ExportConfig.quantize is run by prelnedge.pipeline.export (export, then quantize)")
    return _export_float(cfg, progress)


def _export_float(cfg: ExportConfig, progress=None) -> ModelArtifact:
    from prelnedge.artifact import atomic_folder, check_target, write_json
    from prelnedge.checkpoint.load import TOKENIZER_FILES, load_checkpoint
    from prelnedge.verify.golden import build_golden, build_golden_from_ids
    from prelnedge.progress import Progress
    from prelnedge.models import build_forward
    from prelnedge.runtime.sessions import open_session
    from prelnedge.tasks import get_task
    from prelnedge.runtime.tokenizer import PreLNTokenizer
    from prelnedge.verify.precision import validate_float_artifact
    from prelnedge.verify.decoder import validate_session_cache
    from prelnedge.verify.tolerances import FP32_EXPORT
    from prelnedge.verify.validate import validation_batches

    progress = progress or Progress(total=4)
    task = get_task(cfg.task)
    out = cfg.resolved_out
    check_target(out, cfg.force, cfg.inputs)  # before any slow work
    with progress.stage("loading checkpoint"):
        checkpoint = load_checkpoint(cfg.model, task)
        if cfg.static_shape and cfg.static_shape > checkpoint.config.max_tokens:
            raise UserError(f"--static-shape {cfg.static_shape} is longer than the model's {checkpoint.config.max_tokens} "
                            "tokens (max_position_embeddings - 2)")
    # a static-shape model is tokenized, validated and golden-tested at its own length
    max_tokens = cfg.static_shape or checkpoint.config.max_tokens
    key = (cfg.target, cfg.resolved_framework)
    exporters = CACHED_DECODER_EXPORTERS if checkpoint.task.causal and key in CACHED_DECODER_EXPORTERS else EXPORTERS
    module_name, function = exporters[key].split(":")
    exporter = getattr(importlib.import_module(module_name), function)

    with atomic_folder(out, cfg.force, cfg.inputs) as work:
        with progress.stage(f"exporting {cfg.target} from {cfg.resolved_framework}"):
            info = exporter(checkpoint, work, cfg)
        checkpoint.config.save(work)
        if checkpoint.tokenizer_dir is not None:
            for name in TOKENIZER_FILES:
                if (checkpoint.tokenizer_dir / name).exists():
                    shutil.copy(checkpoint.tokenizer_dir / name, work / name)
        # The reference model is built only now, after the exporter's own model and converter state
        # are gone (Keras objects hold reference cycles, hence the collection): built first, it sat
        # beside the exporter's copy of every weight through the conversion peak (issue 13).
        with progress.stage("validating against the float reference"):
            gc.collect()
            reference = build_forward(cfg.resolved_framework, checkpoint)
            float_forward = lambda i, m: reference(i, m, False)  # noqa: E731
            session = open_session(work / info["model_file"], static_length=cfg.static_shape, task_name=task.name)
            summary = validate_float_artifact(session.run, reference, checkpoint, task, max_tokens)
            cached = validate_session_cache(session, float_forward, checkpoint.config, FP32_EXPORT, max_tokens)
            if cached is not None:  # a causal-lm decoder with a key/value cache
                summary["cached_decoder"] = cached
            write_json(work / "validation.json", summary)
        with progress.stage("writing golden vectors and manifest"):
            if checkpoint.tokenizer_dir is not None:
                tok = PreLNTokenizer.from_dir(checkpoint.tokenizer_dir, max_tokens)
                golden = build_golden(task, tok, float_forward, checkpoint.config.labels)
            else:
                golden = build_golden_from_ids(task, validation_batches(checkpoint.config, task, max_tokens=max_tokens)[1:],
                                               float_forward)
            write_json(work / "golden.json", golden)
            written = _artifact(cfg, checkpoint, task, info, summary, work).write(work)
    return written.moved_to(out)


def _artifact(cfg: ExportConfig, checkpoint, task, info: dict, summary: dict, work: Path) -> ModelArtifact:
    from prelnedge.artifact import IoSpec, ModelArtifact, Source, TensorSpec
    from prelnedge.runtime.rows import static_shape_record

    input_dtype = info["input_dtype"]
    static = static_shape_record(task.name, cfg.static_shape) if cfg.static_shape else None
    return ModelArtifact(
        folder=work, task=task.name, target=cfg.target, framework=cfg.resolved_framework,
        model_file=info["model_file"],
        io=IoSpec(inputs=tuple(TensorSpec(s.name, input_dtype, tuple(s.axes)) for s in task.inputs),
                  outputs=tuple(TensorSpec(s.name, s.dtype, tuple(s.axes)) for s in task.outputs),
                  dynamic_axes=() if static else tuple(sorted({a for s in task.inputs for a in s.axes})),
                  max_tokens=cfg.static_shape or checkpoint.config.max_tokens, static_shape=static),
        export={k: v for k, v in info.items() if k not in ("model_file", "input_dtype")},
        source=Source(path=str(Path(checkpoint.source_path).resolve()), format=checkpoint.source_format,
                      sha256=checkpoint.source_sha256, embedded_default=cfg.model is None,
                      initialized_heads=tuple(checkpoint.initialized)),
        validation={"passed": summary["passed"], "tolerance": summary["tolerance"], "worst": summary["worst"]})

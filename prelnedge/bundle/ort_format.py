"""An ONNX export -> model.ort (ONNX Runtime's flatbuffer format, what ONNX Runtime Mobile loads),
verified in Python before any bundle holds it.

The conversion is onnxruntime's own tool (`onnxruntime.tools.convert_onnx_models_to_ort`) with the
settings it uses for phones: fixed optimizations applied before saving (no runtime replay), ARM as
the target platform (QDQ int8 fusions allowed, the x86-only NCHWc layout left out).

The .ort file is then loaded by onnxruntime in Python and must reproduce
1. the export's golden outputs (the float reference's numbers) under the export's own rule: a float
   export within the fp32-export tolerance, a quantized one above its mode's SQNR floor; and
2. the export's .onnx model on the validation batches (several batch sizes and lengths, padding)
   within the fp32-export tolerance: the conversion may fuse nodes but must not change results.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from pathlib import Path

from prelnedge.errors import UserError, ValidationError

ORT_FILE = "model.ort"
# The .ort flatbuffer's file identifier, at bytes 4..7 (onnxruntime/core/flatbuffers/schema/ort.fbs).
ORT_IDENTIFIER = b"ORTM"


def convert_to_ort(onnx_file: Path, dest: Path) -> Path:
    """Write dest/model.ort from onnx_file with onnxruntime's converter; returns its path."""
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    onnx_file, dest = Path(onnx_file), Path(dest)
    with tempfile.TemporaryDirectory(prefix=".ort-convert-", dir=dest) as tmp:
        # The converter reads every .onnx beside the one it is given when handed a folder, so hand it
        # a folder holding only ours (external weights, if any, stay next to the original).
        source = Path(tmp) / "in" / "model.onnx"
        source.parent.mkdir()
        source.symlink_to(onnx_file.resolve())
        out = Path(tmp) / "out"
        chatter = io.StringIO()
        logger = logging.getLogger("ort_format_model.utils")
        level = logger.level
        logger.setLevel(logging.WARNING)  # it logs every config file it writes at INFO
        try:
            with contextlib.redirect_stdout(chatter):
                convert_onnx_models_to_ort(source, output_dir=out, optimization_styles=[OptimizationStyle.Fixed],
                                           target_platform="arm")
        except Exception as exc:  # the converter raises whatever ONNX Runtime raised
            raise ValidationError(f"onnxruntime could not convert {onnx_file} to the ORT format: {exc}") from exc
        finally:
            logger.setLevel(level)
        converted = out / ORT_FILE
        if not converted.is_file() or converted.read_bytes()[4:8] != ORT_IDENTIFIER:
            raise ValidationError(f"onnxruntime's converter wrote no ORT-format model for {onnx_file}: "
                                  f"{chatter.getvalue().strip()[-300:]}")
        shutil.move(str(converted), dest / ORT_FILE)
    return dest / ORT_FILE


def verify_ort(ort_file: Path, export_dir: Path, manifest: dict) -> dict:
    """Run model.ort against the export's golden outputs and its .onnx model (see the module
    docstring); raise ValidationError naming the output on a miss. Returns the statistics the
    bundle manifest records."""
    from prelnedge.artifact import read_json
    from prelnedge.config import PreLNConfig
    from prelnedge.runtime.sessions import OnnxSession
    from prelnedge.tasks import get_task
    from prelnedge.runtime.generate import cached_step_of
    from prelnedge.verify.replay import replay_golden
    from prelnedge.verify.rules import golden_rule
    from prelnedge.verify.tolerances import FP32_EXPORT
    from prelnedge.verify.validate import validate

    try:
        ort_session = OnnxSession(ort_file)
    except Exception as exc:  # onnxruntime raises its own exception types for a file it cannot load
        raise ValidationError(f"onnxruntime cannot load the converted {ort_file.name}: {exc}") from exc
    limit = FP32_EXPORT.peak_rel
    task = get_task(manifest["task"])
    golden = read_json(export_dir / "golden.json")
    # judged as `prelnedge validate` judges the export itself
    golden_worst = replay_golden(golden, task, ort_session.run, golden_rule(manifest),
                                 label="model.ort on golden example", cached_step=cached_step_of(ort_session))

    onnx_session = OnnxSession(export_dir / manifest["model_file"])
    config = PreLNConfig.from_json_file(export_dir / "config.json")
    # the float validation an export passes, with the .onnx model as the reference
    summary = validate(ort_session.run, onnx_session.run, config, task, FP32_EXPORT,
                       label=f"model.ort vs {manifest['model_file']}")
    onnx_worst = max(worst["peak_rel"] for worst in summary["worst"].values())
    return {"golden_examples": len(golden["examples"]), "golden": golden_worst,
            "vs_onnx_peak_rel": onnx_worst, "vs_onnx_tolerance": limit}


def check_onnx_export(export_dir: Path, manifest: dict) -> Path:
    """The export's .onnx file, or a UserError saying why it cannot become model.ort."""
    model = export_dir / manifest.get("model_file", "")
    if model.suffix != ".onnx" or not model.is_file():
        raise UserError(f"{export_dir} has no ONNX model ({manifest.get('model_file')!r}); export again")
    dtypes = {spec.get("dtype") for spec in manifest.get("io", {}).get("inputs", [])}
    if dtypes != {"int64"}:
        raise UserError(f"{export_dir} has {sorted(map(str, dtypes))} inputs; the app feeds ONNX models int64 "
                        "(prelnedge export --target onnx writes int64)")
    four_bit = _four_bit_tensors(model)
    if four_bit:
        mode = (manifest.get("quantization") or {}).get("mode", "this")
        raise UserError(f"{export_dir} holds 4-bit tensors ({four_bit[0]}, ...) and ONNX Runtime's ORT format cannot "
                        f"store them (onnxruntime rejects the converted file: 'Unsupported tensor data type'); "
                        f"{mode} exports cannot become model.ort: use int8-dynamic, int8-static or fp16 for Android")
    return model


def _four_bit_tensors(model: Path) -> list[str]:
    """Initializers of type INT4/UINT4 (int4 mode's GatherBlockQuantized tables); weights stay on disk."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    kinds = {onnx.TensorProto.INT4, onnx.TensorProto.UINT4}
    return [t.name for t in graph.initializer if t.data_type in kinds]

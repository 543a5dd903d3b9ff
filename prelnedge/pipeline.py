"""The export-then-quantize pipeline: `prelnedge export --quantize MODE`.

The float export (prelnedge.export) goes to a hidden temporary folder beside OUT and the quantize
stage (prelnedge.quantize.stage) turns it into OUT. Chaining two stages sits above both of them, so
neither stage imports the other to do it (issue 27; tests/test_layering.py). Without a mode this is
the float export stage itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prelnedge.errors import UserError
from prelnedge.export import ExportConfig, _export_float

if TYPE_CHECKING:
    from prelnedge.artifact import ModelArtifact

__all__ = ["ExportConfig", "check_quantize", "export"]


def check_quantize(cfg: ExportConfig) -> None:
    """The mode (and its calibration file) against the target, framework and task, before any work."""
    from prelnedge.quantize import check_calibration_used, check_mode, get_mode
    from prelnedge.tasks import get_task

    mode = check_mode(cfg.target, cfg.resolved_framework, cfg.quantize, get_task(cfg.task).name)
    check_calibration_used(cfg.calibration, [mode])
    if cfg.static_shape is not None and get_mode(cfg.target, cfg.quantize).unpadded_only:
        raise UserError(f"--static-shape cannot be combined with --quantize {cfg.quantize}: that mode takes "
                        "unpadded rows only, and a static-shape model pads every row; use fp16 or int8-dynamic")


def export(cfg: ExportConfig, progress=None) -> ModelArtifact:
    """Run the stage; returns the artifact written to OUT. Raises UserError for bad input,
    ValidationError for a bad artifact. With cfg.quantize, the float export goes to a hidden temporary folder beside OUT and the
    quantize stage turns it into OUT."""
    if cfg.quantize is not None:
        check_quantize(cfg)
        return _export_quantized(cfg, progress)
    return _export_float(cfg, progress)


def _export_quantized(cfg: ExportConfig, progress=None) -> ModelArtifact:
    import dataclasses

    from prelnedge.output_folder import check_target, output_lock, owned_temp_dir
    from prelnedge.progress import Progress
    from prelnedge.quantize.stage import QuantizeConfig, run_quantize

    out = cfg.resolved_out
    check_target(out, cfg.force, cfg.inputs)
    if cfg.calibration is not None:  # read it now, not after the float export
        from prelnedge.examples import load_examples
        from prelnedge.tasks import get_task

        load_examples(cfg.calibration, get_task(cfg.task))
    progress = progress or Progress(total=8)
    # OUT is claimed for the whole run (the quantize stage's own claim nests inside this one)
    with output_lock(out), owned_temp_dir(out.parent, f".{out.name}.float-", lock_held=True) as tmp:
        float_cfg = dataclasses.replace(cfg, quantize=None, calibration=None, out=tmp / "float", force=False)
        float_export = _export_float(float_cfg, progress)
        return run_quantize(QuantizeConfig(float_export, cfg.quantize, out, calibration=cfg.calibration,
                                           force=cfg.force, model=cfg.model), progress)

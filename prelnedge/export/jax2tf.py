"""Flax reference -> jax2tf -> TFLite, builtin ops only, batch and sequence polymorphic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prelnedge.checkpoint.load import LoadedCheckpoint
from prelnedge.checkpoint.parked import weights_parked
from prelnedge.export.broadcasts import convert_folding_broadcasts, manifest_entry
from prelnedge.export.tflite import convert_concrete

if TYPE_CHECKING:
    from prelnedge.export import ExportConfig


def convert_flax(checkpoint: LoadedCheckpoint, work: Path, converter_options=None,
                 convert=None) -> tuple[dict, Any, Any]:
    """The Flax reference through jax2tf into work/model.tflite: the float export and the flax
    quantization modes share it. Without a `convert` of its own the jax2tf graph's foldable
    BROADCAST_TOs are removed (LiteRT keeps them as dynamic tensors) and the manifest entry says how
    many. Returns (info, the tf.Module holding the weights as variables, its concrete function)."""
    from prelnedge.models.flax import build_flax_model, to_tf_module

    module, params = build_flax_model(checkpoint)
    holder = to_tf_module(module, params, checkpoint.task)
    del params  # the tf.Variables hold the weights now
    concrete = holder.serve.get_concrete_function()
    folded: dict = {}
    with weights_parked(checkpoint, work / "weights.tmp"):  # the tf.Variables hold them during conversion
        info = convert_concrete(concrete, holder, work, converter_options,
                                convert or convert_folding_broadcasts(folded))
    if "removed" in folded:
        info["optimizations"] = manifest_entry(folded["removed"])
    return info, holder, concrete


def export_tflite_flax(checkpoint: LoadedCheckpoint, work: Path, cfg: ExportConfig) -> dict:
    """The Flax reference through jax2tf; cfg.keep_savedmodel also writes the SavedModel beside it."""
    import tensorflow as tf

    info, holder, concrete = convert_flax(checkpoint, work)
    info["exporter"] = ("jax2tf.convert (polymorphic batch, sequence; weights as variables) -> "
                        + info["exporter"])
    if cfg.keep_savedmodel:
        tf.saved_model.save(holder, str(work / "savedmodel"), signatures={"serving_default": concrete})
        info["savedmodel"] = "savedmodel"
    return info

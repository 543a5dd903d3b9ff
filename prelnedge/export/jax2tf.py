"""Flax reference -> jax2tf -> TFLite, builtin ops only, batch and sequence polymorphic."""

from __future__ import annotations

from pathlib import Path

from prelnedge.checkpoint.load import LoadedCheckpoint
from prelnedge.checkpoint.parked import weights_parked
from prelnedge.export.broadcasts import convert_folding_broadcasts, recorded
from prelnedge.export.tflite import convert_concrete


def export_tflite_flax(checkpoint: LoadedCheckpoint, work: Path, keep_savedmodel: bool = False) -> dict:
    import tensorflow as tf

    from prelnedge.models.flax import build_flax_model, to_tf_module

    module, params = build_flax_model(checkpoint)
    holder = to_tf_module(module, params, checkpoint.task)
    del params  # the tf.Variables hold the weights now
    concrete = holder.serve.get_concrete_function()
    folded: dict = {}
    with weights_parked(checkpoint, work / "weights.tmp"):  # the tf.Variables hold them during conversion
        info = convert_concrete(concrete, holder, work, convert=convert_folding_broadcasts(folded))
    info["optimizations"] = recorded(folded["removed"])
    info["exporter"] = ("jax2tf.convert (polymorphic batch, sequence; weights as variables) -> "
                        + info["exporter"])
    if keep_savedmodel:
        tf.saved_model.save(holder, str(work / "savedmodel"), signatures={"serving_default": concrete})
        info["savedmodel"] = "savedmodel"
    return info

"""TF reference -> TFLite through the TF converter, builtin ops only.

LiteRT's Python interpreter (ai-edge-litert 2.3) has no Flex delegate, so SELECT_TF_OPS is never
enabled: a model that needs it fails here, at conversion, not on a phone.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from prelnedge.checkpoint.load import LoadedCheckpoint

if TYPE_CHECKING:
    from prelnedge.export import ExportConfig

# The static length conversions inside `static_shape(n)` use: the quantize stage re-converts from
# the reference through converter settings that know nothing of shapes (prelnedge.quantize.tflite),
# so a static-shape float export's length reaches serving_function this way.
_STATIC_LENGTH: ContextVar[int | None] = ContextVar("static_length", default=None)


@contextmanager
def static_shape(length: int | None) -> Iterator[None]:
    token = _STATIC_LENGTH.set(length)
    try:
        yield
    finally:
        _STATIC_LENGTH.reset(token)


def serving_function(call, task, static_length: int | None = None):
    """A tf.function with int32 inputs named input_ids / attention_mask, dynamic on every axis
    (or, with static_length, of prelnedge.runtime.rows' static shape), returning a dict keyed by the
    registry's output names (the signature's output names)."""
    import tensorflow as tf

    from prelnedge.runtime.rows import static_input_shape

    static_length = static_length or _STATIC_LENGTH.get()
    rank = len(task.inputs[0].axes)
    shape = static_input_shape(task.name, static_length) if static_length else [None] * rank
    specs = [tf.TensorSpec(shape, tf.int32, name=name) for name in task.input_names]

    @tf.function(input_signature=specs, autograph=False)
    def serve(input_ids, attention_mask):
        out = call(input_ids, attention_mask)
        return {name: out[name] for name in task.output_names}

    return serve


def convert_concrete(function, trackable, work: Path, converter_options=None, convert=None) -> dict:
    """Convert a concrete function with builtin ops only and write model.tflite. `convert` replaces
    `converter.convert()` (a quantizer that calibrates and quantizes in two steps)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], trackable)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if converter_options:
        converter_options(converter)
    blob = convert(converter) if convert else converter.convert()
    (work / "model.tflite").write_bytes(blob)
    return {"model_file": "model.tflite", "input_dtype": "int32", "signature": "serving_default",
            "ops": "TFLITE_BUILTINS", "exporter": "tf.lite.TFLiteConverter.from_concrete_functions"}


def export_tflite(checkpoint: LoadedCheckpoint, work: Path, cfg: ExportConfig) -> dict:
    """The TF reference converted; cfg.static_shape: batch 1 and that many tokens (prelnedge.runtime.rows)."""
    return convert_tf_reference(checkpoint, work, cfg.static_shape)


def convert_tf_reference(checkpoint: LoadedCheckpoint, work: Path, static_length: int | None = None,
                         converter_options=None, convert=None) -> dict:
    """Build the TF reference and convert it through a SavedModel on disk (builtin ops only); writes
    model.tflite. `converter_options` and `convert` as in convert_concrete (the quantize stage's modes).

    Why a SavedModel: the TF model is freed before the converter starts, and the converter reads the
    variables from the SavedModel instead of a frozen in-memory GraphDef copy (issue 13: from a concrete
    function, the base-size float export peaked at 5.4 GiB and the large size passed 12 GiB)."""
    import gc
    import shutil

    import tensorflow as tf

    from prelnedge.checkpoint.parked import weights_parked
    from prelnedge.models.tf import build_tf_model

    model = build_tf_model(checkpoint)
    serve = serving_function(lambda ids, mask: model(ids, mask), checkpoint.task, static_length)
    saved = work / "savedmodel.tmp"
    tf.saved_model.save(model, str(saved), signatures={"serving_default": serve.get_concrete_function()})
    del model, serve
    gc.collect()
    try:
        with weights_parked(checkpoint, work / "weights.tmp"):  # the SavedModel holds them now
            converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serving_default"])
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            if converter_options:
                converter_options(converter)
            blob = convert(converter) if convert else converter.convert()
    finally:
        shutil.rmtree(saved, ignore_errors=True)
    (work / "model.tflite").write_bytes(blob)
    return {"model_file": "model.tflite", "input_dtype": "int32", "signature": "serving_default",
            "ops": "TFLITE_BUILTINS", "exporter": "tf.saved_model.save -> tf.lite.TFLiteConverter.from_saved_model"}

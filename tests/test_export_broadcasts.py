"""prelnedge.export.broadcasts: explicit run-time BROADCAST_TOs before element-wise ops are removed and
the model's outputs stay bit-identical; a broadcast whose consumer needs the full shape is kept."""

from __future__ import annotations

import numpy as np
import pytest

from prelnedge.export.broadcasts import fold_broadcasts

tf = pytest.importorskip("tensorflow")


def _ops(blob) -> list[str]:
    from prelnedge.export.tflite_graph import op_names

    return op_names(bytes(blob))


def _run(blob, x: np.ndarray) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=bytes(blob)).get_signature_runner("serving_default")
    return {k: np.array(v) for k, v in runner(x=x).items()}


@pytest.fixture(scope="module")
def model() -> bytes:
    """Explicit broadcasts to a shape known only at run time, as jax2tf writes them: a scalar and a
    per-row statistic feed element-wise ops (foldable); one output is a broadcast itself and one feeds
    a reduction (both must stay)."""
    @tf.function(input_signature=[tf.TensorSpec([None, None, 4], tf.float32, name="x")], autograph=False)
    def f(x):
        shape = tf.shape(x)
        scale = tf.broadcast_to(tf.constant(0.5), shape)
        row_max = tf.broadcast_to(tf.reduce_max(x, axis=-1, keepdims=True), shape)
        bias = tf.broadcast_to(tf.constant([1.0, -2.0, 3.0, 0.25]), shape)
        y = tf.exp((x - row_max) * scale) / (x * x + bias)
        return {"y": y, "bias": bias, "total": tf.reduce_sum(tf.broadcast_to(tf.constant(2.0), shape), axis=-1)}

    holder = tf.Module()  # a trackable object, so the model gets the serving_default signature
    holder.f = f
    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def test_folding_removes_broadcasts_and_keeps_outputs_exact(model):
    before = _ops(model).count("BROADCAST_TO")
    data = bytearray(model)
    removed = fold_broadcasts(data)
    assert removed >= 2 and _ops(data).count("BROADCAST_TO") == before - removed
    assert _ops(data).count("BROADCAST_TO") >= 1  # the broadcast returned as an output stays
    rng = np.random.default_rng(0)
    for shape in [(1, 1, 4), (3, 7, 4), (2, 50, 4)]:
        x = rng.normal(size=shape).astype(np.float32)
        want, got = _run(model, x), _run(data, x)
        assert want.keys() == got.keys()
        for name in want:
            assert got[name].shape == want[name].shape and np.array_equal(got[name], want[name]), name


def test_folding_twice_changes_nothing(model):
    data = bytearray(model)
    fold_broadcasts(data)
    again = bytearray(data)
    assert fold_broadcasts(again) == 0 and again == data


def test_flax_quantization_records_how_many_broadcasts_it_folded(tmp_path, monkeypatch):
    """A flax fp16 / int8-dynamic model is converted again and folded again: its manifest settings name
    the fold and its count, as the float export's do. The count is checked against the op lists the
    fold saw before and after (a spy around fold_broadcasts), and against the file written."""
    from prelnedge.checkpoint.load import load_checkpoint
    from prelnedge.export import broadcasts
    from prelnedge.export.tflite_graph import op_names
    from prelnedge.quantize.tflite import convert_fp16

    seen = []
    fold = broadcasts.fold_broadcasts

    def spy(data: bytearray) -> int:
        before = op_names(bytes(data)).count("BROADCAST_TO")
        removed = fold(data)
        seen.append((before, op_names(bytes(data)).count("BROADCAST_TO"), removed))
        return removed

    monkeypatch.setattr(broadcasts, "fold_broadcasts", spy)
    info = convert_fp16(load_checkpoint(None, "sequence-classification"), "flax", tmp_path)
    (before, after, removed), = seen
    assert removed == before - after > 0 and after == op_names(tmp_path / "model.tflite").count("BROADCAST_TO")
    assert info["optimizations"] == broadcasts.manifest_entry(removed)


def test_an_axis_unknown_until_run_time_matches_only_another_such_axis():
    """`y` multiplies x, whose last axis is unknown until run time, by a scalar broadcast to z's shape,
    whose last axis is 4: x may be (.., 1) there and TFLite stretches it, so reading the scalar directly
    would give (.., 1). That broadcast stays; `w`'s, against z itself (-1 against -1, as in jax2tf's
    graphs), is folded. Outputs stay exact with x's last axis 1 and 4."""
    spec = [tf.TensorSpec([None, None, None], tf.float32, name="x"), tf.TensorSpec([None, None, 4], tf.float32, name="z")]

    @tf.function(input_signature=spec, autograph=False)
    def f(x, z):
        return {"y": x * tf.broadcast_to(tf.constant(0.5), tf.shape(z)),
                "w": z * tf.broadcast_to(tf.constant(2.0), tf.shape(z))}

    holder = tf.Module()
    holder.f = f
    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    model = converter.convert()
    assert _ops(model).count("BROADCAST_TO") == 2
    data = bytearray(model)
    assert fold_broadcasts(data) == 1
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(0)
    for last in (1, 4):
        feeds = {"x": rng.normal(size=(2, 3, last)).astype(np.float32), "z": rng.normal(size=(2, 3, 4)).astype(np.float32)}
        runners = [Interpreter(model_content=bytes(blob)).get_signature_runner("serving_default") for blob in (model, data)]
        want, got = (runner(**feeds) for runner in runners)
        for name in want:
            assert got[name].shape == want[name].shape and np.array_equal(got[name], want[name]), (name, last)

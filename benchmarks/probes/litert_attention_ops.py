"""Probe. Question: Does any cheap rewrite of attention reach a fast int8 kernel in LiteRT? (issue 13 item 4)
Answer and where it is written: No. benchmarks/LATENCY.md, "TFLite int8-full"; finding in benchmarks/README.md and the int8-full mode's cpu_cost.

    PYTHONPATH=$PWD nice -n 15 .venv/bin/python benchmarks/probes/litert_attention_ops.py [LENGTH] [THREADS]

Hidden 256 shapes (4 heads of 64). Variants: q.k^T as BATCH_MATMUL with adj_y, with an explicit
transpose, with heads folded into a rank-3 batch; p.v plain, rank 3, transposed v with adj_y; softmax
over the rank-4 scores or a rank-2 view. Each model converted with TFLITE_BUILTINS_INT8 only (float
in/out), default op resolver (XNNPACK on); median CPU time per call over 7 interleaved rounds of 5.
"""
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from prelnedge.timing import interleave  # noqa: E402

L, NH, HD = int(sys.argv[1]) if len(sys.argv) > 1 else 384, 4, 64
rng = np.random.default_rng(0)

def conv(fn, shapes, int8=True):
    specs = [tf.TensorSpec(s, tf.float32) for s in shapes]
    f = tf.function(fn, input_signature=specs, autograph=False).get_concrete_function()
    c = tf.lite.TFLiteConverter.from_concrete_functions([f], None)
    if int8:
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ([rng.normal(size=s).astype(np.float32) * 2 for s in shapes] for _ in range(8))
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return c.convert()

def scores_adj(q, k): return tf.matmul(q, k, transpose_b=True)
def scores_t(q, k): return tf.matmul(q, tf.transpose(k, [0, 1, 3, 2]))
def scores_r3(q, k): return tf.matmul(tf.reshape(q, [NH, L, HD]), tf.reshape(k, [NH, L, HD]), transpose_b=True)
def scores_r3t(q, k): return tf.matmul(tf.reshape(q, [NH, L, HD]), tf.transpose(tf.reshape(k, [NH, L, HD]), [0, 2, 1]))
def pv(p, v): return tf.matmul(p, v)
def pv_r3(p, v): return tf.matmul(tf.reshape(p, [NH, L, L]), tf.reshape(v, [NH, L, HD]))
def pv_adj(p, v): return tf.matmul(p, tf.transpose(v, [0, 1, 3, 2]), transpose_b=True)
def smax(s): return tf.nn.softmax(s, axis=-1)
def smax_r2(s): return tf.reshape(tf.nn.softmax(tf.reshape(s, [NH * L, L]), axis=-1), [1, NH, L, L])

QK = [[1, NH, L, HD], [1, NH, L, HD]]
PV = [[1, NH, L, L], [1, NH, L, HD]]
S = [[1, NH, L, L]]
cases = {
 "qk adj_y int8": (scores_adj, QK, True), "qk transpose int8": (scores_t, QK, True),
 "qk rank3 int8": (scores_r3, QK, True), "qk rank3 transpose int8": (scores_r3t, QK, True),
 "qk float": (scores_adj, QK, False),
 "pv int8": (pv, PV, True), "pv rank3 int8": (pv_r3, PV, True), "pv adj_y int8": (pv_adj, PV, True),
 "pv float": (pv, PV, False),
 "softmax int8": (smax, S, True), "softmax rank2 int8": (smax_r2, S, True), "softmax float": (smax, S, False),
}
runners = {}
for name, (fn, shapes, int8) in cases.items():
    blob = conv(fn, shapes, int8)
    it = Interpreter(model_content=blob, num_threads=int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    it.allocate_tensors()
    ins = it.get_input_details()
    for d in ins:
        it.set_tensor(d["index"], rng.normal(size=d["shape"]).astype(np.float32) * 2)
    ops = [o["op_name"] for o in it._get_ops_details()]
    print(name, ops, flush=True)
    runners[name] = it
timings = interleave({n: it.invoke for n, it in runners.items()}, rounds=7, per_round=5)
for n, t in timings.items():
    print(f"{n:28s} {t.cpu_median_ms():8.3f} ms CPU")

"""Probe. Question: Does ONNX Runtime's int8 GEMM use AMX on this CPU, and how fast is its fused dynamic-quantization node? (issue 13)
Answer and where it is written: Yes; the fused node runs at half the bare GEMM's rate. benchmarks/LATENCY.md, "int8 GEMM kernels"; finding in benchmarks/README.md.

    .venv/bin/python benchmarks/probes/int8_gemm_amx.py [--rows 128 1024] [--threads 1 2] [--rounds 5]

The int8 modes' GEMMs are MLAS's (`MatMulInteger`, `DynamicQuantizeMatMul`, `MatMulIntegerToFloat`).
MLAS switches to its AMX kernel when the kernel grants the process AMX tiles (arch_prctl
ARCH_REQ_XCOMP_PERM, asked for when onnxruntime loads). This script times one node of each base-size
weight shape, `MatMulInteger` (the bare GEMM) and `DynamicQuantizeMatMul` (what int8-dynamic's linear
layers become: quantize the input, GEMM, scale to float), in child processes, alternately with that
request allowed and refused (a tiny LD_PRELOAD library, compiled here with gcc, makes the request
fail, so MLAS keeps its AVX-512 VNNI kernel), and reports int8 tera-operations per second; PyTorch's
dynamic int8 Linear (oneDNN and fbgemm engines, input quantization included) runs in its own child
as a yardstick. Each child says whether it held the AMX permission. Quiet machine wanted: it prints
the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.ort_options import fair_session_options  # noqa: E402
from prelnedge.timing import interleave  # noqa: E402

SHAPES = [(768, 768), (768, 3072), (3072, 768)]  # (K, N): q/k/v/out, FFN in, FFN out
XTILEDATA = 1 << 18

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/syscall.h>
long syscall(long number, ...) {
  va_list ap; va_start(ap, number);
  long a[6]; for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  if (number == SYS_arch_prctl && a[0] == 0x1023) return -1;  /* ARCH_REQ_XCOMP_PERM: refused */
  static long (*real)(long, ...) = 0;
  if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
"""


def amx_permitted() -> bool:
    import ctypes

    mask = ctypes.c_ulong(0)
    ctypes.CDLL(None).syscall(158, 0x1022, ctypes.byref(mask))  # SYS_arch_prctl, ARCH_GET_XCOMP_PERM
    return bool(mask.value & XTILEDATA)


def best_seconds(call, reps: int, rounds: int) -> float:
    """Best over ROUNDS rounds of the mean seconds per call in a round of REPS calls (prelnedge.timing's
    loop; each child times one runner, so there is nothing to rotate; runners alternate by child)."""
    timing = interleave({"call": call}, rounds, per_round=reps)["call"]
    return min(sum(times) / len(times) for times in timing.rounds)


def child_ort(rows: list[int], threads: int, rounds: int, op: str) -> dict:
    """`MatMulInteger` (u8 activations in, int32 out) or `DynamicQuantizeMatMul` (float in, float out:
    the node int8-dynamic's linear layers become), int8 weights as initializers (prepacked at load)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    out = {}
    for k, n in SHAPES:
        weight = numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "w")
        if op == "MatMulInteger":
            node = helper.make_node("MatMulInteger", ["a", "w", "za"], ["y"])
            types, extra = (TensorProto.UINT8, TensorProto.INT32), [numpy_helper.from_array(np.array(128, np.uint8), "za")]
        else:
            node = helper.make_node("DynamicQuantizeMatMul", ["a", "w", "scale", "zw"], ["y"], domain="com.microsoft")
            types = (TensorProto.FLOAT, TensorProto.FLOAT)
            extra = [numpy_helper.from_array(np.full(n, 0.01, np.float32), "scale"),
                     numpy_helper.from_array(np.zeros(n, np.int8), "zw")]
        graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("a", types[0], ["m", k])],
                                  [helper.make_tensor_value_info("y", types[1], ["m", n])], [weight, *extra])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
        sess = ort.InferenceSession(model.SerializeToString(), fair_session_options(threads), providers=["CPUExecutionProvider"])
        for m in rows:
            x = (rng.integers(0, 256, (m, k), dtype=np.uint8) if op == "MatMulInteger"
                 else rng.standard_normal((m, k)).astype(np.float32))
            out[f"{k}x{n} M{m}"] = best_seconds(lambda: sess.run(None, {"a": x}), 20, rounds)
    return {"amx": amx_permitted(), "seconds": out}


def child_torch(rows: list[int], threads: int, rounds: int, engine: str) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.backends.quantized.engine = engine
    out = {}
    for k, n in SHAPES:
        layer = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(k, n)),
                                                       {torch.nn.Linear}, dtype=torch.qint8)
        for m in rows:
            x = torch.randn(m, k)
            with torch.inference_mode():
                out[f"{k}x{n} M{m}"] = best_seconds(lambda: layer(x), 20, rounds)
    return {"amx": amx_permitted(), "seconds": out}


def run_child(kind: str, args, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--rows", *map(str, args.rows),
           "--child-threads", str(args.child_threads), "--rounds", str(args.rounds)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[128, 1024], help="M: batch x sequence length")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5, help="best of this many timed rounds per child")
    parser.add_argument("--repeats", type=int, default=2, help="children per runner, alternating")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind = args.child
        result = (child_ort(args.rows, args.child_threads, args.rounds, kind.split(":")[1]) if kind.startswith("ort") else
                  child_torch(args.rows, args.child_threads, args.rounds, kind.split(":")[1]))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        shim = Path(tmp) / "refuse_amx.so"
        source = Path(tmp) / "refuse_amx.c"
        source.write_text(SHIM)
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(source), "-ldl"], check=True)
        base = {**os.environ, "OMP_NUM_THREADS": "1"}
        refused = {**base, "LD_PRELOAD": str(shim)}
        runners = {"ORT MatMulInteger, AMX allowed": ("ort:MatMulInteger", base),
                   "ORT MatMulInteger, AMX refused": ("ort:MatMulInteger", refused),
                   "ORT DynamicQuantizeMatMul, AMX allowed": ("ort:DynamicQuantizeMatMul", base),
                   "ORT DynamicQuantizeMatMul, AMX refused": ("ort:DynamicQuantizeMatMul", refused),
                   "torch dynamic int8 Linear, onednn": ("torch:onednn", base),
                   "torch dynamic int8 Linear, fbgemm": ("torch:fbgemm", base)}
        print(f"load average {os.getloadavg()[0]:.2f}; {len(SHAPES)} shapes x rows {args.rows}; best of "
              f"{args.rounds} rounds x 20 calls per child, {args.repeats} children per runner, alternating\n")
        for threads in args.threads:
            args.child_threads = threads
            best: dict[str, dict[str, float]] = {}
            held: dict[str, set] = {}
            for repeat in range(args.repeats):
                order = list(runners) if repeat % 2 == 0 else list(reversed(runners))
                for name in order:
                    kind, env = runners[name]
                    res = run_child(kind, args, env)
                    held.setdefault(name, set()).add(res["amx"])
                    for key, sec in res["seconds"].items():
                        best.setdefault(name, {})[key] = min(sec, best.get(name, {}).get(key, float("inf")))
            keys = list(next(iter(best.values())))
            print(f"### {threads} thread(s): ms per call [int8 T ops/s]\n")
            print("| runner | AMX permission | " + " | ".join(keys) + " |")
            print("|---|---|" + "---|" * len(keys))
            for name, times in best.items():
                cells = []
                for key in keys:
                    (k, n), m = map(int, key.split()[0].split("x")), int(key.split()[1][1:])
                    cells.append(f"{times[key] * 1e3:.3f} [{2 * m * k * n / times[key] / 1e12:.2f}]")
                print(f"| {name} | {'/'.join(sorted(map(str, held[name])))} | " + " | ".join(cells) + " |")
            print()


if __name__ == "__main__":
    main()

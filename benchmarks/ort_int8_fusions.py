"""Whole-model latency with onnxruntime's int8 GEMM fusions on and off (issue 13).

    .venv/bin/python benchmarks/ort_int8_fusions.py MODEL.onnx [MODEL.onnx ...] [--seq 128] [--rounds 7]

At load, onnxruntime fuses DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul into
DynamicQuantizeMatMul / MatMulIntegerToFloat. `int8_gemm_amx.py` shows the fused node running at half
the bare GEMM's rate; this times each model as loaded (fused) and with those two fusions switched off
(session option `optimization.disable_specified_optimizers`), batch 1, 2 threads, spinning off, in one
process with interleaved rounds in alternating order. Prints the median and range in ms per call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ort_options import fair_session_options  # noqa: E402

FUSIONS = "MatMulIntegerToFloatFusion,DynamicQuantizeMatMulFusion"


def session(path: str, unfused: bool, threads: int):
    import onnxruntime as ort

    opts = fair_session_options(threads)
    if unfused:
        opts.add_session_config_entry("optimization.disable_specified_optimizers", FUSIONS)
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5, help="calls per runner per round")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runners = {f"{path} {kind}": session(path, kind == "unfused", args.threads)
               for path in args.models for kind in ("fused", "unfused")}
    times: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(args.rounds):
        for name in (list(runners) if r % 2 == 0 else list(reversed(runners))):
            sess = runners[name]
            feed = {i.name: np.ones((1, args.seq), np.int64) for i in sess.get_inputs()}
            sess.run(None, feed)
            start = time.perf_counter()
            for _ in range(args.calls):
                sess.run(None, feed)
            times[name].append((time.perf_counter() - start) / args.calls * 1e3)
    print(f"load average {os.getloadavg()[0]:.2f}; b1 s{args.seq}, {args.threads} threads, {args.rounds} rounds\n")
    print("| model | median ms | range |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f}-{max(values):.1f} |")


if __name__ == "__main__":
    main()

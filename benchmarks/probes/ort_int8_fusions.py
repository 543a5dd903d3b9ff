"""Probe. Question: Does switching off ONNX Runtime's int8 GEMM fusions make the int8 models faster? (issue 13)
Answer and where it is written: No, level within noise. benchmarks/README.md, "ONNX int8 speed" (figures inline).

    .venv/bin/python benchmarks/probes/ort_int8_fusions.py MODEL.onnx [MODEL.onnx ...] [--seq 128] [--rounds 7]

At load, onnxruntime fuses DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul into
DynamicQuantizeMatMul / MatMulIntegerToFloat. `int8_gemm_amx.py` shows the fused node running at half
the bare GEMM's rate; this times each model as loaded (fused) and with those two fusions switched off
(session option `optimization.disable_specified_optimizers`), batch 1, 2 threads, spinning off, in one
process with interleaved rounds, order rotated (prelnedge.timing). Prints the median, quartiles and the
range of round medians in ms per call.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.ort_options import fair_session_options  # noqa: E402
from prelnedge.timing import interleave  # noqa: E402

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
    feeds = {name: {i.name: np.ones((1, args.seq), np.int64) for i in sess.get_inputs()}
             for name, sess in runners.items()}
    calls = {name: (lambda sess=sess, feed=feeds[name]: sess.run(None, feed)) for name, sess in runners.items()}
    timings = interleave(calls, args.rounds, per_round=args.calls)
    print(f"load average {os.getloadavg()[0]:.2f}; b1 s{args.seq}, {args.threads} threads, {args.rounds} rounds\n")
    print("| model | median ms | p25-p75 | range of round medians |\n|---|---|---|---|")
    for name, t in timings.items():
        low, high = t.spread_ms()
        rounds = t.round_medians()
        print(f"| {name} | {t.median_ms():.1f} | {low:.1f}-{high:.1f} | {1e3 * min(rounds):.1f}-{1e3 * max(rounds):.1f} |")


if __name__ == "__main__":
    main()

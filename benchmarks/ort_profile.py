"""Where an ONNX model's time goes: ONNX Runtime's profiler, kernel time summed by op type.

    .venv/bin/python benchmarks/ort_profile.py MODEL.onnx [--seq 128] [--batch 1] [--runs 5] [--threads 2]

Prints one row per op type (ms per call, share of the total, node count) after ORT's own graph
optimizations, i.e. the kernels that really ran. This is how issue 13's findings were made.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def profile(model: Path, seq: int, batch: int, runs: int, threads: int) -> dict[str, tuple[float, int]]:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        ids = np.random.default_rng(0).integers(4, 600, size=(batch, seq), dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        session.run(None, feeds)  # warm-up, excluded below
        for _ in range(runs):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    runs_seen = [e for e in events if e.get("name") == "model_run"]
    warmup_end = runs_seen[0]["ts"] + runs_seen[0]["dur"]
    totals: dict[str, float] = collections.defaultdict(float)
    nodes: dict[str, set] = collections.defaultdict(set)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= warmup_end:
            op = event["args"]["op_name"]
            totals[op] += event["dur"] / 1e3 / runs
            nodes[op].add(event["name"])
    return {op: (ms, len(nodes[op])) for op, ms in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = profile(args.model, args.seq, args.batch, args.runs, args.threads)
    total = sum(ms for ms, _ in rows.values())
    print(f"{args.model}: {total:.1f} ms of kernel time per call (seq {args.seq}, batch {args.batch})")
    for op, (ms, count) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        print(f"  {op:32s} {ms:8.2f} ms {100 * ms / total:5.1f} %  {count} nodes")


if __name__ == "__main__":
    main()

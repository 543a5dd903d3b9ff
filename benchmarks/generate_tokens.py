"""Tokens per second of a causal-lm ONNX export decoding with its key/value cache against full
recomputation, per mode, at several prompt lengths (issue 26).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/generate_tokens.py [--size base] [--prompts 16 64 256]
        [--modes fp32 int8-dynamic int4] [--new-tokens 16] [--recompute-tokens 4] [--rounds 3] [--threads 2]
        [--work benchmarks/out/generate-base] [--budget-s 900]

Models: a seeded random causal-lm checkpoint of the size (benchmarks/random_checkpoint.py), exported by
`prelnedge export --task causal-lm --target onnx` and quantized by prelnedge's quantize stage, each
validated as a user's would be (the cached decoder step by step included); kept in --work and reused.

What is timed, one process, every session loaded at once with the fair options of the latency
benchmark (fixed intra-op threads, one inter-op thread, spinning off):
- cached: the prompt with an empty past (prefill, reported apart), then NEW_TOKENS single-token steps
  each feeding the cache the previous step returned; the figure is the median time of one step.
- recompute: the same graph with an empty past on the whole sequence, prompt + k tokens for k = 1 ..
  RECOMPUTE_TOKENS (what a runtime without a cache does for every new token); the figure is the median
  time of one such call.
Each round visits every (mode, way) in an order rotated by one, so drift on a shared machine hits all
alike; process CPU time per token is recorded beside wall time. Writes WORK/generate.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ort_options import fair_session_options  # noqa: E402
from benchmarks.random_checkpoint import make_checkpoint  # noqa: E402


def build(work: Path, size: str, modes: list[str]) -> dict[str, Path]:
    """mode -> validated export folder (fp32 is the float export), built once and reused."""
    from prelnedge.export import ExportConfig, export
    from prelnedge.quantize.stage import quantize_folder

    checkpoint = work / "checkpoint"
    if not (checkpoint / "config.json").exists():
        make_checkpoint(checkpoint, "causal-lm", size, seed=0)
    folders = {"fp32": work / "fp32"}
    if not (folders["fp32"] / "manifest.json").exists():
        start = time.perf_counter()
        export(ExportConfig(task="causal-lm", target="onnx", model=checkpoint, out=folders["fp32"]))
        print(f"exported and validated fp32 in {time.perf_counter() - start:.0f} s", flush=True)
    for mode in modes:
        if mode == "fp32":
            continue
        folders[mode] = work / mode
        if not (folders[mode] / "manifest.json").exists():
            start = time.perf_counter()
            quantize_folder(folders["fp32"], mode, folders[mode], model=checkpoint)
            print(f"quantized and validated {mode} in {time.perf_counter() - start:.0f} s", flush=True)
    return {mode: folders[mode] for mode in modes}


def prompt(length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, 600, size=(1, length), dtype=np.int64)
    ids[0, 0] = 0
    return ids


def cached_run(session, ids: np.ndarray, new_tokens: int) -> tuple[float, list[float], list[float]]:
    """(prefill seconds, per-step wall seconds, per-step CPU seconds)."""
    start = time.perf_counter()
    logits, past = session.run_cached(ids, np.ones_like(ids), None)
    prefill = time.perf_counter() - start
    token = np.array([[int(logits[0, -1].argmax())]], np.int64)
    total, walls, cpus = ids.shape[1], [], []
    for _ in range(new_tokens):
        total += 1
        start, start_cpu = time.perf_counter(), time.process_time()
        logits, past = session.run_cached(token, np.ones((1, total), np.int64), past)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
        token = np.array([[int(logits[0, -1].argmax())]], np.int64)
    return prefill, walls, cpus


def recompute_run(session, ids: np.ndarray, new_tokens: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for k in range(1, new_tokens + 1):
        seq = np.concatenate([ids, np.full((1, k), 5, np.int64)], axis=1)
        start, start_cpu = time.perf_counter(), time.process_time()
        session.run(seq, np.ones_like(seq))
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return walls, cpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="base", choices=["256", "base"])
    parser.add_argument("--prompts", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--modes", nargs="+", default=["fp32", "int8-dynamic", "int4"])
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--recompute-tokens", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--budget-s", type=float, default=900.0, help="stop starting new rounds after this")
    args = parser.parse_args()
    from prelnedge.runtime.sessions import OnnxSession

    work = args.work or ROOT / "benchmarks" / "out" / f"generate-{args.size}"
    work.mkdir(parents=True, exist_ok=True)
    folders = build(work, args.size, args.modes)
    sessions = {mode: OnnxSession(folder / "model.onnx", options=fair_session_options(args.threads))
                for mode, folder in folders.items()}
    runners = [(mode, way) for mode in args.modes for way in ("cached", "recompute")]
    samples = {(mode, way, p): {"wall": [], "cpu": [], "prefill": []} for mode, way in runners for p in args.prompts}
    for p in args.prompts:  # warm-up: shape-dependent set-up of every session at every length
        for mode in args.modes:
            cached_run(sessions[mode], prompt(p), 2)
            recompute_run(sessions[mode], prompt(p), 1)
    started = time.perf_counter()
    for r in range(args.rounds):
        if time.perf_counter() - started > args.budget_s:
            print(f"budget spent after {r} rounds", flush=True)
            break
        order = runners[r % len(runners):] + runners[:r % len(runners)]
        for p in args.prompts:
            for mode, way in order:
                cell = samples[mode, way, p]
                if way == "cached":
                    prefill, walls, cpus = cached_run(sessions[mode], prompt(p, seed=r), args.new_tokens)
                    cell["prefill"].append(prefill)
                else:
                    walls, cpus = recompute_run(sessions[mode], prompt(p, seed=r), args.recompute_tokens)
                cell["wall"] += walls
                cell["cpu"] += cpus
        print(f"round {r + 1}/{args.rounds} done at {time.perf_counter() - started:.0f} s", flush=True)
    rows = []
    for p in args.prompts:
        for mode in args.modes:
            cached, recompute = samples[mode, "cached", p], samples[mode, "recompute", p]
            step, full = statistics.median(cached["wall"]), statistics.median(recompute["wall"])
            rows.append({"prompt": p, "mode": mode, "cached_ms_per_token": 1e3 * step,
                         "cached_tokens_per_s": 1 / step, "cached_cpu_ms": 1e3 * statistics.median(cached["cpu"]),
                         "prefill_ms": 1e3 * statistics.median(cached["prefill"]),
                         "recompute_ms_per_token": 1e3 * full, "recompute_tokens_per_s": 1 / full,
                         "recompute_cpu_ms": 1e3 * statistics.median(recompute["cpu"]), "speedup": full / step,
                         "samples": [len(cached["wall"]), len(recompute["wall"])]})
    meta = {"size": args.size, "threads": args.threads, "new_tokens": args.new_tokens,
            "recompute_tokens": args.recompute_tokens, "load_average": os.getloadavg(),
            "model_bytes": {mode: (folder / "model.onnx").stat().st_size for mode, folder in folders.items()}}
    (work / "generate.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [f"# Cached decoding vs recomputation, {args.size} size, {args.threads} threads",
             "", "| prompt | mode | cached ms/token | cached tok/s | recompute ms/token | recompute tok/s | speedup | "
             "prefill ms | CPU ms/token cached / recompute |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['prompt']} | {row['mode']} | {row['cached_ms_per_token']:.1f} | "
                     f"{row['cached_tokens_per_s']:.1f} | {row['recompute_ms_per_token']:.1f} | "
                     f"{row['recompute_tokens_per_s']:.2f} | {row['speedup']:.1f}x | {row['prefill_ms']:.0f} | "
                     f"{row['cached_cpu_ms']:.1f} / {row['recompute_cpu_ms']:.1f} |")
    (work / "generate.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

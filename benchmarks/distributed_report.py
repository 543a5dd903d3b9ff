"""Wall time of one quantization report on Ray with 1 and 2 workers, beside the in-process run, and
what N workers would give, simulated from the measured cell durations.

    PYTHONPATH=. .venv/bin/python benchmarks/distributed_report.py [--task sequence-classification]
        [--targets onnx tflite] [--workers 1 2] [--simulate 1 2 4 8 16]

The model is random_checkpoint.py's "256" (hidden 256, 4 layers, vocab 8000). Each Ray run gets a
head of its own, started here on 127.0.0.1 with W CPUs (`ray start --num-cpus W`, one cell per CPU)
and stopped after it (`ray stop` stops every Ray process of this user on this machine). Wall time is
the whole command, connection and driver-side latency timing included.

The simulation replays the 1-worker run's cell durations (report.json: cells[].run.seconds) on N
slots, in the report's order, each quantization cell waiting for its target's float export, and adds
the part of the measured 1-worker wall time that is not cells (connect, checks, timing, writing).
It leaves out what one machine cannot show: moving the float export between nodes, stragglers.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.random_checkpoint import make_checkpoint  # noqa: E402

RAY = str(Path(sys.executable).parent / "ray")


def _env() -> dict:
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _report(checkpoint: Path, out: Path, args, extra: list[str], env: dict) -> float:
    command = [sys.executable, "-m", "prelnedge.cli", "report", "--model", str(checkpoint), "--task", args.task,
               "--targets", *args.targets, "--out", str(out), "--force", *extra]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"report failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return wall


def _on_ray(checkpoint: Path, out: Path, args, workers: int) -> float:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus",
                    str(workers), "--include-dashboard", "false", "--disable-usage-stats"],
                   env=_env(), check=True, capture_output=True)
    try:
        return _report(checkpoint, out, args, ["--executor", "ray", "--cpus-per-cell", "1"],
                       {**_env(), "RAY_ADDRESS": f"127.0.0.1:{port}"})
    finally:
        subprocess.run([RAY, "stop"], env=_env(), capture_output=True)


def simulate(cells: list[dict], slots: int) -> float:
    """Makespan of the cells on `slots` one-CPU workers: list scheduling in report order, a
    quantization cell ready once its target's fp32 cell is done (cells that did not run are left out)."""
    def need(cell: dict) -> str | None:
        return None if cell["mode"] == "fp32" else f"{cell['target']}:fp32"

    pending = [c for c in cells if (c.get("run") or {}).get("seconds") is not None]
    ran = {f"{c['target']}:{c['mode']}" for c in pending}
    done_at: dict[str, float] = {}
    free = [0.0] * slots  # when each slot is next free
    while pending:
        now = heapq.heappop(free)
        ready = [c for c in pending if need(c) not in ran or done_at.get(need(c), float("inf")) <= now]
        if not ready:  # idle until the next float export this slot's cells wait for is done
            heapq.heappush(free, min(done_at[need(c)] for c in pending if need(c) in done_at))
            continue
        cell = ready[0]
        pending.remove(cell)
        end = now + cell["run"]["seconds"]
        done_at[f"{cell['target']}:{cell['mode']}"] = end
        heapq.heappush(free, end)
    return max(done_at.values(), default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sequence-classification")
    parser.add_argument("--targets", nargs="+", default=["onnx", "tflite"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--simulate", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--keep", type=Path, help="keep the reports in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        checkpoint = Path(tmp) / "random-256-4l-8000"
        make_checkpoint(checkpoint, args.task)
        walls = {"local (in-process)": _report(checkpoint, base / "local", args, [], _env())}
        for workers in args.workers:
            walls[f"ray, {workers} worker(s)"] = _on_ray(checkpoint, base / f"ray-{workers}", args, workers)
        first = min(args.workers)
        report = json.loads((base / f"ray-{first}" / "report.json").read_text())
        cells = report["cells"]
        print(f"{args.task}, targets {' '.join(args.targets)}: {len(cells)} cells; load average "
              f"{os.getloadavg()[0]:.1f} at the end")
        print("\n| run | wall s |\n|---|---|")
        for name, wall in walls.items():
            print(f"| {name} | {wall:.1f} |")
        print("\n| cell | seconds (ray, %d worker) | attempts |\n|---|---|---|" % first)
        for cell in cells:
            run = cell.get("run", {})
            print(f"| {cell['target']}:{cell['mode']} ({cell['status']}) | {run.get('seconds')} | {run.get('attempts')} |")
        serial = simulate(cells, first)
        overhead = walls[f"ray, {first} worker(s)"] - serial
        print(f"\nnot cells (connect, checks, latency timing, writing): {overhead:.1f} s of the "
              f"{first}-worker wall time")
        print("\n| workers (1 CPU each) | simulated wall s | speed-up vs 1 |\n|---|---|---|")
        for slots in args.simulate:
            wall = overhead + simulate(cells, slots)
            print(f"| {slots} | {wall:.1f} | {(overhead + serial) / wall:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

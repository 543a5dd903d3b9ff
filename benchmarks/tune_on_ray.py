"""Wall time of one `prelnedge tune` run in this process and on Ray, side by side, on the tests' tiny
planted model (hidden 64, 3 layers, layer 1 ffn.in planted), with the kept units of each.

    PYTHONPATH=. .venv/bin/python benchmarks/tune_on_ray.py [--search-examples 40] [--workers 2]

Each run is the whole CLI command with a cache of its own (every candidate evaluated). The Ray run gets
a head of its own, started here on 127.0.0.1 with W CPUs (`ray start --num-cpus W`) and stopped after
(`ray stop` stops every Ray process of this user on this machine: run nothing else on Ray beside it).
Its wall time includes connecting, shipping prelnedge and the export, and each worker's first imports.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(ROOT / "tests"))

RAY = str(Path(sys.executable).parent / "ray")


def _env() -> dict:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": path}


def _tune(export: Path, out: Path, examples: int, extra: list[str], env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "prelnedge.cli", "tune", str(export), "--quantize", "int8-dynamic",
                    "--min-sqnr", "25", "--search-examples", str(examples), "--cache", str(out) + "-cache",
                    "--out", str(out), *extra], env=env, check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - start, json.loads((out / "tune.json").read_text())


def main() -> None:
    from prelnedge.export import ExportConfig, export
    from tune_models import planted_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search-examples", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tune-on-ray-") as tmp:
        root = Path(tmp)
        checkpoint = planted_checkpoint(root / "checkpoint")
        folder = export(ExportConfig(task="sequence-classification", target="onnx", model=checkpoint,
                                     out=root / "onnx")).folder
        runs = {"local": _tune(folder, root / "local", args.search_examples, [], _env())}
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus",
                        str(args.workers), "--include-dashboard", "false", "--disable-usage-stats"],
                       env=_env(), check=True, capture_output=True, timeout=180)
        try:
            runs[f"ray, {args.workers} workers"] = _tune(folder, root / "ray", args.search_examples,
                                                         ["--executor", "ray"],
                                                         {**_env(), "RAY_ADDRESS": f"127.0.0.1:{port}"})
        finally:
            subprocess.run([RAY, "stop"], env=_env(), capture_output=True, timeout=180)
    print(f"tune, tiny planted model, {args.search_examples} search examples, {os.cpu_count()} CPUs here")
    print("| run | wall s | candidates evaluated | kept | same figures as local |")
    print("|---|---|---|---|---|")
    local = runs["local"][1]
    for name, (wall, report) in runs.items():
        same = all(_timeless(report[k]) == _timeless(local[k]) for k in ("sensitivity", "trace", "held_out"))
        print(f"| {name} | {wall:.1f} | {report['candidates']['evaluated']} | {report['recipe']['units']} | {same} |")


def _timeless(value):
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in ("seconds", "cached")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


if __name__ == "__main__":
    main()

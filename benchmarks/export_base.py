"""Export time and artifact size for a base-size (768 hidden, 12 layers, vocab 50265) random
model, per export path, measured side by side in one run.

    .venv/bin/python benchmarks/export_base.py [--task qa] [--paths onnx:torch tflite:tf tflite:flax]

Writes a random checkpoint to a temporary folder (seeded, non-trivial LayerNorms), exports it
through each path with validation, and prints one row per path. Numbers are wall-clock on the
machine it runs on; compare rows from the same run only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prelnedge import config as presets  # noqa: E402
from prelnedge.export import ExportConfig, export  # noqa: E402
from prelnedge.tasks import get_task  # noqa: E402
from prelnedge.checkpoint.params import task_parameters  # noqa: E402


def write_random_checkpoint(folder: Path, task_name: str, seed: int = 0) -> None:
    from safetensors.numpy import save_file

    config = presets.base(labels=("start", "end"))
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in task_parameters(config, get_task(task_name)).items():
        if "LayerNorm" in name or "layer_norm" in name:
            value = 1 + 0.1 * rng.standard_normal(shape) if name.endswith("weight") else 0.05 * rng.standard_normal(shape)
        else:
            value = 0.02 * rng.standard_normal(shape)
        weights[name] = value.astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    config.save(folder)
    save_file(weights, str(folder / "model.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="qa")
    parser.add_argument("--paths", nargs="+", default=["onnx:torch", "tflite:tf", "tflite:flax"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "base-random"
        write_random_checkpoint(source, args.task)
        size = (source / "model.safetensors").stat().st_size
        print(f"checkpoint: {size / 2**20:.0f} MiB safetensors; task {args.task}")
        print("| path | export+validate s | artifact MiB | worst peak_rel |")
        print("|---|---|---|---|")
        for path in args.paths:
            target, framework = path.split(":")
            out = Path(tmp) / f"out-{target}-{framework}"
            start = time.perf_counter()
            export(ExportConfig(task=args.task, target=target, framework=framework, model=source, out=out))
            seconds = time.perf_counter() - start
            import json

            manifest = json.loads((out / "manifest.json").read_text())
            artifact = sum(p.stat().st_size for p in out.iterdir() if p.name.startswith("model"))
            worst = max(v["peak_rel"] for v in manifest["validation"]["worst"].values())
            print(f"| {path} | {seconds:.1f} | {artifact / 2**20:.0f} | {worst:.2g} |", flush=True)


if __name__ == "__main__":
    main()

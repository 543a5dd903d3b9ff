"""Probe. Question: Why is the ONNX int4 mode not faster than int8-dynamic? One linear layer, three ways (issue 13)
Answer and where it is written: MatMulNBits is a one-row kernel. benchmarks/LATENCY.md, "ONNX int4"; finding in benchmarks/README.md.

    .venv/bin/python benchmarks/probes/matmulnbits_kernel.py [--size base|256] [--rows 1 16 128] [--blocks 32 128 256]

For each weight shape of the model size (q/k/v/attention out, FFN in, FFN out) and each number of
rows M (batch x sequence length: an encoder call multiplies every token at once), times a one-node
model in ONNX Runtime: fp32 MatMul; prelnedge's int8-dynamic (quantize_dynamic, which ORT fuses to
DynamicQuantizeMatMul at load); prelnedge's int4 (MatMulNBits, made by the mode's own function) at
accuracy_level 0 (fp32 compute) and 4 (int8 compute) for each block size. One process, rounds
interleaved with the order rotated, ORT thread spinning off, the same thread count for all. Prints a
Markdown table of process CPU time per call (median) and its ratio to int8-dynamic; wall time too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.ort_options import fair_session_options  # noqa: E402
from benchmarks.random_checkpoint import SIZES  # noqa: E402
from prelnedge.timing import interleave, machine_line  # noqa: E402

INT8 = "int8-dynamic"


def linear_model(path: Path, k: int, n: int, seed: int = 0) -> None:
    """y = x @ W with W (K, N) drawn like a trained layer's scale (std 0.02)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = (np.random.default_rng(seed).standard_normal((k, n)) * 0.02).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "linear",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])],
                              [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    onnx.save(model, str(path))


def variants(folder: Path, k: int, n: int, blocks: list[int]) -> dict[str, Path]:
    """{label: model file}, every quantized one made by prelnedge's own mode functions."""
    from prelnedge.quantize.onnx import quantize_int4, quantize_int8_dynamic

    made = {"fp32 MatMul": folder / f"fp32-{k}x{n}.onnx"}
    linear_model(made["fp32 MatMul"], k, n)
    made[INT8] = folder / f"int8-{k}x{n}.onnx"
    quantize_int8_dynamic(made["fp32 MatMul"], made[INT8])
    for block in blocks:
        for level in (0, 4) if block == blocks[0] else (4,):
            label = f"int4 b{block} acc{level}"
            made[label] = folder / f"int4-b{block}-a{level}-{k}x{n}.onnx"
            quantize_int4(made["fp32 MatMul"], made[label], block_size=block, accuracy_level=level)
    return made


def session(path: Path, threads: int):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), fair_session_options(threads), providers=["CPUExecutionProvider"])


def time_shape(models: dict[str, Path], k: int, rows: int, rounds: int, calls: int, threads: int) -> dict:
    sessions = {label: session(path, threads) for label, path in models.items()}
    x = np.random.default_rng(1).standard_normal((rows, k)).astype(np.float32)
    runs = {label: (lambda s=s: s.run(None, {"x": x})) for label, s in sessions.items()}
    timings = interleave(runs, rounds, per_round=calls)  # its warm-up: workspace allocation, first-call set-up
    return {label: (t.cpu_median_ms(), t.median_ms()) for label, t in timings.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="base", choices=["256", "base"])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 16, 128], help="M = batch x sequence length")
    parser.add_argument("--blocks", type=int, nargs="+", default=[32, 128, 256],
                        help="MatMulNBits block sizes; the first (the mode's, 32) is also timed at accuracy_level 0")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5, help="calls per runner per round")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import onnxruntime as ort

    hidden, _, _, ffn, _ = SIZES[args.size]
    shapes = [(hidden, hidden), (hidden, ffn), (ffn, hidden)]
    print(f"onnxruntime {ort.__version__}; {machine_line()}; {args.threads} threads; "
          f"CPU ms per call (median), in brackets the ratio to {INT8}; wall ms after the slash\n")
    with tempfile.TemporaryDirectory(prefix="prelnedge-kernel-") as tmp:
        made = {shape: variants(Path(tmp), *shape, args.blocks) for shape in shapes}
        labels = list(made[shapes[0]])
        print("| M | K x N | " + " | ".join(labels) + " |")
        print("|---|---|" + "---|" * len(labels))
        for rows in args.rows:
            for k, n in shapes:
                result = time_shape(made[(k, n)], k, rows, args.rounds, args.calls, args.threads)
                base = result[INT8][0]
                cells = [f"{cpu:.3f} ({cpu / base:.2f}x) / {wall:.3f}" for cpu, wall in result.values()]
                print(f"| {rows} | {k} x {n} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

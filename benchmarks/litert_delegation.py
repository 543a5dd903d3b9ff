"""Which ops of a .tflite model LiteRT's default XNNPACK delegate runs, and which fall back to TFLite's
builtin kernels (each fallback also splits the delegated graph and costs a hand-over).

    .venv/bin/python benchmarks/litert_delegation.py MODEL.tflite [MODEL.tflite ...]

The Python interpreter has no op profiler; with delegate node fusion off, every delegated op becomes
its own DELEGATE node whose outputs are the op's outputs, which tells the two groups apart. This is
how issue 13 found why full-integer models are slower than dynamic-range ones.
"""

from __future__ import annotations

import collections
import sys


def delegation(path: str) -> tuple[collections.Counter, collections.Counter, int]:
    """(delegated op counts, builtin-kernel op counts, delegate partitions with fusion on)."""
    from ai_edge_litert.interpreter import Interpreter

    split = Interpreter(model_path=path, num_threads=1, experimental_disable_delegate_node_fusion=True)
    split.allocate_tensors()
    ops = split._get_ops_details()
    delegated_outputs = {tuple(o["outputs"]) for o in ops if o["op_name"] == "DELEGATE"}
    delegated, builtin = collections.Counter(), collections.Counter()
    for op in ops:
        if op["op_name"] == "DELEGATE":
            continue
        dtype = op["operand_types"][0].__name__ if op["operand_types"] else ""
        (delegated if tuple(op["outputs"]) in delegated_outputs else builtin)[f"{op['op_name']} {dtype}"] += 1
    fused = Interpreter(model_path=path, num_threads=1)
    fused.allocate_tensors()
    partitions = sum(o["op_name"] == "DELEGATE" for o in fused._get_ops_details())
    return delegated, builtin, partitions


def main() -> None:
    for path in sys.argv[1:]:
        delegated, builtin, partitions = delegation(path)
        print(f"{path}: {partitions} XNNPACK partitions")
        print("  XNNPACK:  " + ", ".join(f"{k} x{v}" for k, v in sorted(delegated.items())))
        print("  builtin:  " + ", ".join(f"{k} x{v}" for k, v in sorted(builtin.items())))


if __name__ == "__main__":
    main()

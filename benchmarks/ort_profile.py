"""Where an ONNX model's time goes: ONNX Runtime's profiler, kernel time summed by op type.

    .venv/bin/python benchmarks/ort_profile.py [LABEL=]MODEL.onnx ... [--seq 128] [--batches 1 8]
        [--rounds 3] [--runs 2] [--threads 2] [--markdown]

Prints, per op type, the kernel time per call (ms) of every model at every batch size, after ORT's
own graph optimizations (the kernels that really ran), plus the node count and the whole run's time.
Several models are profiled in one process, in interleaved rounds with the order rotated (as
latency.py times them), so their columns can be compared on a shared machine. Inputs are latency.py's
unpadded rows. This is how issue 13's findings were made.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.latency import inputs  # noqa: E402
from benchmarks.ort_options import fair_session_options  # noqa: E402
from prelnedge.timing import rotation  # noqa: E402

TOTAL, RUN = "kernel time, all ops", "model_run (wall)"


def _session(model: Path, threads: int, prefix: str):
    import onnxruntime as ort

    options = fair_session_options(threads)
    options.enable_profiling = True
    options.profile_file_prefix = prefix
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _per_run(events: list[dict], batch_of_run: list) -> dict:
    """{batch size: {op: (ms per run, node count)}} from one session's events; `batch_of_run` gives
    each model_run's batch size in order (None: a warm-up, left out)."""
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    assert len(runs) == len(batch_of_run), (len(runs), len(batch_of_run))
    starts = [r["ts"] for r in runs]
    totals: dict = collections.defaultdict(lambda: collections.defaultdict(float))
    nodes: dict = collections.defaultdict(lambda: collections.defaultdict(set))
    count = collections.Counter(batch for batch in batch_of_run if batch is not None)
    for run, batch in zip(runs, batch_of_run):
        if batch is not None:
            totals[batch][RUN] += run["dur"] / 1e3
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        index = bisect.bisect_right(starts, event["ts"]) - 1
        batch = batch_of_run[index] if index >= 0 else None
        if batch is not None:
            op = event["args"]["op_name"]
            totals[batch][op] += event["dur"] / 1e3
            totals[batch][TOTAL] += event["dur"] / 1e3
            nodes[batch][op].add(event["name"])
    return {batch: {op: (ms / count[batch], len(nodes[batch][op])) for op, ms in ops.items()}
            for batch, ops in totals.items()}


def profile_many(models: dict[str, Path], seq: int, batches: list[int], rounds: int = 3, runs: int = 2,
                 threads: int = 2) -> dict:
    """{(label, batch): {op: (ms per call, nodes)}}, every model timed in the same rounds; the op keys
    include TOTAL and RUN, with a node count of 0."""
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {label: _session(path, threads, os.path.join(tmp, f"m{i}"))
                    for i, (label, path) in enumerate(models.items())}
        labels: dict[str, list] = {label: [] for label in models}
        names = list(models)
        for batch in batches:
            ids, mask = inputs(batch, seq)
            feeds = {"input_ids": ids, "attention_mask": mask}
            for label in names:  # warm-up at this shape, left out
                sessions[label].run(None, feeds)
                labels[label].append(None)
            for r in range(rounds):
                for label in rotation(names, r):
                    for _ in range(runs):
                        sessions[label].run(None, feeds)
                        labels[label].append(batch)
        result = {}
        for label, session in sessions.items():
            events = json.loads(Path(session.end_profiling()).read_text())
            for batch, ops in _per_run(events, labels[label]).items():
                result[(label, batch)] = ops
    return result


def table(result: dict, markdown: bool = False) -> str:
    columns = list(result)
    ops = sorted({op for ops in result.values() for op in ops if op not in (TOTAL, RUN)},
                 key=lambda op: -max(result[c].get(op, (0, 0))[0] for c in columns))
    heads = [f"{label} b{batch}" for label, batch in columns]

    def cell(col, op):
        ms, n = result[col].get(op, (0.0, 0))
        return f"{ms:.2f} ({n})" if n else (f"{ms:.2f}" if ms else "-")

    rows = [[op] + [cell(c, op) for c in columns] for op in ops + [TOTAL, RUN]]
    if markdown:
        lines = ["| op type (nodes) | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    width = max(len(h) for h in heads + [c for r in rows for c in r[1:]]) + 2
    lines = [f"{'op type':34s}" + "".join(f"{h:>{width}s}" for h in heads)]
    return "\n".join(lines + [f"{r[0]:34s}" + "".join(f"{c:>{width}s}" for c in r[1:]) for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="[LABEL=]MODEL")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batches", type=int, nargs="+", default=[1])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, order rotated")
    parser.add_argument("--runs", type=int, default=2, help="calls per model per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    models: dict[str, Path] = {}
    for item in args.models:
        # LABEL=PATH; a bare path is labelled by its folder's name (a prelnedge output's model file is
        # always model.onnx: the folder tells them apart)
        label, sep, path = item.partition("=")
        label, path = (label, path) if sep else (Path(item).parent.name or item, item)
        if label in models:
            parser.error(f"two models are labelled {label!r}; name them LABEL=PATH")
        models[label] = Path(path)
    print(f"seq {args.seq}, ms per call (node count), load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(table(profile_many(models, args.seq, args.batches, args.rounds, args.runs, args.threads), args.markdown))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

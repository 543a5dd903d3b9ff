"""Latency of every prelnedge target x mode against Hugging Face eager and a do-it-yourself path (issue 13).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/latency.py [--size 256|base] [--seqs 32 128 384]
        [--batches 1 8] [--rounds 5] [--runners ...] [--slow-configs 32x1] [--extra LABEL=MODEL ...]
        [--out benchmarks/out/latency-SIZE] [--rebuild] [--build-only] [--build-nice 15]

Runners: Hugging Face eager (PyTorch), the do-it-yourself path (torch.onnx + quantize_dynamic), and
for every prelnedge target its float export plus every mode prelnedge's mode registry lists for it
(`prelnedge.quantize.MODES`: a new mode appears here by itself). latency_build.py makes them (each a
niced subprocess, validated by prelnedge exactly as a user's would be, reused while nothing it was
built from changed); a runner whose build failed or that prelnedge refuses is listed with the reason.

Timing (one process, every runner loaded at once): per (sequence, batch) configuration each round
runs every runner with the order rotated by one, so drift on a shared machine hits all runners alike;
ONNX Runtime sessions have thread spinning off (a spinning predecessor's threads would slow the next
session) and every runtime gets the same thread count. Inputs are unpadded rows of SEQ real-looking
tokens. A model that takes unpadded single rows only (the registry's `unpadded_only`: integer TFLite)
is called once per row, as prelnedge's runtime does, so batch 8 is 8 calls. A ratio is the median over
rounds of (runner's median in that round / the reference's median in that round), against eager and
against the do-it-yourself row; process CPU time per call is recorded as well (steadier than wall
time when other processes compete for the cores). Writes OUT/latency.md, latency.json, latency.png.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.latency_build import DIY, EAGER, build, prelnedge_runners  # noqa: E402
from benchmarks.ort_options import fair_session_options  # noqa: E402
from benchmarks.latency_report import write_outputs  # noqa: E402
from benchmarks.random_checkpoint import SIZES  # noqa: E402
from prelnedge.timing import Timing, calls_per_round, cpu_id, interleave, machine  # noqa: E402

# LiteRT runs int16x8 on reference kernels (about 40x the wall time of TFLite fp32, 20x its CPU time,
# at hidden 256, seq 32): by default it is timed at one short configuration only, which shows that
# without spending the whole run on it.
SLOW_RUNNERS = ("tflite int16x8",)


# ---------------------------------------------------------------------------------------------- runners

def _ort_session(path: Path, threads: int):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), fair_session_options(threads), providers=["CPUExecutionProvider"])

    def call(ids: np.ndarray, mask: np.ndarray):
        return session.run(None, {"input_ids": ids.astype(np.int64), "attention_mask": mask.astype(np.int64)})
    return call


def _litert_session(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner("serving_default")

    def call(ids: np.ndarray, mask: np.ndarray):
        return runner(input_ids=ids.astype(np.int32), attention_mask=mask.astype(np.int32))
    return call


def _row_by_row(call):
    """How prelnedge runs a model calibrated for unpadded rows: one call per unpadded row
    (prelnedge.runtime.rows; the timed inputs have no padding, so each row is whole)."""
    from prelnedge.runtime.rows import rows_of

    def rows(ids: np.ndarray, mask: np.ndarray):
        return [call(row_ids, row_mask) for row_ids, row_mask in rows_of(ids, mask)]
    return rows


def _eager(checkpoint: Path, threads: int):
    import torch
    import transformers

    torch.set_num_threads(threads)
    model = transformers.RobertaPreLayerNormForQuestionAnswering.from_pretrained(checkpoint).eval()

    def call(ids: np.ndarray, mask: np.ndarray):
        with torch.inference_mode():
            return model(input_ids=torch.from_numpy(ids.astype(np.int64)),
                         attention_mask=torch.from_numpy(mask.astype(np.int64)))
    return call


def _model_session(model: Path, threads: int):
    return (_ort_session if model.suffix in (".onnx", ".ort") else _litert_session)(model, threads)


def load_runners(artifacts: Path, runners: list[str], threads: int, extra: dict[str, Path]) -> tuple[dict, set]:
    """({runner: call}, the runners called row by row)."""
    from prelnedge.artifact import ModelArtifact

    loaded, row_by_row = {}, set()
    for runner in runners:
        if runner == EAGER:
            loaded[runner] = _eager(artifacts / "checkpoint", threads)
        elif runner == DIY:
            loaded[runner] = _ort_session(artifacts / "diy" / "model_int8.onnx", threads)
        else:
            artifact = ModelArtifact.read(artifacts / runner.replace(" ", "-"), check_files=False)
            loaded[runner] = _model_session(artifact.model_path, threads)
            if artifact.quantization is not None and artifact.quantization.unpadded_only:
                loaded[runner] = _row_by_row(loaded[runner])
                row_by_row.add(runner)
    for label, model in extra.items():  # e.g. an artifact an older prelnedge built: before/after rows
        loaded[label] = _model_session(model, threads)
    return loaded, row_by_row


def inputs(batch: int, seq: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unpadded rows of real-looking ids: <s> ... </s> over the tokenizer's ordinary tokens."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, 600, size=(batch, seq), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 0, 2
    return ids, np.ones_like(ids)


# ----------------------------------------------------------------------------------------------- timing

def summarize(timings: dict[str, Timing]) -> dict:
    """Per runner: wall ms (median, quartiles, min), CPU ms per call, and ratios to eager and to the
    do-it-yourself row (median of per-round ratios, with their range)."""
    rows = {}
    for name, t in timings.items():
        flat = t.calls
        (p25, p75), (cpu25, cpu75) = t.spread_ms(), t.cpu_spread_ms()
        row = {"median_ms": t.median_ms(), "p25_ms": p25, "p75_ms": p75, "min_ms": 1e3 * flat[0],
               "samples": len(flat), "cpu_ms": t.cpu_median_ms(), "cpu_p25_ms": cpu25, "cpu_p75_ms": cpu75,
               "round_ms": [1e3 * m for m in t.round_medians()]}  # for any pairwise ratio, later
        for key, reference in (("vs_eager", EAGER), ("vs_diy", DIY)):
            if reference in timings:
                ratio, low, high = t.ratio_to(timings[reference])
                row[key] = {"ratio": ratio, "min": low, "max": high}
        if DIY in timings:
            row["vs_diy"]["cpu_ratio"] = t.cpu_median_ms() / timings[DIY].cpu_median_ms()
        rows[name] = row
    return rows


def time_config(loaded: dict, seq: int, batch: int, rounds: int, budget_s: float) -> dict:
    ids, mask = inputs(batch, seq)
    calls = {name: (lambda call=call: call(ids, mask)) for name, call in loaded.items()}
    for call in calls.values():  # warm up (shape-dependent set-up, caches) before sizing the calls
        call()
    per_round = {name: calls_per_round(call, budget_s) for name, call in calls.items()}
    timings = interleave(calls, rounds, per_round, warmup=0,
                         on_round=lambda r: print(f"  seq {seq} batch {batch}: round {r + 1}/{rounds}", flush=True))
    return summarize(timings)


# ------------------------------------------------------------------------------------------------- main

def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def parse_args(all_runners: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256", choices=["256", "base"],
                        help="random QA model: 256 (hidden 256, 4 layers) or base (768 hidden, 12 layers, vocab 50265)")
    parser.add_argument("--seqs", type=int, nargs="+", default=[32, 128, 384])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--configs", nargs="+", metavar="SEQxBATCH",
                        help="exact configurations instead of every --seqs x --batches pair, e.g. 128x1 128x8 32x1")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per runner per round (1-5 calls)")
    parser.add_argument("--runners", nargs="+", default=all_runners, choices=all_runners, metavar="RUNNER",
                        help="subset of: " + ", ".join(all_runners))
    parser.add_argument("--slow-runners", nargs="*", default=list(SLOW_RUNNERS), metavar="RUNNER",
                        help="runners timed only at --slow-configs (default: %(default)s)")
    parser.add_argument("--slow-configs", nargs="*", default=["32x1"], metavar="SEQxBATCH",
                        help="the only configurations that time the slow runners; none: skip them")
    parser.add_argument("--extra", nargs="+", default=[], metavar="LABEL=MODEL",
                        help="more model files (.onnx/.tflite with the same inputs) timed in the same rounds, e.g. "
                             "an artifact an older prelnedge built, for before/after rows")
    parser.add_argument("--out", type=Path, help="default benchmarks/out/latency-SIZE")
    parser.add_argument("--rebuild", action="store_true", help="rebuild every artifact, even unchanged ones")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--build-nice", type=int, default=15,
                        help="niceness of the build subprocesses (the timing process keeps its own)")
    args = parser.parse_args()
    args.extra_models = {}
    for item in args.extra:
        label, sep, model = item.partition("=")
        if not sep or not Path(model).is_file():
            parser.error(f"--extra wants LABEL=MODEL_FILE with an existing file, got {item!r}")
        args.extra_models[label] = Path(model)
    args.configs = args.configs or [f"{s}x{b}" for s in args.seqs for b in args.batches]
    for config in args.configs + args.slow_configs:
        seq, sep, batch = config.partition("x")
        if not (sep and seq.isdigit() and batch.isdigit()):
            parser.error(f"a configuration is SEQxBATCH, e.g. 128x8; got {config!r}")
    return args


def main() -> int:
    all_runners = [EAGER, DIY] + prelnedge_runners()
    args = parse_args(all_runners)
    out = args.out or ROOT / "benchmarks" / "out" / f"latency-{args.size}"
    artifacts = out / "artifacts"
    runners = list(dict.fromkeys([EAGER] + args.runners))
    failed, builds = build(artifacts, args.size, runners, args.rebuild, args.build_nice)
    if args.build_only:
        print("\n".join(f"{step}: {how}" for step, how in builds.items()))
        print("\n".join(f"not timed: {runner}: {why}" for runner, why in failed.items()))
        return 0
    timed = [r for r in runners if r not in failed]
    load_before = _load()
    loaded, row_by_row = load_runners(artifacts, timed, args.threads, args.extra_models)
    configs, slow_skipped = {}, {}
    for config in args.configs:
        seq, batch = (int(x) for x in config.split("x"))
        chosen = {n: f for n, f in loaded.items() if n not in args.slow_runners or config in args.slow_configs}
        slow_skipped[config] = [n for n in loaded if n not in chosen]
        rows = time_config(chosen, seq, batch, args.rounds, args.budget)
        configs[f"seq {seq}, batch {batch}"] = {"rows": rows, "load_after": _load()}
    hidden, layers, heads, ffn, vocab = SIZES[args.size]
    result = {
        "model": f"random QA model, hidden {hidden}, {layers} layers, {heads} heads, FFN {ffn}, vocab {vocab}",
        "command": " ".join(["python", "benchmarks/latency.py"] + sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu_id(), "cpu_flags": machine()["flags"], "cpus": os.cpu_count(), "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        "threads": args.threads, "rounds": args.rounds, "budget_s": args.budget,
        "runners": runners + list(args.extra_models), "row_by_row": sorted(row_by_row),
        "slow_runners": [r for r in args.slow_runners if r in runners], "slow_configs": args.slow_configs,
        "slow_skipped": {k: v for k, v in slow_skipped.items() if v},
        "load_before": load_before, "load_after": _load(),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "configs": configs, "not_built": failed, "builds": builds,
        "left_out": [r for r in all_runners if r not in runners],
    }
    write_outputs(out, result)
    print((out / "latency.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

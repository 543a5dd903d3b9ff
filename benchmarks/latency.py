"""Latency of every prelnedge target x mode against Hugging Face eager and a do-it-yourself path (issue 13).

    .venv/bin/python benchmarks/latency.py [--size base|256] [--seqs 32 128 384] [--batches 1 8]
        [--rounds 5] [--runners ...] [--extra LABEL=MODEL ...] [--out benchmarks/out/latency-SIZE] [--rebuild]

Build (each step a subprocess, so the timing process stays small): a seeded random QA checkpoint
(benchmarks/random_checkpoint.py), `prelnedge export` to ONNX and TFLite, `prelnedge quantize` for every
mode (each validated against the float reference exactly as a user's would be), and the few lines a
user would write without prelnedge (torch.onnx dynamo export of the transformers model, then
onnxruntime's `quantize_dynamic` with its defaults). Artifacts are kept in OUT/artifacts and reused
unless --rebuild.

Timing (one process, every runner loaded at once): per (sequence, batch) configuration, each round
runs every runner with the order rotated by one, so drift on a shared machine hits all runners alike;
ONNX Runtime sessions have thread spinning off (a spinning predecessor's threads would slow the next
session) and every runtime gets the same thread count. A runner's ratio is the median over rounds of
(its median in that round / eager's median in that round). Writes OUT/latency.md, latency.json and
latency.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.random_checkpoint import SIZES  # noqa: E402

ONNX_MODES = ("fp32", "fp16", "int8-dynamic", "int8-static", "int4")
TFLITE_MODES = ("fp32", "fp16", "int8-dynamic", "int8-static", "int16x8")
EAGER, DIY = "hf eager (torch)", "diy torch.onnx + quantize_dynamic"
PRELNEDGE_RUNNERS = tuple(f"onnx {m}" for m in ONNX_MODES) + tuple(f"tflite {m}" for m in TFLITE_MODES)
ALL_RUNNERS = (EAGER, DIY) + PRELNEDGE_RUNNERS
# LiteRT runs int16x8 on reference kernels (tens of times slower than fp32): one short configuration
# shows that without spending the whole run on it.
SLOW_RUNNERS = {"tflite int16x8"}


# ----------------------------------------------------------------------------------------------- build

def _run(command: list[str]) -> str | None:
    """Run one build step; None when it worked, else the last line it printed (the reason)."""
    print("+", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          stderr=subprocess.PIPE, text=True)
    sys.stderr.write(done.stderr)
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.splitlines() if line.startswith("prelnedge:")] or done.stderr.splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def _folder(artifacts: Path, runner: str) -> Path:
    return artifacts / runner.replace(" ", "-")


def build(artifacts: Path, size: str, runners: list[str], rebuild: bool) -> dict[str, str]:
    """Make what the runners need; returns {runner: why it could not be built}. A failed export or
    quantization (e.g. a validation failure) is reported in the table, never timed."""
    py = sys.executable
    checkpoint = artifacts / "checkpoint"
    if rebuild or not (checkpoint / "config.json").exists():
        if error := _run([py, str(Path(__file__)), "--_make", "checkpoint", "--size", size, "--out", str(artifacts)]):
            raise SystemExit(f"could not write the random checkpoint: {error}")
    record = artifacts / "not_built.json"  # failures are remembered: a failed base export costs minutes
    failed = {} if rebuild or not record.exists() else json.loads(record.read_text())
    runners = [r for r in runners if r not in failed]
    if DIY in runners and (rebuild or not (artifacts / "diy" / "model_int8.onnx").exists()):
        if error := _run([py, str(Path(__file__)), "--_make", "diy", "--size", size, "--out", str(artifacts)]):
            failed[DIY] = error
    for target in ("onnx", "tflite"):
        float_dir = _folder(artifacts, f"{target} fp32")
        needed = [r for r in runners if r.startswith(target + " ")]
        if needed and (rebuild or not (float_dir / "manifest.json").exists()):
            if error := _run([py, "-m", "prelnedge.cli", "export", "--model", str(checkpoint), "--task", "qa",
                              "--target", target, "--out", str(float_dir), "--force"]):
                failed.update({r: f"float export failed: {error}" for r in needed})
                continue
        for runner in needed:
            mode = runner.split(" ", 1)[1]
            folder = _folder(artifacts, runner)
            if mode != "fp32" and (rebuild or not (folder / "manifest.json").exists()):
                if error := _run([py, "-m", "prelnedge.cli", "quantize", str(float_dir), "--mode", mode,
                                  "--out", str(folder), "--force"]):
                    failed[runner] = error
    record.write_text(json.dumps(failed, indent=2) + "\n")
    return failed


def make_checkpoint_step(artifacts: Path, size: str) -> None:
    from benchmarks.random_checkpoint import make_checkpoint

    artifacts.mkdir(parents=True, exist_ok=True)
    make_checkpoint(artifacts / "checkpoint", "qa", size)


def make_diy_step(artifacts: Path) -> None:
    """What a user writes without prelnedge: export the transformers model, quantize it dynamically."""
    import torch
    import transformers
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = artifacts / "diy"
    folder.mkdir(parents=True, exist_ok=True)
    model = transformers.RobertaPreLayerNormForQuestionAnswering.from_pretrained(artifacts / "checkpoint").eval()
    ids = torch.full((2, 7), 5, dtype=torch.int64)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
    torch.onnx.export(model, (), str(folder / "model.onnx"), kwargs={"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                      dynamo=True, input_names=["input_ids", "attention_mask"],
                      output_names=["start_logits", "end_logits"],
                      dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}})
    quantize_dynamic(folder / "model.onnx", folder / "model_int8.onnx", weight_type=QuantType.QInt8)


# ---------------------------------------------------------------------------------------------- timing

def _ort_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def call(ids: np.ndarray, mask: np.ndarray):
        return session.run(None, {"input_ids": ids.astype(np.int64), "attention_mask": mask.astype(np.int64)})
    return call


def _litert_session(path: Path, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner("serving_default")

    def call(ids: np.ndarray, mask: np.ndarray):
        return runner(input_ids=ids.astype(np.int32), attention_mask=mask.astype(np.int32))
    return call


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


def load_runners(artifacts: Path, runners: list[str], threads: int, extra: dict[str, Path] | None = None) -> dict:
    loaded = {}
    for runner in runners:
        if runner == EAGER:
            loaded[runner] = _eager(artifacts / "checkpoint", threads)
        elif runner == DIY:
            loaded[runner] = _ort_session(artifacts / "diy" / "model_int8.onnx", threads)
        else:
            folder = _folder(artifacts, runner)
            manifest = json.loads((folder / "manifest.json").read_text())
            model = folder / manifest["model_file"]
            loaded[runner] = (_ort_session if model.suffix == ".onnx" else _litert_session)(model, threads)
    for label, model in (extra or {}).items():  # e.g. an artifact built by an older prelnedge: before/after rows
        loaded[label] = (_ort_session if model.suffix == ".onnx" else _litert_session)(model, threads)
    return loaded


def inputs(batch: int, seq: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unpadded rows of real-looking ids: <s> ... </s> over the tokenizer's ordinary tokens."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, 600, size=(batch, seq), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 0, 2
    return ids, np.ones_like(ids)


def time_config(loaded: dict, seq: int, batch: int, rounds: int, budget_s: float) -> dict:
    ids, mask = inputs(batch, seq)
    names = list(loaded)
    calls = {}
    for name in names:  # warm up (shape-dependent set-up, caches) and size the calls per round
        loaded[name](ids, mask)
        start = time.perf_counter()
        loaded[name](ids, mask)
        calls[name] = max(1, min(5, int(budget_s / max(time.perf_counter() - start, 1e-6))))
    samples: dict[str, list[list[float]]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}  # process CPU time per call
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            times = []
            for _ in range(calls[name]):
                start, start_cpu = time.perf_counter(), time.process_time()
                loaded[name](ids, mask)
                times.append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
            samples[name].append(times)
        print(f"  seq {seq} batch {batch}: round {r + 1}/{rounds}", flush=True)
    rows = {}
    eager_rounds = [statistics.median(t) for t in samples[EAGER]] if EAGER in samples else None
    for name in names:
        flat = sorted(t for times in samples[name] for t in times)
        per_round = [statistics.median(t) for t in samples[name]]
        row = {"median_ms": 1e3 * statistics.median(flat), "p25_ms": 1e3 * float(np.percentile(flat, 25)),
               "p75_ms": 1e3 * float(np.percentile(flat, 75)), "min_ms": 1e3 * flat[0], "samples": len(flat),
               "cpu_ms": 1e3 * statistics.median(cpu[name]), "cpu_p25_ms": 1e3 * float(np.percentile(cpu[name], 25)),
               "cpu_p75_ms": 1e3 * float(np.percentile(cpu[name], 75))}
        if eager_rounds:
            ratios = [mine / theirs for mine, theirs in zip(per_round, eager_rounds)]
            row.update(ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios))
        rows[name] = row
    return rows


# --------------------------------------------------------------------------------------------- output

def write_outputs(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "latency.md").write_text(render_markdown(result))
    plot(out / "latency.png", result)


def render_markdown(result: dict) -> str:
    lines = [f"# Latency, {result['model']}", "",
             f"Command: `{result['command']}`", "",
             f"{result['when']}; {result['machine']}; {result['threads']} threads per runtime; "
             f"{result['rounds']} interleaved rounds per configuration; load average "
             f"{result['load_before']} before, {result['load_after']} after; peak RSS of the timing process "
             f"{result['peak_rss_gib']:.1f} GiB.", "",
             "Cells: ratio to Hugging Face eager (median of per-round ratios, [min-max] over rounds), then the "
             "median ms. Compare ratios within one run only; absolute ms move with the machine's load.", ""]
    lines += _table(result, lambda row: f"{row['ratio']:.2f}x [{row['ratio_min']:.2f}-{row['ratio_max']:.2f}] "
                                        f"{row['median_ms']:.1f} ms")
    if result.get("not_built"):
        lines += ["", "Not timed (the build step failed; prelnedge refuses an artifact that fails validation):", ""]
        lines += [f"- {runner}: {why}" for runner, why in result["not_built"].items()]
    lines += ["", "CPU time of the timing process per call (ms): median [p25-p75]. On a loaded machine this is "
              "steadier than wall time (waiting for a core does not count); ONNX Runtime's threads do not spin "
              "here, PyTorch's and XNNPACK's may, which counts against them.", ""]
    lines += _table(result, lambda row: f"{row['cpu_ms']:.1f} [{row['cpu_p25_ms']:.1f}-{row['cpu_p75_ms']:.1f}]"
                    if "cpu_ms" in row else "-")
    lines += ["", "Spread of single calls (ms): median [p25-p75] (calls)", ""]
    lines += _table(result, lambda row: f"{row['median_ms']:.1f} [{row['p25_ms']:.1f}-{row['p75_ms']:.1f}] "
                                        f"({row['samples']})")
    return "\n".join(lines) + "\n"


def _table(result: dict, cell) -> list[str]:
    configs = list(result["configs"])
    lines = ["| runner | " + " | ".join(configs) + " |", "|---|" + "---|" * len(configs)]
    for runner in result["runners"]:
        rows = [result["configs"][config].get(runner) for config in configs]
        lines.append(f"| {runner} | " + " | ".join("-" if row is None else cell(row) for row in rows) + " |")
    return lines


def plot(path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs, runners = list(result["configs"]), [r for r in result["runners"] if r != EAGER]
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(runners) * max(1, len(configs)) ** 0.5 + 2))
    height = 0.8 / len(configs)
    for i, config in enumerate(configs):
        values = [result["configs"][config].get(r, {}).get("ratio", np.nan) for r in runners]
        ax.barh(np.arange(len(runners)) + i * height, values, height, label=config)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.axvline(0.22, color="red", linewidth=0.8, linestyle="--", label="0.22x target")
    ax.set_yticks(np.arange(len(runners)) + 0.4 - height / 2, runners)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency / Hugging Face eager (log; lower is faster)")
    ax.set_title(result["model"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256", choices=["256", "base"],
                        help="random QA model: 256 (hidden 256, 4 layers) or base (768 hidden, 12 layers, vocab 50265)")
    parser.add_argument("--seqs", type=int, nargs="+", default=[32, 128, 384])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per runner per round (1-5 calls)")
    parser.add_argument("--runners", nargs="+", default=list(ALL_RUNNERS), choices=ALL_RUNNERS, metavar="RUNNER",
                        help="subset of: " + ", ".join(ALL_RUNNERS))
    parser.add_argument("--slow-configs", nargs="+", default=["32x1"], metavar="SEQxBATCH",
                        help="the only configurations that time " + ", ".join(sorted(SLOW_RUNNERS)))
    parser.add_argument("--extra", nargs="+", default=[], metavar="LABEL=MODEL",
                        help="more model files (.onnx/.tflite with the same inputs) timed in the same rounds, e.g. "
                             "an artifact an older prelnedge built, for before/after rows")
    parser.add_argument("--out", type=Path, help="default benchmarks/out/latency-SIZE")
    parser.add_argument("--rebuild", action="store_true", help="rebuild artifacts even if OUT/artifacts has them")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--_make", choices=["checkpoint", "diy"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._make:  # a build step in its own process; --out is the artifacts folder
        make_checkpoint_step(args.out, args.size) if args._make == "checkpoint" else make_diy_step(args.out)
        return 0
    out = args.out or ROOT / "benchmarks" / "out" / f"latency-{args.size}"
    artifacts = out / "artifacts"
    runners = list(dict.fromkeys([EAGER] + args.runners))
    failed = build(artifacts, args.size, runners, args.rebuild)
    if args.build_only:
        return 0
    runners = [r for r in runners if r not in failed]
    extra = {}
    for item in args.extra:
        label, sep, model = item.partition("=")
        if not sep or not Path(model).is_file():
            parser.error(f"--extra wants LABEL=MODEL_FILE with an existing file, got {item!r}")
        extra[label] = Path(model)
    runners += list(extra)
    load_before = os.getloadavg()
    loaded = load_runners(artifacts, [r for r in runners if r not in extra], args.threads, extra)
    configs = {}
    for seq in args.seqs:
        for batch in args.batches:
            key = f"{seq}x{batch}"
            chosen = {n: f for n, f in loaded.items() if n not in SLOW_RUNNERS or key in args.slow_configs}
            configs[f"seq {seq}, batch {batch}"] = time_config(chosen, seq, batch, args.rounds, args.budget)
    hidden, layers, heads, ffn, vocab = SIZES[args.size]
    result = {
        "model": f"random QA model, hidden {hidden}, {layers} layers, {heads} heads, FFN {ffn}, vocab {vocab}",
        "command": " ".join(["python", "benchmarks/latency.py"] + sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "threads": args.threads, "rounds": args.rounds, "runners": runners,
        "load_before": " ".join(f"{x:.1f}" for x in load_before),
        "load_after": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "configs": configs, "not_built": failed,
    }
    write_outputs(out, result)
    print((out / "latency.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

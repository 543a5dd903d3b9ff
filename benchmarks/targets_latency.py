"""Latency and size of the two cross-platform paths (issue 15), each beside the path it complements:

- Android, ONNX export as model.ort: onnxruntime in Python (a stand-in for the phone: the same
  runtime and graph, another CPU) on model.ort against the export's model.onnx, batch 1, LENGTH
  tokens, 1 and 2 threads, thread spinning off, the order rotated each round; median of RUNS.
- Web, TFLite export in LiteRT.js: the web page's own self-test latency in headless Chromium (mean of
  10 runs of golden example 0 after 2 warm-ups, WebAssembly, one thread; median over ROUNDS page loads) for the static-shape
  TFLite bundle (LiteRT.js, every row padded to LENGTH) and the ONNX bundle of the same model
  (onnxruntime-web, the example at its own length).

    PYTHONPATH=. python benchmarks/targets_latency.py [--model DIR | --random-256] [--task qa] [--length 64]

--random-256 uses quant_report.py's random model (hidden 256, 4 layers, vocab 8000), large enough
for the runtimes' kernels rather than their call overhead to show.

Needs `make web-deps` (Chromium, runtimes/web/node_modules). Writes its exports and bundles under
benchmarks/out/targets (git-ignored) and prints a Markdown table. Times are for one machine in one
run: compare rows with each other, not with other machines.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import statistics
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "runtimes" / "web"
sys.path.insert(0, str(ROOT))

from prelnedge.timing import interleave, ort_session_options, rotation  # noqa: E402


def build(out: Path, model: Path | None, task: str, length: int) -> dict[str, Path]:
    from prelnedge.bundle import bundle
    from prelnedge.export import ExportConfig, export

    paths = {"onnx": out / "export-onnx"}
    export(ExportConfig(task=task, target="onnx", model=model, out=paths["onnx"], force=True))
    site = out / "site"
    paths["android-ort"] = bundle(paths["onnx"], "android", out / "android-ort", force=True).folder
    paths["web-onnx"] = bundle(paths["onnx"], "web", site / "web-onnx", force=True).folder
    # The page times golden example 0: onnxruntime-web runs it at its own length, LiteRT.js at the
    # static length. A second static export at exactly that length compares the same work.
    own = len(json.loads((paths["onnx"] / "golden.json").read_text())["examples"][0]["input_ids"][-1])
    for static in dict.fromkeys([length, own]):
        paths[f"tflite-{static}"] = out / f"export-tflite-static{static}"
        export(ExportConfig(task=task, target="tflite", model=model, out=paths[f"tflite-{static}"], force=True,
                            static_shape=static))
        paths[f"web-litert-{static}"] = bundle(paths[f"tflite-{static}"], "web", site / f"web-litert-{static}",
                                               force=True).folder
    paths["site"] = site
    paths["example_tokens"] = own
    return paths


def ort_latency(files: dict[str, Path], length: int, runs: int, vocab: int) -> dict[str, float]:
    """Median ms per call of each file at each thread count, batch 1, `length` real tokens; every
    session in every one of RUNS rounds, order rotated, thread spinning off (prelnedge.timing)."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    ids = rng.integers(4, vocab - 1, size=(1, length)).astype(np.int64)
    ids[0, 0], ids[0, -1] = 0, 2
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    calls = {}
    for name, path in files.items():
        for threads in (1, 2):
            session = ort.InferenceSession(str(path), ort_session_options(threads), providers=["CPUExecutionProvider"])
            calls[f"{name}, {threads} thread{'s' if threads > 1 else ''}"] = (
                lambda session=session: session.run(None, feeds))
    return {key: timing.median_ms() for key, timing in interleave(calls, runs, warmup=3).items()}


def browser_latency(site: Path, pages: list[str], work: Path) -> dict[str, str]:
    """Each bundle's self-test line (it carries latency_ms) from headless Chromium."""
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        job = {"chromium": "/usr/bin/chromium", "pages": [{"url": f"{base}/{p}/index.html?selftest=1"} for p in pages]}
        (work / "browser-job.json").write_text(json.dumps(job))
        done = subprocess.run(["node", str(WEB / "test" / "browser_check.mjs"), str(work / "browser-job.json")],
                              cwd=WEB, capture_output=True, text=True, timeout=600, check=True)
    finally:
        httpd.shutdown()
        httpd.server_close()
    return {page: result.get("selftest", "no self-test line") for page, result in zip(pages, json.loads(done.stdout))}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: the embedded model)")
    parser.add_argument("--random-256", action="store_true", help="quant_report.py's random hidden-256 model")
    parser.add_argument("--task", default="qa")
    parser.add_argument("--length", type=int, default=64, help="static length and benchmark length in tokens")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="page loads per web bundle")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "targets")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)  # this script's own output folder
    args.out.mkdir(parents=True)
    if args.random_256:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from quant_report import make_checkpoint

        args.model = args.out / "random-256-4l-8000"
        make_checkpoint(args.model, args.task)
    paths = build(args.out, args.model, args.task, args.length)
    vocab = json.loads((paths["onnx"] / "config.json").read_text())["vocab_size"]
    ort_ms = ort_latency({"model.onnx": paths["onnx"] / "model.onnx", "model.ort": paths["android-ort"] / "model.ort"},
                         args.length, args.runs, vocab)
    pages = [name for name in paths if str(name).startswith("web-litert-")] + ["web-onnx"]
    # A page's own figure is a mean of 10 calls; on a busy machine one such figure swings by 2-4x,
    # so each page is opened ROUNDS times, in rotated order, and the median is reported.
    seen: dict[str, list[float]] = {page: [] for page in pages}
    for round_ in range(args.rounds):
        for page, line in browser_latency(paths["site"], rotation(pages, round_), args.out).items():
            if not line.startswith("SELFTEST PASS"):
                raise SystemExit(f"{page}: {line}")
            seen[page].append(float(line.split("latency_ms=")[1].split()[0]))
    lines = {page: f"{statistics.median(v):.1f} ms (median of {len(v)} page loads: "
                   f"{', '.join(f'{x:.0f}' for x in v)}); self-test PASS" for page, v in seen.items()}

    def size(p: Path) -> str:
        return f"{p.stat().st_size / 2**20:.2f} MiB"

    def bundle_size(p: Path) -> str:
        return f"{json.loads((p / 'manifest.json').read_text())['bundle']['total_bytes'] / 2**20:.1f} MiB"

    print(f"\n{args.task}, model {args.model or 'embedded default'}, length {args.length}; the web pages time "
          f"golden example 0 ({paths['example_tokens']} tokens)\n")
    print("| path | model file | bundle | latency |")
    print("|---|---|---|---|")
    for key, ms in ort_ms.items():
        target = paths["android-ort"] if "model.ort" in key else paths["onnx"]
        name = "model.ort" if "model.ort" in key else "model.onnx"
        print(f"| onnxruntime (Python), {key} | {size(target / name)} | "
              f"{bundle_size(paths['android-ort']) if name == 'model.ort' else '—'} | {ms:.2f} ms (median of {args.runs}) |")
    for page, line in lines.items():
        model = paths[page] / json.loads((paths[page] / "manifest.json").read_text())["bundle"]["model"]
        runtime = (f"LiteRT.js, static shape {page.rsplit('-', 1)[1]} tokens" if page.startswith("web-litert")
                   else f"onnxruntime-web, {paths['example_tokens']} tokens")
        print(f"| Chromium {runtime} ({page}) | {size(model)} | {bundle_size(paths[page])} | {line} |")


if __name__ == "__main__":
    main()

"""Browser latency, single- and multi-threaded WebAssembly, against native ONNX Runtime (issue 13, item 7).

    PYTHONPATH=$PWD nice -n 15 .venv/bin/python benchmarks/web_threads_latency.py --size base [--loads 3]

Builds (once, kept in OUT) a seeded random QA checkpoint of the size (benchmarks/random_checkpoint.py),
its float ONNX export and web bundle, all through the prelnedge CLI. Then:
- Chromium: the page's own self-test latency (mean of 10 calls of golden example 0 after 2 warm-ups,
  onnxruntime-web's wasm backend) with the page served two ways, alternating, LOADS page loads each:
  by the bundle's serve.py (cross-origin isolated: threads) and by `python3 -m http.server` (not
  isolated: one thread). The row records the thread count the page's runtime really had.
- native: onnxruntime in Python on the same model.onnx and the same length, 1 and 2 threads,
  spinning off, order rotated, median of RUNS calls.
Compare rows of one run only; the machine is shared and times swing with its load.
Needs `make web-deps` (Chromium, runtimes/web/node_modules).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "runtimes" / "web"
sys.path.insert(0, str(ROOT))

from benchmarks.random_checkpoint import SIZES  # noqa: E402
from benchmarks.targets_latency import ort_latency  # noqa: E402
from prelnedge.timing import rotation  # noqa: E402


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "prelnedge.cli", *args], check=True, cwd=ROOT)


def build(out: Path, size: str) -> Path:
    """The web bundle's site folder (OUT/site/qa); each step skipped when its output exists."""
    checkpoint, export, site = out / "checkpoint", out / "export-onnx", out / "site"
    if not (checkpoint / "config.json").exists():
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                        "from benchmarks.random_checkpoint import make_checkpoint; "
                        "make_checkpoint(Path(sys.argv[1]), 'qa', sys.argv[2])", str(checkpoint), size],
                       check=True, cwd=ROOT)
    if not (export / "manifest.json").exists():
        _cli("export", "--model", str(checkpoint), "--task", "qa", "--target", "onnx", "--out", str(export), "--force")
    if not (site / "qa" / "manifest.json").exists():
        _cli("bundle", str(export), "--platform", "web", "--out", str(site / "qa"), "--force")
    return site / "qa"


@contextmanager
def server(page_dir: Path, isolated: bool) -> Iterator[str]:
    """serve.py (COOP/COEP) or Python's plain static server on a free port; the page's URL."""
    if isolated:
        command = [sys.executable, str(page_dir / "serve.py"), "--port", "0"]
    else:
        command = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(page_dir)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        port = re.search(r"(?:127\.0\.0\.1|port) ?:?(\d+)", line)
        if not port:
            raise SystemExit(f"the server printed {line!r}")
        yield f"http://127.0.0.1:{port.group(1)}/index.html?selftest=1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def page_load(page_dir: Path, isolated: bool, work: Path, timeout_ms: int) -> dict:
    with server(page_dir, isolated) as url:
        job = {"chromium": "/usr/bin/chromium", "timeout_ms": timeout_ms, "pages": [{"url": url, "threads": True}]}
        (work / "browser-job.json").write_text(json.dumps(job))
        done = subprocess.run(["node", str(WEB / "test" / "browser_check.mjs"), str(work / "browser-job.json")],
                              cwd=WEB, capture_output=True, text=True, timeout=timeout_ms / 1000 + 120, check=True)
    result = json.loads(done.stdout)[0]
    line = result.get("selftest") or f"no self-test line: {result.get('errors')}"
    if not line.startswith("SELFTEST PASS"):
        raise SystemExit(f"{'isolated' if isolated else 'plain'} page: {line}")
    return {"ms": float(line.split("latency_ms=")[1].split()[0]), "threads": result["wasm_threads"],
            "isolated": result["isolated"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="base")
    parser.add_argument("--loads", type=int, default=3, help="page loads per server, alternating")
    parser.add_argument("--runs", type=int, default=20, help="native calls per thread count")
    parser.add_argument("--timeout-s", type=int, default=600, help="per page load (a base model loads slowly)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or ROOT / "benchmarks" / "out" / f"web-threads-{args.size}"
    out.mkdir(parents=True, exist_ok=True)
    page_dir = build(out, args.size)
    golden = json.loads((page_dir / "golden.json").read_text())
    tokens = len(golden["examples"][0]["input_ids"][-1])
    seen: dict[bool, list[dict]] = {True: [], False: []}
    for load in range(args.loads):
        for isolated in rotation([True, False], load):  # alternating, as prelnedge.timing rotates
            seen[isolated].append(page_load(page_dir, isolated, out, args.timeout_s * 1000))
            print(f"load {load}: {'isolated' if isolated else 'plain'} {seen[isolated][-1]}", flush=True)
    vocab = json.loads((page_dir / "config.json").read_text())["vocab_size"]
    native = ort_latency({"model.onnx": out / "export-onnx" / "model.onnx"}, tokens, args.runs, vocab)
    hidden, layers, heads, ffn, vocab = SIZES[args.size]
    command = "PYTHONPATH=$PWD nice -n 15 .venv/bin/python benchmarks/web_threads_latency.py " + " ".join(sys.argv[1:])
    rows = [f"### {args.size}: hidden {hidden}, {layers} layers, FFN {ffn}, vocab {vocab}; QA, batch 1, "
            f"{tokens} tokens (golden example 0)", "", f"    {command}", "",
            "| runner | threads | latency (median) | per load / note |", "|---|---|---|---|"]
    for isolated, label in ((False, "Chromium, onnxruntime-web wasm, `python3 -m http.server` (not isolated)"),
                            (True, "Chromium, onnxruntime-web wasm, bundle's `serve.py` (cross-origin isolated)")):
        loads = seen[isolated]
        threads = sorted({x["threads"] for x in loads})
        per_load = ", ".join(f"{x['ms']:.0f}" for x in loads)
        rows.append(f"| {label} | {', '.join(map(str, threads))} | {statistics.median(x['ms'] for x in loads):.1f} ms | "
                    f"{per_load} ms |")
    for key, ms in native.items():
        rows.append(f"| onnxruntime {ort_version()} (Python, native), {key} | {key.split(', ')[1].split()[0]} | "
                    f"{ms:.1f} ms | median of {args.runs} calls |")
    table = "\n".join(rows) + "\n"
    (out / "web_threads_latency.md").write_text(table)
    print(table)


def ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


if __name__ == "__main__":
    main()

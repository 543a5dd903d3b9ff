"""Peak memory and wall time of each export path on a random checkpoint of a given size (issue 13).

    PYTHONPATH=$PWD nice -n 15 .venv/bin/python benchmarks/export_memory.py --size base \
        --runs onnx:torch tflite:tf tflite:flax tflite:tf:int8-static

Writes the seeded random QA checkpoint (benchmarks/random_checkpoint.py) in a subprocess, then runs
`prelnedge export` (with validation, as a user runs it) once per path, each in its own process under
`/usr/bin/time -v`; "Maximum resident set size" is the peak. One export at a time, never two: the
machine is shared. A watchdog stops an export whose resident memory passes --limit-gib, and the
table says so. RUN is TARGET:FRAMEWORK or TARGET:FRAMEWORK:MODE (`export --quantize MODE`).
Prints a Markdown table and writes it, with the command, to OUT/export_memory-SIZE.md.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.random_checkpoint import SIZES  # noqa: E402


def _rss_of_tree(pid: int) -> int:
    """Resident bytes of a process and all its descendants (the converter may fork helpers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def measure(command: list[str], limit_bytes: int) -> dict:
    """Run `command` under /usr/bin/time -v; stop it (its whole session) past limit_bytes."""
    import os
    import signal

    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", report.name, *command], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # Read stderr while the child runs: a child that writes more than the pipe holds (64 KiB)
        # would otherwise block on its next write, and the watchdog below would wait on it forever.
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        stopped = False
        while proc.poll() is None:
            if _rss_of_tree(proc.pid) > limit_bytes:
                os.killpg(proc.pid, signal.SIGKILL)
                stopped = True
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        reader.join(timeout=60)  # the pipe closes when the child (or its killed session) exits
        stderr = "".join(lines)
        text = Path(report.name).read_text()
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    error = [line for line in stderr.splitlines() if line.startswith("prelnedge:")]
    return {"seconds": seconds, "peak_bytes": int(peak.group(1)) * 1024 if peak else None,
            "exit": proc.returncode, "stopped": stopped, "error": (error or stderr.splitlines() or [""])[-1]}


def export_command(checkpoint: Path, run: str, out: Path) -> list[str]:
    target, framework, *mode = run.split(":")
    command = [sys.executable, "-c", "import sys; from prelnedge.cli import main; sys.exit(main())", "export",
               "--model", str(checkpoint), "--task", "qa", "--target", target, "--framework", framework,
               "--out", str(out)]
    return command + (["--quantize", mode[0]] if mode else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="base")
    parser.add_argument("--runs", nargs="+", default=["onnx:torch", "tflite:tf", "tflite:flax"])
    parser.add_argument("--limit-gib", type=float, default=12.0, help="stop an export past this resident size")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    hidden, layers, heads, ffn, vocab = SIZES[args.size]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        checkpoint = Path(tmp) / "checkpoint"
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                        "from benchmarks.random_checkpoint import make_checkpoint; "
                        "make_checkpoint(Path(sys.argv[1]), 'qa', sys.argv[2])", str(checkpoint), args.size],
                       check=True, cwd=ROOT)
        weights = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors"))
        for run in args.runs:
            out = Path(tmp) / run.replace(":", "-")
            result = measure(export_command(checkpoint, run, out), int(args.limit_gib * 2**30))
            artifact = sum(p.stat().st_size for p in out.glob("model*")) if out.exists() else 0
            if result["stopped"]:
                status = f"stopped past {args.limit_gib:g} GiB"
            elif result["exit"] != 0:
                status = f"failed: {result['error'][:160]}"
            else:
                status = "validated"
            if result["stopped"]:  # killed by the watchdog: time -v reports no usable peak
                peak = f"> {args.limit_gib:g} GiB"
            else:
                peak = f"{result['peak_bytes'] / 2**30:.2f} GiB" if result["peak_bytes"] else "—"
            rows.append(f"| {run} | {peak} | {result['seconds']:.0f} s | {artifact / 2**20:.0f} MiB | {status} |")
            print(rows[-1], flush=True)
    title = (f"{args.size}: hidden {hidden}, {layers} layers, {heads} heads, FFN {ffn}, vocab {vocab}, QA head; "
             f"checkpoint {weights / 2**20:.0f} MiB safetensors")
    command = "PYTHONPATH=$PWD nice -n 15 .venv/bin/python benchmarks/export_memory.py " + shlex.join(sys.argv[1:])
    table = "\n".join([f"### {title}", "", f"    {command}", "",
                       "| export | peak RSS | wall time | model file | result |", "|---|---|---|---|---|", *rows, ""])
    (args.out / f"export_memory-{args.size}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()

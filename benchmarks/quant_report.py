"""The quantization report for a random model of hidden 256, 4 layers, vocab 8000 (issue 5's figure).

    .venv/bin/python benchmarks/quant_report.py [--task qa] [--out benchmarks/out/report-256]

The random checkpoint is benchmarks/random_checkpoint.py's "256" size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.random_checkpoint import make_checkpoint  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="qa")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "report-256")
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "random-256-4l-8000"
        make_checkpoint(checkpoint, args.task)
        command = [sys.executable, "-m", "prelnedge.cli", "report", "--model", str(checkpoint), "--task", args.task,
                   "--out", str(args.out), "--force"]
        if args.baseline:
            command += ["--baseline", str(args.baseline)]
        return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())

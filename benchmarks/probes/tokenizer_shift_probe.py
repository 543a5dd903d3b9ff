"""Probe. Question: Does the embedded tokenizer move a random model's quantization figures? (issue 28)
Answer and where it is written: Yes, by the changed inputs alone. benchmarks/README.md, "Probes and their answers".

Issue 28: TFLite int16x8 on benchmarks/quant_report.py's hidden-256 QA model read 30.3 dB one round and
29.5 dB the next.

    .venv/bin/python benchmarks/probes/tokenizer_shift_probe.py [--before ac5bb09] [--modes int16x8]

The random checkpoint (benchmarks/random_checkpoint.py, "256", seed 0) copies the embedded model's
tokenizer, so the calibration corpus and the fidelity examples become other token ids when that
tokenizer changes. This runs `prelnedge report` on the same checkpoint twice, once with the
tokenizer files of commit --before and once with the working tree's, and prints each cell's SQNR.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.random_checkpoint import make_checkpoint  # noqa: E402

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")


def use_tokenizer_of(commit: str, folder: Path) -> None:
    for name in TOKENIZER_FILES:
        shown = subprocess.run(["git", "show", f"{commit}:prelnedge/default_model/{name}"], cwd=ROOT,
                               capture_output=True)
        if shown.returncode == 0:
            (folder / name).write_bytes(shown.stdout)
        else:
            (folder / name).unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="ac5bb09", help="commit whose embedded tokenizer is the 'before'")
    parser.add_argument("--task", default="qa")
    parser.add_argument("--modes", nargs="+", default=["int16x8"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, commit in ((f"tokenizer of {args.before}", args.before), ("tokenizer of the working tree", None)):
            checkpoint = Path(tmp) / "random-256-4l-8000"
            make_checkpoint(checkpoint, args.task)
            if commit:
                use_tokenizer_of(commit, checkpoint)
            out = Path(tmp) / "report"
            subprocess.run([sys.executable, "-m", "prelnedge.cli", "report", "--model", str(checkpoint),
                            "--task", args.task, "--targets", "tflite", "--modes", "fp32", *args.modes,
                            "--out", str(out), "--force"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            for cell in json.loads((out / "report.json").read_text())["cells"]:
                outputs = {name: round(o["sqnr_db"], 2) for name, o in (cell.get("outputs") or {}).items()}
                print(f"{label}: {cell['target']}:{cell['mode']} {cell.get('status')} SQNR dB {outputs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Probe: where one cached decoding step's time goes, per mode (issue 26: why int8-dynamic's step is no
faster than fp32's at base size). ONNX Runtime's profiler, kernel time per op type for single-token steps
after a prompt of PROMPT tokens, every mode's session in the same rounds (order rotated).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/generate_profile.py [--work benchmarks/out/generate-base]
        [--modes fp32 int8-dynamic int4] [--prompt 256] [--steps 8] [--rounds 2] [--threads 2]

Reads the folders benchmarks/generate_tokens.py built. The answer is recorded in benchmarks/README.md
("Generation with the key/value cache").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ort_profile import RUN, TOTAL, _per_run, _session  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "generate-base")
    parser.add_argument("--modes", nargs="+", default=["fp32", "int8-dynamic", "int4"])
    parser.add_argument("--prompt", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from prelnedge.runtime.sessions import OnnxSession

    with tempfile.TemporaryDirectory() as tmp:
        sessions = {mode: _session(args.work / mode / "model.onnx", args.threads, os.path.join(tmp, mode))
                    for mode in args.modes}
        labels = {mode: [] for mode in args.modes}
        rng = np.random.default_rng(0)
        for r in range(args.rounds):
            for mode in args.modes[r % len(args.modes):] + args.modes[:r % len(args.modes)]:
                wrapper = OnnxSession.__new__(OnnxSession)  # OnnxSession's feeding, the profiling session's run
                wrapper._session = sessions[mode]
                wrapper._inputs = {i.name: i.type for i in sessions[mode].get_inputs()}
                wrapper.cache_inputs = tuple(i for i in sessions[mode].get_inputs() if i.name.startswith("past_key_values."))
                wrapper.cache_outputs = tuple(o.name for o in sessions[mode].get_outputs() if o.name.startswith("present."))
                ids = rng.integers(4, 600, size=(1, args.prompt), dtype=np.int64)
                logits, past = wrapper.run_cached(ids, np.ones_like(ids), None)
                labels[mode].append(None)  # the prompt: left out
                total = args.prompt
                for _ in range(args.steps):
                    total += 1
                    token = np.array([[int(logits[0, -1].argmax())]], np.int64)
                    logits, past = wrapper.run_cached(token, np.ones((1, total), np.int64), past)
                    labels[mode].append(1)
        rows = {}
        for mode, session in sessions.items():
            events = json.loads(Path(session.end_profiling()).read_text())
            rows[mode] = _per_run(events, labels[mode])[1]
    ops = sorted({op for r in rows.values() for op in r if op not in (TOTAL, RUN)},
                 key=lambda op: -max(r.get(op, (0, 0))[0] for r in rows.values()))
    print(f"| op (ms per step, prompt {args.prompt}, {args.threads} threads) | " + " | ".join(args.modes) + " |")
    print("|---|" + "---|" * len(args.modes))
    for op in [RUN, TOTAL, *ops[:12]]:
        print(f"| {op} | " + " | ".join(f"{rows[m].get(op, (0, 0))[0]:.2f} ({rows[m].get(op, (0, 0))[1]})"
                                       for m in args.modes) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

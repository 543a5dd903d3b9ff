"""The embedded default model: small, loadable, and rebuilt deterministically by its training script
(checked on the smoke configuration: the full run takes ~20 minutes and does not run in CI)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import prelnedge
from prelnedge.checkpoint.load import default_model_dir

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_default_model.py"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != "metrics.json"}  # metrics.json also records the wall time


def test_training_smoke_run_is_deterministic(tmp_path):
    """Two smoke runs (a few steps, tiny model) with the same seed and threads write identical files,
    in the shipped layout, and the held-out metrics they record agree."""
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", str(out)], capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert '"phase": "finetune"' in proc.stderr and "held_out" in proc.stderr  # the per-evaluation log
        runs.append(out)
    assert _digests(runs[0]) == _digests(runs[1])
    # same files as the shipped model, less its README.md (the model's story, written by people)
    assert set(_digests(runs[0])) == set(_digests(default_model_dir())) - {"README.md"}
    metrics = [json.loads((out / "metrics.json").read_text())["held_out"] for out in runs]
    assert metrics[0] == metrics[1] and metrics[0]["qa"]["examples"] > 0


def test_small_and_loadable():
    total = sum(p.stat().st_size for p in default_model_dir().iterdir())
    assert total < 12 * 2**20  # the limit for the embedded folder
    model = prelnedge.load_reference(task="qa")
    out = model([[0, 100, 200, 2]], [[1, 1, 1, 1]])
    assert out["start_logits"].shape == (1, 4) and model.checkpoint.initialized == []

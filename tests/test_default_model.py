"""The embedded default model is what its build script makes, small, and loadable."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import prelnedge
from prelnedge.checkpoint import default_model_dir

ROOT = Path(__file__).resolve().parents[1]


def test_rebuild_is_byte_identical(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_default_model.py"), str(tmp_path)],
                   check=True, capture_output=True)
    shipped = sorted(p.name for p in default_model_dir().iterdir() if p.is_file())
    assert shipped == sorted(p.name for p in tmp_path.iterdir())
    for name in shipped:
        digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
        assert digest(default_model_dir() / name) == digest(tmp_path / name), name


def test_small_and_loadable():
    total = sum(p.stat().st_size for p in default_model_dir().iterdir())
    assert total < 3 * 2**20
    model = prelnedge.load_reference(task="qa")
    out = model([[0, 100, 200, 2]], [[1, 1, 1, 1]])
    assert out["start_logits"].shape == (1, 4) and model.checkpoint.initialized == []

"""The client venvs under .venvs/ (made by `make client-venvs`, scripts/make_client_venv.sh) that tests
drive in a subprocess: `fairseq` (fairseq 0.12.2) and `hf4` (transformers 4.57: optimum-onnx, HF's TF
classes). A test that needs one skips, saying why, when it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def client_python(name: str) -> Path:
    """The venv's python (PRELNEDGE_<NAME>_PYTHON overrides it), or a skip that names the failed set-up's log."""
    python = Path(os.environ.get(f"PRELNEDGE_{name.upper()}_PYTHON", ROOT / f".venvs/{name}/bin/python"))
    if not python.exists():
        log = ROOT / f".venvs/{name}-install.log"
        pytest.skip(f"no {name} client venv at {python} (`make client-venvs` makes it"
                    + (f"; its last attempt failed, see {log})" if log.exists() else ")"))
    return python

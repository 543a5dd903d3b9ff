"""Hostile and tampered inputs (issue 28, section 2): none may run code, read outside the folder it
names, allocate what its config claims before the weights are checked, or end in a traceback. Each
refusal is one line on stderr with exit code 2, and nothing is written or lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prelnedge.cli import main
from prelnedge.hashing import sha256_file

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "prelnedge.cli"]


@pytest.fixture(scope="module")
def qa_export(default_onnx_export) -> Path:
    return default_onnx_export("qa")


def run_cli(args: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_refusal(code: int, err: str) -> str:
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


# ---- manifest names that escape the folder ----------------------------------------------------------
@pytest.fixture()
def escaping_export(qa_export, tmp_path):
    """name -> an export whose manifest lists an outside file (with its right sha256) under that name."""
    outside = tmp_path / "outside.txt"
    outside.write_text("a user's private file")

    def make(kind: str) -> tuple[Path, str]:
        folder = tmp_path / "exports" / kind
        shutil.copytree(qa_export, folder)
        name = {"dotdot": "../../outside.txt", "absolute": str(outside), "symlink": "notes.txt"}[kind]
        if kind == "symlink":
            (folder / "notes.txt").symlink_to(outside)
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"][name] = sha256_file(outside)
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return folder, name
    return make


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
@pytest.mark.parametrize("command", ["validate", "bundle", "quantize", "predict"])
def test_manifest_names_outside_the_folder_are_refused(command, kind, escaping_export, tmp_path, capsys):
    folder, name = escaping_export(kind)
    args = {"validate": ["validate", folder],
            "bundle": ["bundle", folder, "--platform", "web", "--out", tmp_path / "b"],
            "quantize": ["quantize", folder, "--quantize", "int8-dynamic", "--out", tmp_path / "q"],
            "predict": ["predict", folder, "--question", "q?", "--context", "c."]}[command]
    err = one_line_refusal(*run_cli(args, capsys)[::2])
    assert f"lists {name!r}" in err and "only files inside its folder" in err
    assert not (tmp_path / "b").exists() and not (tmp_path / "q").exists()

"""Data safety and honest validation (issue 10, items 1-6): --force replaces only prelnedge's own
folders, never an input; one writer per OUT (real concurrent processes); a run killed with SIGKILL
leaves folders the next run removes; `validate` says what it checked and exits 0 only for the full
check; validation and golden.json reach the model's maximum length, with padding."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from prelnedge.checkpoint.load import default_model_dir
from prelnedge.cli import EXIT_PARTIAL, main
from prelnedge.errors import UserError
from prelnedge.export import ExportConfig, export
from prelnedge.output_folder import atomic_folder, output_lock, owner_alive, owner_tag, rename_noreplace

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "prelnedge.cli"]


@pytest.fixture(scope="module")
def qa_export(default_onnx_export) -> Path:
    """A float ONNX qa export of the embedded model (the cheapest target), the session's shared one
    (conftest.py): the tests here only read it or copy it."""
    return default_onnx_export("qa")


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def user_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "thesis.tex").write_text("years of work")
    return path


# ---- 1. --force replaces only prelnedge's own output ----------------------------------------------
COMMANDS = {  # command -> arguments before `--out DIR --force`
    "export": lambda exp: ["export", "--task", "qa", "--target", "onnx"],
    "export-quantize": lambda exp: ["export", "--task", "qa", "--target", "onnx", "--quantize", "int8-dynamic"],
    "quantize": lambda exp: ["quantize", exp, "--mode", "int8-dynamic"],
    "bundle": lambda exp: ["bundle", exp, "--platform", "web"],
    "report": lambda exp: ["report", "--task", "qa", "--targets", "onnx", "--modes", "fp32"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_force_refuses_a_folder_prelnedge_did_not_write(command, qa_export, tmp_path, capsys):
    out = user_folder(tmp_path / "mine")
    code, _, err = run_cli([*COMMANDS[command](qa_export), "--out", out, "--force"], capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "not a prelnedge output folder" in err and "thesis.tex" in err
    assert (out / "thesis.tex").read_text() == "years of work"


def test_force_refuses_a_prelnedge_folder_holding_user_files(qa_export, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(qa_export, out)
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(["bundle", qa_export, "--platform", "web", "--out", out, "--force"], capsys)
    assert code == 2 and "holds files prelnedge did not write (notes.txt)" in err
    assert (out / "notes.txt").read_text() == "mine"


def test_force_replaces_a_prelnedge_folder(qa_export, tmp_path, capsys):
    out = tmp_path / "q"
    for _ in range(2):  # the second run replaces the first's folder
        code, _, err = run_cli(["quantize", qa_export, "--mode", "fp16", "--out", out, "--force"], capsys)
        assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["quantization"]["mode"] == "fp16"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q"]  # no partial, lock or trash left


# ---- 2. never onto the input -----------------------------------------------------------------------
@pytest.mark.parametrize("case", ["quantize-equal", "quantize-above", "quantize-inside", "bundle-equal",
                                  "report-over-baseline"])
def test_output_over_an_input_is_refused(case, qa_export, tmp_path, capsys):
    exp = tmp_path / "exp"
    shutil.copytree(qa_export, exp)
    (exp / "report.json").write_text(json.dumps({"format": "prelnedge-report/1", "task": "qa", "cells": []}))
    before = sorted(p.name for p in exp.iterdir())
    args = {
        "quantize-equal": ["quantize", exp, "--mode", "int8-dynamic", "--out", exp, "--force"],
        "quantize-above": ["quantize", exp, "--mode", "int8-dynamic", "--out", tmp_path, "--force"],
        "quantize-inside": ["quantize", exp, "--mode", "int8-dynamic", "--out", exp / "q"],
        "bundle-equal": ["bundle", exp, "--platform", "web", "--out", exp, "--force"],
        "report-over-baseline": ["report", "--task", "qa", "--targets", "onnx", "--modes", "fp32",
                                 "--baseline", exp / "report.json", "--out", exp, "--force"],
    }[case]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "would write over the input" in err
    assert sorted(p.name for p in exp.iterdir()) == before


# ---- 3. concurrent writers -------------------------------------------------------------------------
def test_two_concurrent_exports_exactly_one_wins(tmp_path):
    out = tmp_path / "qa"
    cmd = [*CLI, "export", "--task", "qa", "--target", "onnx", "--out", str(out)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert len(loser.splitlines()) == 1 and ("another prelnedge run" in loser or "already exists" in loser), loser
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qa"]
    assert main(["validate", str(out)]) == 0  # the winner's folder is whole


def test_a_held_lock_stops_another_process_at_once(tmp_path):
    out = tmp_path / "qa"
    with output_lock(out):
        done = subprocess.run([*CLI, "export", "--task", "qa", "--target", "onnx", "--out", str(out), "--force"],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and f"another prelnedge run (pid {os.getpid()}) is writing" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and not out.exists()


def test_final_rename_never_replaces_a_folder_that_appeared(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError, match="appeared while this run was writing it"):
        with atomic_folder(out, force=False) as work:
            (work / "model.onnx").write_text("ours")
            user_folder(out)  # another program creates OUT meanwhile
    assert (out / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    src = tmp_path / "src"
    src.mkdir()
    with pytest.raises(FileExistsError):
        rename_noreplace(src, out)


# ---- 4. leftovers after kill -9 ---------------------------------------------------------------------
def owner_tags():
    me = owner_tag()
    pid, start = me.split("-")
    return me, f"{pid}-{int(start) + 1}"  # the same pid with another start time: a reused pid


LINUX_PROC = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="start times come from /proc (Linux)")


@LINUX_PROC
def test_owner_tags_tell_dead_from_live():
    me, reused = owner_tags()
    assert owner_alive(me)
    assert not owner_alive(reused)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not owner_alive(f"{dead.stdout.strip()}-1")
    assert not owner_alive("k2j4h5")  # an older prelnedge's random suffix: nobody owns it


def kill_when(proc: subprocess.Popen, ready, timeout: float = 300, reap: bool = True) -> None:
    """SIGKILL `proc` once `ready()`; without `reap` it stays a zombie (its pid still present), as
    after a shell's `kill -9` followed at once by a rerun."""
    deadline = time.time() + timeout
    while time.time() < deadline and not ready():
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    assert ready(), "the run never got that far"
    os.kill(proc.pid, signal.SIGKILL)
    if reap:
        proc.wait(timeout=60)
        return
    deadline = time.time() + 60
    while time.time() < deadline and Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
        time.sleep(0.05)


@LINUX_PROC
def test_a_killed_unreaped_owner_is_dead():
    proc = subprocess.Popen([sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(600)"],
                            stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    tag = f"{proc.pid}-{Path(f'/proc/{proc.pid}/stat').read_text().rsplit(')', 1)[-1].split()[19]}"
    assert owner_alive(tag)
    kill_when(proc, lambda: True, reap=False)
    try:
        assert os.path.exists(f"/proc/{proc.pid}"), "the zombie keeps its pid until reaped"
        assert not owner_alive(tag)
    finally:
        proc.wait(timeout=60)


@pytest.mark.parametrize("reap", [True, False], ids=["reaped", "zombie"])
def test_sigkilled_export_quantize_leaves_what_the_next_run_removes(reap, tmp_path):
    out = tmp_path / "q"
    cmd = [*CLI, "export", "--task", "qa", "--target", "onnx", "--quantize", "int8-dynamic", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        kill_when(proc, lambda: any(tmp_path.glob(".q.float-*/.float.partial-*")), reap=reap)
        assert list(tmp_path.glob(".q.float-*")), "SIGKILL leaves the float folder behind"
        assert os.path.exists(f"/proc/{proc.pid}") != reap  # unreaped: the dead owner's pid is still there
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["q"]
    finally:
        assert proc.wait(timeout=60) == -signal.SIGKILL


@LINUX_PROC
def test_sigkilled_export_partial_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "qa"
    cmd = [*CLI, "export", "--task", "qa", "--target", "onnx", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_when(proc, lambda: any(tmp_path.glob(".qa.partial-*")))
    _, reused = owner_tags()
    (tmp_path / f".qa.partial-{reused}").mkdir()  # a dead owner whose pid now belongs to a live process
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert ".qa.lock" in leftovers and len([n for n in leftovers if ".partial-" in n]) == 2
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qa"]


def test_sigkilled_report_temp_folder_is_removed_by_the_next_report(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    cmd = [*CLI, "report", "--task", "qa", "--targets", "onnx", "--modes", "fp32", "--out", str(tmp_path / "r")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_when(proc, lambda: any(temp.glob(".prelnedge-report-*/*")))
    assert list(temp.glob(".prelnedge-report-*"))
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not list(temp.glob(".prelnedge-report-*"))


# ---- 5. validate says what it checked ---------------------------------------------------------------
@pytest.fixture(scope="module")
def moved_checkpoint_export(tmp_path_factory):
    """An export made from a relative --model path, then checked from another directory."""
    base = tmp_path_factory.mktemp("rel")
    shutil.copytree(default_model_dir(), base / "ckpt")
    cwd = os.getcwd()
    os.chdir(base)
    try:
        export(ExportConfig(task="sequence-classification", target="onnx", model=Path("ckpt"), out=Path("out")))
    finally:
        os.chdir(cwd)
    return base


def test_validate_from_another_directory_runs_the_full_check(moved_checkpoint_export, tmp_path, monkeypatch, capsys):
    base = moved_checkpoint_export
    manifest = json.loads((base / "out" / "manifest.json").read_text())
    assert Path(manifest["source"]["path"]).is_absolute()
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["validate", base / "out"], capsys)
    assert code == 0, out
    assert f"hashes: {len(manifest['files'])} files match" in out and "golden replay: 5 examples match" in out
    assert "full re-validation against the float reference: passed on 5 input batches" in out
    assert out.rstrip().endswith("validation passed: hashes, golden replay and full re-validation")


def test_validate_without_the_checkpoint_is_partial(moved_checkpoint_export, tmp_path, capsys):
    out_dir = tmp_path / "out"
    shutil.copytree(moved_checkpoint_export / "out", out_dir)
    moved = tmp_path / "elsewhere"
    shutil.copytree(moved_checkpoint_export / "ckpt", moved)
    (moved_checkpoint_export / "ckpt").rename(tmp_path / "gone")
    try:
        code, out, _ = run_cli(["validate", out_dir], capsys)
        assert code == EXIT_PARTIAL == 3
        assert "full re-validation against the float reference: not run: source checkpoint" in out
        assert "not found; pass --model" in out and "passed:" not in out.splitlines()[-1]
        code, out, _ = run_cli(["validate", out_dir, "--model", moved], capsys)
        assert code == 0 and "full re-validation against the float reference: passed" in out
        (moved / "config.json").write_text((moved / "config.json").read_text().replace('"gelu"', '"gelu" '))
        code, _, err = run_cli(["validate", out_dir, "--model", moved], capsys)
        assert code == 2 and "sha256 differs" in err
    finally:
        (tmp_path / "gone").rename(moved_checkpoint_export / "ckpt")


@pytest.mark.parametrize("name", ["validation.json", "golden.json"])
def test_validation_and_golden_files_are_covered_by_the_hashes(name, moved_checkpoint_export, tmp_path, capsys):
    out_dir = tmp_path / "out"
    shutil.copytree(moved_checkpoint_export / "out", out_dir)
    data = json.loads((out_dir / name).read_text())
    data["tampered"] = True
    (out_dir / name).write_text(json.dumps(data))
    code, _, err = run_cli(["validate", out_dir], capsys)
    assert code == 1 and f"{name} is missing or changed" in err


def test_validate_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0 all three ran and passed; 3 partial" in text and "--model" in text


# ---- 6. the whole length ----------------------------------------------------------------------------
def test_validation_batches_reach_the_maximum_length_padded_and_not():
    from prelnedge.config import PreLNConfig
    from prelnedge.tasks import get_task
    from prelnedge.verify.validate import validation_batches

    config = PreLNConfig.from_json_file(default_model_dir() / "config.json")
    batches = validation_batches(config, get_task("qa"))
    assert config.max_tokens == 128 > 64
    assert any(ids.shape == (1, config.max_tokens) and mask.all() for ids, mask in batches)
    assert any(ids.shape[1] == config.max_tokens and ids.shape[0] > 1 and not mask.all() for ids, mask in batches)


def test_validation_catches_an_error_past_position_64():
    from prelnedge.checkpoint.load import load_checkpoint
    from prelnedge.errors import ValidationError
    from prelnedge.models import build_forward
    from prelnedge.tasks import get_task
    from prelnedge.verify.validate import validate

    task = get_task("qa")
    checkpoint = load_checkpoint(None, task)
    forward = build_forward("torch", checkpoint)
    reference = lambda i, m: forward(i, m, False)  # noqa: E731

    def broken_after_100(ids, mask):  # e.g. a position table cut short
        out = {k: np.array(v) for k, v in reference(ids, mask).items()}
        out["start_logits"][:, 100:] += 1.0
        return out

    with pytest.raises(ValidationError, match="start_logits"):
        validate(broken_after_100, reference, checkpoint.config, task)


def test_golden_holds_a_maximum_length_and_a_padded_example(qa_export):
    golden = json.loads((qa_export / "golden.json").read_text())
    limit = golden["max_tokens"]
    examples = golden["examples"]
    assert len(examples) >= 4
    full = [e for e in examples if np.array(e["attention_mask"]).shape == (1, limit)]
    assert full and "question" in full[0] and np.array(full[0]["attention_mask"]).all()
    padded = [e for e in examples if not np.array(e["attention_mask"]).all()]
    assert padded and np.array(padded[0]["input_ids"]).shape[1] == limit
    assert padded[0]["zeroed_at_padding"] == ["start_logits", "end_logits"]
    mask = np.array(padded[0]["attention_mask"])
    start = np.array(padded[0]["expected"]["start_logits"]["values"])
    assert np.all(start[mask == 0] == 0) and np.any(start[mask == 1] != 0)


@pytest.mark.parametrize("mode", ["int8-dynamic", "int8-static"])
def test_onnx_quantization_writes_nothing_into_the_float_export(mode, qa_export, tmp_path):
    """ONNX Runtime's quantizers write `<model>-inferred.onnx` beside the path they are given and
    delete it afterwards; given the export's own path, a user's file of that name there would be
    overwritten and removed. The quantize stage hands them a private folder instead."""
    from prelnedge.quantize.stage import quantize_folder

    source = tmp_path / "float"
    shutil.copytree(qa_export, source)
    mine = source / "model-inferred.onnx"
    mine.write_text("a user's file")
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    quantize_folder(source, mode, tmp_path / mode)
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before

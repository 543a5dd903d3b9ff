"""prelnedge.executor in this process: content keys, dependencies, verdicts versus faults, retries,
the bar's counts, folders packed for travel. The same semantics on a real Ray cluster:
test_ray_cluster.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prelnedge.errors import UserError
from prelnedge.executor import After, Cell, ExecutorConfig, open_executor
from prelnedge.executor.cell import cell_keys, pack, unpack

FN = "cell_functions:"


class Bar:
    def __init__(self):
        self.seen = []

    def update(self, **counts):
        self.seen.append(counts)


def run(cells, into, **cfg):
    into.mkdir(exist_ok=True)
    bar = Bar()
    with open_executor(ExecutorConfig(**cfg)) as executor:
        return {o.name: o for o in executor.run(cells, into, progress=bar)}, bar


def test_keys_follow_content_not_names_or_places(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b" / "a.txt"
    b.parent.mkdir()
    a.write_text("same")
    b.write_text("same")
    keys = cell_keys([Cell.make(FN + "write_sum", "x", numbers=[1], data=a),
                      Cell.make(FN + "write_sum", "y", numbers=[1], data=b),
                      Cell.make(FN + "write_sum", "z", numbers=[2], data=a),
                      Cell.make(FN + "add_one", "after-x", folder=After("x")),
                      Cell.make(FN + "add_one", "after-z", folder=After("z"))])
    assert keys["x"] == keys["y"]  # the same function of the same bytes: one result
    assert keys["x"] != keys["z"] and keys["after-x"] != keys["after-z"]  # a producer's inputs reach its consumers' keys
    b.write_text("other")
    assert cell_keys([Cell.make(FN + "write_sum", "y", numbers=[1], data=b)])["y"] != keys["y"]
    with pytest.raises(ValueError, match="not an earlier cell"):
        cell_keys([Cell.make(FN + "add_one", "lonely", folder=After("missing"))])


def test_pack_round_trip_keeps_files_and_refuses_escapes(tmp_path):
    folder = tmp_path / "art"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.bin").write_bytes(bytes(range(256)) * 10)
    back = unpack(pack(folder), tmp_path / "landing")
    assert back == tmp_path / "landing" / "art" and (back / "sub" / "w.bin").read_bytes() == bytes(range(256)) * 10
    import io
    import tarfile

    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(tarfile.TarError):
        unpack(evil.getvalue(), tmp_path / "landing2")
    assert not (tmp_path / "escape.txt").exists()


def check_outcomes(tmp_path, **cfg):
    """One scenario for every backend: a Path input, a chained artifact, a verdict, a fault retried to
    its end (and the cell that needed it), a fault that a retry cures."""
    data = tmp_path / "d.txt"
    data.write_text("hello")
    cells = [Cell.make(FN + "write_sum", "a", numbers=[1, 2, 3], data=data),
             Cell.make(FN + "add_one", "b", folder=After("a")),
             Cell.make(FN + "refuse", "c"),
             Cell.make(FN + "crash", "d"),
             Cell.make(FN + "add_one", "e", folder=After("d")),
             Cell.make(FN + "flaky", "f", marker=str(tmp_path / "marker"), tag="f")]
    outcomes, bar = run(cells, tmp_path / "into", retries=2, **cfg)
    a = outcomes["a"]
    assert a.status == "ok" and a.figures["sum"] == 6 and a.attempts == 1
    assert json.loads((a.folder / "sum.json").read_text()) == {"sum": 6, "data": "hello"}
    assert outcomes["b"].figures == {"sum": 7}  # it read a's artifact
    assert (outcomes["c"].status, outcomes["c"].attempts, outcomes["c"].fault) == ("refused", 1, False)  # a verdict
    d = outcomes["d"]
    assert (d.status, d.fault, d.attempts, d.reason) == ("failed", True, 3, "RuntimeError: boom")
    assert outcomes["e"].status == "failed" and "its input d did not complete" in outcomes["e"].reason
    assert outcomes["e"].attempts == 0
    assert (outcomes["f"].status, outcomes["f"].attempts) == ("ok", 2)
    assert bar.seen[-1] == {"total": 6, "done": 6, "running": 0, "failed": 2, "retried": 3}
    return outcomes


def test_local_outcomes_verdicts_faults_retries_and_the_bar(tmp_path):
    outcomes = check_outcomes(tmp_path)
    assert outcomes["a"].folder.parent == tmp_path / "into"  # in this process: made in place


def test_a_cell_holds_its_threads_to_its_cpus_and_gives_them_back(tmp_path, monkeypatch):
    import os

    monkeypatch.delenv("PRELNEDGE_CELL_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    outcomes, _ = run([Cell.make(FN + "write_sum", "two", cpus=2, numbers=[1]),
                       Cell.make(FN + "write_sum", "default", numbers=[1])], tmp_path / "into")
    assert (outcomes["two"].figures["threads"], outcomes["two"].figures["omp"]) == ("2", "2")
    assert (outcomes["default"].figures["threads"], outcomes["default"].figures["omp"]) == ("1", "1")
    assert "PRELNEDGE_CELL_THREADS" not in os.environ and os.environ["OMP_NUM_THREADS"] == "3"  # the driver's own


def test_retries_zero_fails_at_the_first_fault(tmp_path):
    outcomes, _ = run([Cell.make(FN + "flaky", "f", marker=str(tmp_path / "m"), tag="z")], tmp_path / "into", retries=0)
    assert (outcomes["f"].status, outcomes["f"].attempts) == ("failed", 1)


def test_bad_executor_settings_are_user_errors():
    with pytest.raises(UserError, match="unknown executor 'slurm'; allowed: local, ray"):
        ExecutorConfig(backend="slurm")
    with pytest.raises(UserError, match="cpus per cell"):
        ExecutorConfig(cpus_per_cell=0)


def test_an_unreachable_cluster_is_one_line_before_any_work(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "r"
    env = {**__import__("os").environ, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    result = subprocess.run([sys.executable, "-m", "prelnedge.cli", "report", "--task", "sequence-classification",
                             "--targets", "onnx", "--modes", "fp32", "--executor", "ray", "--out", str(out)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"prelnedge: error: cannot reach the Ray cluster at 127.0.0.1:{port}")
    assert not out.exists() and not list(tmp_path.glob(".r*"))


def test_the_bar_redraws_one_line_with_every_count():
    import io

    from prelnedge.progress import CellBar

    stream = io.StringIO()
    with CellBar("3 cells on local", enabled=True, stream=stream) as bar:
        bar.update(total=3, done=0, running=1, failed=0, retried=0)
        bar.update(total=3, done=3, running=0, failed=1, retried=2)
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1  # one line, redrawn
    assert "3 cells on local: [########################] 3/3 done, 0 running, 1 failed, 2 retried" in text
    quiet = io.StringIO()
    with CellBar("x", enabled=False, stream=quiet) as bar:
        bar.update(total=1, done=1, running=0, failed=0, retried=0)
    assert quiet.getvalue() == ""  # not a terminal: nothing


def test_a_long_cell_name_makes_a_short_unique_folder_name():
    """A tune candidate's name lists every unit it reverts; as a folder it must stay under the file-name
    limit and unique (it failed with 'File name too long' before)."""
    from prelnedge.executor.cell import FOLDER_NAME_CHARS, folder_name

    units = [f"layer {i} ffn.in float" for i in range(40)]
    first, second = folder_name("search " + ", ".join(units)), folder_name("search " + ", ".join(units[1:]))
    assert len(first) <= FOLDER_NAME_CHARS and len(second) <= FOLDER_NAME_CHARS
    assert first != second
    assert folder_name("onnx:int8-dynamic") == "onnx-int8-dynamic"

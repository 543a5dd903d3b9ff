"""The executor and `report --executor ray` on a real Ray cluster: a head started here on 127.0.0.1
with two CPUs (by `ray start`, stopped by `ray stop`), shared by this module's tests. Cells run in
the cluster's worker processes, which get prelnedge from the driver (runtime_env py_modules) and the
test's cell functions from PYTHONPATH, set when the head starts.

`ray stop` stops every Ray process of this machine's user, as Ray's own command does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed (pip install prelnedge[ray])")

from prelnedge.executor import Cell, ExecutorConfig, open_executor  # noqa: E402
from test_executor import FN, check_outcomes, run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).parent / "ray")
EVAL_EXAMPLES = 3  # of the packaged held-out set: enough for a metric, few enough for the default tier


def _env() -> dict:
    path = os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": path}


@pytest.fixture(scope="module")
def head():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
                    "--include-dashboard", "false", "--disable-usage-stats"],
                   env=_env(), check=True, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop"], env=_env(), capture_output=True, timeout=180)


def _free_cpus(address: str) -> tuple[float | None, str]:
    """The cluster's free CPUs, asked by a separate driver (this process may hold its own connection),
    and what that driver said on stderr. None when it could not connect: a driver that connects while
    the cluster is still reaping cancelled workers can fail (seen once in CI), so callers ask again."""
    code = ("import ray, json; ray.init(address=%r, log_to_driver=False, logging_level='ERROR'); "
            "print(json.dumps(ray.available_resources().get('CPU', 0)))" % address)
    # token mode only where this machine has a token, as prelnedge's own driver decides (executor/on_ray.py):
    # a fresh machine's head may take drivers without one, and token mode without a token never connects
    token = {"RAY_AUTH_MODE": "token"} if (Path.home() / ".ray" / "auth_token").is_file() else {}
    result = subprocess.run([sys.executable, "-c", code], env={**_env(), **token},
                            capture_output=True, text=True, timeout=120)
    lines = result.stdout.strip().splitlines()
    return (float(lines[-1]) if result.returncode == 0 and lines else None), result.stderr[-2000:]


def test_outcomes_on_ray_are_the_local_ones(head, tmp_path):
    outcomes = check_outcomes(tmp_path, backend="ray", address=head)
    assert "127.0.0.1" in outcomes["a"].node or "(" in outcomes["a"].node  # a worker of the cluster said where
    assert outcomes["a"].folder == tmp_path / "into" / "a"  # the artifact came back as bytes and was unpacked here
    assert (outcomes["a"].figures["threads"], outcomes["a"].figures["omp"]) == ("1", "1")  # one CPU per cell on Ray
    two, _ = run([Cell.make(FN + "write_sum", "two", cpus=2, numbers=[1])], tmp_path / "into2", backend="ray",
                 address=head)
    assert (two["two"].figures["threads"], two["two"].figures["omp"]) == ("2", "2")


def test_a_worker_killed_mid_cell_is_retried_and_one_that_always_dies_fails(head, tmp_path):
    marker = tmp_path / "pid"
    killed = []

    def kill_when_running():
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = int(marker.read_text())
        os.kill(pid, signal.SIGKILL)  # the worker process running the cell, mid-cell
        killed.append(pid)

    killer = threading.Thread(target=kill_when_running, daemon=True)
    killer.start()
    outcomes, bar = run([Cell.make(FN + "wait_to_be_killed", "victim", marker=str(marker)),
                         Cell.make(FN + "die_always", "doomed")], tmp_path / "into", backend="ray",
                        address=head, retries=1)
    killer.join(5)
    assert killed, "the cell never started"
    victim, doomed = outcomes["victim"], outcomes["doomed"]
    assert (victim.status, victim.attempts, victim.figures) == ("ok", 2, {"after_kill": True})
    assert (doomed.status, doomed.fault, doomed.attempts) == ("failed", True, 2)
    assert "Worker" in doomed.reason or "died" in doomed.reason, doomed.reason
    assert bar.seen[-1]["retried"] == 2 and bar.seen[-1]["failed"] == 1


def _eval_file(tmp_path: Path) -> Path:
    from prelnedge.examples import packaged_eval_file
    from prelnedge.tasks import get_task

    lines = packaged_eval_file(get_task("sequence-classification")).read_text().splitlines()[:EVAL_EXAMPLES]
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _comparable(cell: dict) -> dict:
    """A cell without what depends on where and when it ran (latency is timed on the driver each run)."""
    return {k: v for k, v in cell.items() if k not in ("latency_ms", "run")}


def test_report_on_ray_has_the_local_cells_and_figures(head, tmp_path):
    """`RAY_ADDRESS=<head> prelnedge report --executor ray` against the same report made in this
    process: the same cells, figures and model-file hashes, cell by cell."""
    from prelnedge.report.build import ReportConfig, run_report

    eval_file = _eval_file(tmp_path)
    common = ["--task", "sequence-classification", "--targets", "onnx", "--modes", "fp32", "int8-dynamic",
              "--eval", str(eval_file)]
    result = subprocess.run([sys.executable, "-m", "prelnedge.cli", "report", *common, "--executor", "ray",
                             "--out", str(tmp_path / "on-ray")], env={**_env(), "RAY_ADDRESS": head},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    on_ray = json.loads((tmp_path / "on-ray" / "report.json").read_text())
    local = run_report(ReportConfig(task="sequence-classification", out=tmp_path / "local", targets=("onnx",),
                                    modes=("fp32", "int8-dynamic"), eval_file=eval_file))
    local = json.loads(json.dumps(local))  # as written: tuples as lists
    assert [c["mode"] for c in on_ray["cells"]] == ["fp32", "int8-dynamic"]
    for here, there in zip(local["cells"], on_ray["cells"]):
        assert there["status"] == "ok", there
        assert _comparable(there) == _comparable(here)  # sizes, SQNRs, agreement, metric, file sha256
        assert there["run"]["key"] == here["run"]["key"]
        assert there["latency_ms"] > 0 and there["task_metric"]["examples"] == EVAL_EXAMPLES
        assert there["run"]["node"] != here["run"]["node"]  # a cluster worker (its IP) and this process
    assert on_ray["model_sha256"] == local["model_sha256"]
    assert on_ray["executor"].startswith(f"ray ({head}: 1 node(s), 2 CPUs)")
    assert "latency was timed on" in (tmp_path / "on-ray" / "report.md").read_text()


def test_ctrl_c_cancels_the_cells_and_leaves_no_folder(head, tmp_path):
    """SIGINT while the cells run on the cluster: exit 130, no OUT, no scratch or lock left, and the
    cluster's CPUs free again (the tasks were cancelled, not left running)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "r"
    driver = subprocess.Popen([sys.executable, "-m", "prelnedge.cli", "report", "--task", "sequence-classification",
                               "--targets", "onnx", "tflite", "--modes", "fp32", "--executor", "ray", "--out", str(out)],
                              env={**_env(), "RAY_ADDRESS": head, "TMPDIR": str(scratch)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(scratch.glob(".prelnedge-report-*")) and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
    # Interrupt once a cell holds a cluster CPU (the exports take far longer than this wait), not after a fixed
    # sleep: with a 4 s sleep, on a fresh head, the driver once ignored the interrupt and finished with exit 0
    free = None
    while (free is None or free >= 2) and time.monotonic() < deadline and driver.poll() is None:
        free, _ = _free_cpus(head)
    assert driver.poll() is None, driver.communicate()
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "prelnedge: interrupted"
    assert not out.exists() and not list(tmp_path.glob(".r*")) and not list(scratch.glob(".prelnedge-report-*"))
    deadline = time.monotonic() + 90
    free, said = _free_cpus(head)
    while free != 2 and time.monotonic() < deadline:
        time.sleep(1)
        free, said = _free_cpus(head)
    assert free == 2, said  # every cancelled cell gave its CPU back


TUNE_EXAMPLES = 16  # searched (and as many held out): the planted unit still ranks first, in under a minute


def _timeless(value):
    """tune.json figures without what depends on when and where they were computed."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in ("seconds", "cached")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_tune_on_ray_keeps_the_local_units_and_figures(head, tmp_path):
    """`RAY_ADDRESS=<head> prelnedge tune EXPORT --executor ray` on the planted tiny model against the same
    tune run in this process: the same kept unit, sensitivity rows, trace and held-out figures, and the
    same candidate keys and figures in each run's cache (every candidate evaluated on a worker, stored
    under the driver's key)."""
    from prelnedge.export import ExportConfig, export
    from prelnedge.tune.budget import MIN_SQNR, Budget
    from prelnedge.tune.run import TuneConfig, _Terminal, run_tune
    from tune_models import PLANTED_UNIT, planted_checkpoint

    checkpoint = planted_checkpoint(tmp_path / "checkpoint")
    folder = export(ExportConfig(task="sequence-classification", target="onnx", model=checkpoint,
                                 out=tmp_path / "onnx")).folder
    result = subprocess.run([sys.executable, "-m", "prelnedge.cli", "tune", str(folder), "--quantize", "int8-dynamic",
                             "--min-sqnr", "25", "--search-examples", str(TUNE_EXAMPLES), "--executor", "ray",
                             "--cache", str(tmp_path / "ray-cache"), "--out", str(tmp_path / "on-ray")],
                            env={**_env(), "RAY_ADDRESS": head}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    on_ray = json.loads((tmp_path / "on-ray" / "tune.json").read_text())
    local = run_tune(TuneConfig(export=folder, mode="int8-dynamic", out=tmp_path / "local", budget=Budget(MIN_SQNR, 25.0),
                                cache=tmp_path / "local-cache", search_examples=TUNE_EXAMPLES), _Terminal(enabled=False))
    local = json.loads(json.dumps(local))  # as written: tuples as lists
    assert on_ray["recipe"]["units"] == local["recipe"]["units"] == {PLANTED_UNIT: "float"}
    assert on_ray["executor"].startswith(f"ray ({head}: 1 node(s), 2 CPUs)") and local["executor"].startswith("local")
    assert on_ray["candidates"] == local["candidates"] and on_ray["candidates"]["sensitivity"] > 20
    for part in ("float", "plain", "sensitivity", "trace", "frontier", "chosen", "held_out", "validation"):
        assert _timeless(on_ray[part]) == _timeless(local[part]), part
    # each candidate's full figures (model sha256, SQNR per output, per-item error), by the driver's key
    ray_cache, local_cache = ({file.name: _timeless(json.loads(file.read_text())) for file in (tmp_path / name).glob("*.json")}
                              for name in ("ray-cache", "local-cache"))
    assert len(ray_cache) == on_ray["candidates"]["evaluated"] and ray_cache == local_cache


@pytest.mark.heavy  # every mode of both targets, twice (257 s on 2 busy cores)
def test_the_full_report_on_ray_has_the_local_cells_and_figures(head, tmp_path):
    """The issue's command as written, `RAY_ADDRESS=<head> prelnedge report --task
    sequence-classification --executor ray --out R`, against the local run of the same command."""
    runs = {}
    for name, extra, env in [("local", [], _env()), ("ray", ["--executor", "ray"], {**_env(), "RAY_ADDRESS": head})]:
        result = subprocess.run([sys.executable, "-m", "prelnedge.cli", "report", "--task", "sequence-classification",
                                 "--out", str(tmp_path / name), *extra], env=env, capture_output=True, text=True,
                                timeout=1800)
        assert result.returncode == 0, result.stderr  # a mode below its floor is a verdict in the table, not an exit
        runs[name] = json.loads((tmp_path / name / "report.json").read_text())
    local, on_ray = runs["local"]["cells"], runs["ray"]["cells"]
    assert [(c["target"], c["mode"]) for c in on_ray] == [(c["target"], c["mode"]) for c in local]
    assert not [c for c in on_ray if c.get("fault")]
    for here, there in zip(local, on_ray):
        assert _comparable(there) == _comparable(here), (here["target"], here["mode"])

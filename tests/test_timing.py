"""prelnedge.timing, the one timing loop of `prelnedge report` and benchmarks/: what it runs in which
order, how it counts, and the statistics it reports. No speed is asserted (that is a benchmark's job);
the clocks are replaced where a figure is checked, so the checks cannot depend on the machine."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from prelnedge import timing
from prelnedge.timing import Timing, interleave


def test_every_callable_runs_each_round_with_the_order_rotated():
    seen = []
    calls = {name: (lambda name=name: seen.append(name)) for name in "abc"}
    rounds_done = []
    result = interleave(calls, rounds=4, warmup=1, on_round=rounds_done.append)
    assert seen[:3] == ["a", "b", "c"]  # the warm-up, once each
    assert seen[3:] == list("abc" "bca" "cab" "abc")
    assert rounds_done == [0, 1, 2, 3]
    assert all(len(t.rounds) == 4 and len(t.cpu) == 4 for t in result.values())


def test_calls_per_round_per_name_and_no_warmup():
    counts = {"a": 0, "b": 0}
    calls = {"a": lambda: counts.__setitem__("a", counts["a"] + 1),
             "b": lambda: counts.__setitem__("b", counts["b"] + 1)}
    result = interleave(calls, rounds=3, per_round={"a": 2, "b": 5}, warmup=0)
    assert counts == {"a": 6, "b": 15}
    assert [len(r) for r in result["a"].rounds] == [2, 2, 2] and len(result["b"].cpu) == 15


def test_wall_and_cpu_come_from_their_own_clocks(monkeypatch):
    wall, cpu = itertools.count(0.0, 0.5), itertools.count(0.0, 0.125)
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(wall))
    monkeypatch.setattr(timing.time, "process_time", lambda: next(cpu))
    result = interleave({"x": lambda: None}, rounds=2, per_round=2, warmup=0)["x"]
    assert result.rounds == ((0.5, 0.5), (0.5, 0.5)) and result.cpu == (0.125,) * 4
    assert result.median_ms() == 500.0 and result.cpu_median_ms() == 125.0


def test_medians_spreads_and_per_round_ratios():
    slow = Timing(rounds=((0.010, 0.012), (0.020, 0.022), (0.030, 0.034)), cpu=(0.001, 0.002, 0.003, 0.004))
    fast = Timing(rounds=((0.005, 0.005), (0.005, 0.005), (0.010, 0.010)), cpu=(0.001,) * 4)
    assert slow.median_ms() == pytest.approx(21.0)
    calls_ms = [10, 12, 20, 22, 30, 34]
    assert slow.spread_ms() == pytest.approx((np.percentile(calls_ms, 25), np.percentile(calls_ms, 75)))  # 14, 28
    assert slow.cpu_spread_ms() == pytest.approx((np.percentile([1, 2, 3, 4], 25), np.percentile([1, 2, 3, 4], 75)))
    assert slow.round_medians() == pytest.approx([0.011, 0.021, 0.032])
    # round by round: 11/5, 21/5, 32/10 -> the median is 3.2, not the ratio of overall medians (21/5)
    assert slow.ratio_to(fast) == pytest.approx((3.2, 2.2, 4.2))


def test_zero_rounds_is_refused():
    with pytest.raises(ValueError, match="rounds must be at least 1"):
        interleave({"x": lambda: None}, rounds=0)


def test_the_machine_is_named_with_its_kernel_flags(monkeypatch):
    info = {"vendor_id": "GenuineIntel", "cpu family": "6", "model": "207", "model name": "Intel(R) Xeon(R) Processor",
            "flags": "fpu sse avx2 avx512f avx512_vnni amx_tile amx_int8"}
    monkeypatch.setattr(timing, "_cpuinfo", lambda: info)
    assert timing.cpu_id() == "Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 207)"
    described = timing.machine()
    assert described["flags"] == ["avx2", "avx512f", "avx512_vnni", "amx_int8"]
    assert timing.machine_line(described).startswith(
        "Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 207) (avx2, avx512f, avx512_vnni, amx_int8), ")


def test_ort_options_turn_spinning_off():
    pytest.importorskip("onnxruntime")
    options = timing.ort_session_options(2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"

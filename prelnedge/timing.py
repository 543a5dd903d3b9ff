"""Timing several callables side by side on a shared machine: the one timing loop that `prelnedge
report`'s latency column and every timing script in benchmarks/ use.

Why the loop looks like this:
- every callable runs in every round, and the order rotates by one each round, so drift on a shared
  machine (another process starting, the CPU clock moving) hits all of them alike; a ratio between
  two callables is therefore taken round by round and the median of those ratios is reported;
- wall time and the process's CPU time are both recorded per call: CPU time does not count waiting for
  a core, so it is the steadier figure when other processes compete for the cores;
- ONNX Runtime sessions timed together get thread spinning off (`ort_session_options`): a session
  whose idle threads spin slows the next session timed after it (up to 1.7x, issue 13).

Imports nothing of prelnedge; onnxruntime only inside `ort_session_options`.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

# /proc/cpuinfo flags that change which int8/float kernels ONNX Runtime, XNNPACK and oneDNN pick
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), without numpy."""
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(frozen=True)
class Timing:
    """One callable's samples: wall seconds per call grouped by round, process CPU seconds per call."""

    rounds: tuple[tuple[float, ...], ...]
    cpu: tuple[float, ...]

    @property
    def calls(self) -> list[float]:
        return sorted(t for times in self.rounds for t in times)

    def median_ms(self) -> float:
        return 1e3 * statistics.median(self.calls)

    def spread_ms(self) -> tuple[float, float]:
        """(p25, p75) of the wall time per call."""
        calls = self.calls
        return 1e3 * _quantile(calls, 0.25), 1e3 * _quantile(calls, 0.75)

    def cpu_median_ms(self) -> float:
        return 1e3 * statistics.median(self.cpu)

    def cpu_spread_ms(self) -> tuple[float, float]:
        cpu = sorted(self.cpu)
        return 1e3 * _quantile(cpu, 0.25), 1e3 * _quantile(cpu, 0.75)

    def round_medians(self) -> list[float]:
        """The median wall seconds per call of each round, in round order."""
        return [statistics.median(times) for times in self.rounds]

    def ratio_to(self, other: Timing) -> tuple[float, float, float]:
        """(median, min, max) over rounds of this round's median / the other's in the same round."""
        ratios = [a / b for a, b in zip(self.round_medians(), other.round_medians())]
        return statistics.median(ratios), min(ratios), max(ratios)


def rotation(names: list, r: int) -> list:
    """Round r's order: names rotated by r, so over len(names) rounds each one goes first once. For
    figures measured elsewhere (a browser page's own latency) in the same interleaved rounds."""
    shift = r % len(names) if names else 0
    return names[shift:] + names[:shift]


def calls_per_round(call: Callable[[], object], budget_s: float, most: int = 5) -> int:
    """How many calls of `call` fit in budget_s (one timed call decides; at least 1, at most `most`)."""
    start = time.perf_counter()
    call()
    return max(1, min(most, int(budget_s / max(time.perf_counter() - start, 1e-6))))


def interleave(calls: Mapping[str, Callable[[], object]], rounds: int, per_round: int | Mapping[str, int] = 1,
               warmup: int = 1, on_round: Callable[[int], None] | None = None) -> dict[str, Timing]:
    """Time every callable in each of `rounds` rounds, the order rotated by one each round.

    per_round: calls of each callable per round (one number for all, or per name). warmup: untimed
    calls of each callable first (shape-dependent set-up, caches). on_round(r) runs after round r.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    names = list(calls)
    counts = {name: per_round if isinstance(per_round, int) else per_round[name] for name in names}
    for name in names:
        for _ in range(warmup):
            calls[name]()
    wall: dict[str, list[tuple[float, ...]]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in rotation(names, r):
            call, times = calls[name], []
            for _ in range(counts[name]):
                start, start_cpu = time.perf_counter(), time.process_time()
                call()
                times.append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(tuple(times))
        if on_round is not None:
            on_round(r)
    return {name: Timing(tuple(wall[name]), tuple(cpu[name])) for name in names}


def ort_session_options(threads: int):
    """ONNX Runtime session options for sessions timed side by side: a fixed intra-op thread count,
    one inter-op thread, thread spinning off."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_id() -> str:
    """The CPU model, told apart more finely than by its name: a KVM guest reports a generic
    "Intel(R) Xeon(R) Processor", so the vendor, family and model number follow it."""
    info = _cpuinfo()
    if not info:
        return platform.processor() or platform.machine()
    name = info.get("model name", platform.machine())
    if "cpu family" in info and "model" in info:
        return f"{name} ({info.get('vendor_id', '?')} family {info['cpu family']} model {info['model']})"
    return name


def machine() -> dict:
    """Where a timing was taken: CPU model, the kernel-relevant flags it has, logical CPUs, load."""
    flags = set(_cpuinfo().get("flags", "").split())
    return {"cpu": cpu_id(), "flags": [f for f in KERNEL_FLAGS if f in flags], "logical_cpus": os.cpu_count(),
            "load_average": [round(x, 1) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def machine_line(info: dict | None = None) -> str:
    """One line for a table's caption: 'CPU (flags), N logical CPUs'."""
    info = info or machine()
    flags = f" ({', '.join(info['flags'])})" if info.get("flags") else ""
    return f"{info['cpu']}{flags}, {info['logical_cpus']} logical CPUs"

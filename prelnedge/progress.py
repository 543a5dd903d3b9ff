"""A quiet-when-piped progress display for long stages (exporters can take a minute)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from prelnedge.quiet import captured_stderr


class Progress:
    """Prints `[2/5] converting to TFLite ... done (12.3 s)` to stderr when it is a terminal."""

    def __init__(self, total: int, enabled: bool | None = None, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.done = total, 0
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, label: str):
        self.done += 1
        start = time.perf_counter()
        if self.enabled:
            print(f"[{self.done}/{self.total}] {label} ...", end="", file=self.stream, flush=True)

        def finish(raised: bool) -> None:  # runs before any captured warning is written back
            if not raised:
                self.timings[label] = time.perf_counter() - start
            if self.enabled:
                print(" failed" if raised else f" done ({self.timings[label]:.1f} s)", file=self.stream, flush=True)

        with captured_stderr(self.stream, finish):  # library chatter would break the progress line
            yield


class CellBar:
    """One line over an executor's cells, redrawn in place on a terminal:
    `cells on ray (...): [#######.........] 5/12 done, 2 running, 1 failed, 0 retried (41 s)`.
    Used outside Progress.stage: the stage's stderr capture would swallow the redraws."""

    WIDTH = 24

    def __init__(self, label: str, enabled: bool | None = None, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label, self.line, self.start = label, "", time.perf_counter()

    def update(self, total: int, done: int, running: int, failed: int, retried: int) -> None:
        filled = self.WIDTH * done // max(total, 1)
        line = (f"{self.label}: [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} done, {running} running, "
                f"{failed} failed, {retried} retried ({time.perf_counter() - self.start:.0f} s)")
        if self.enabled and line != self.line:
            print("\r" + line.ljust(len(self.line)), end="", file=self.stream, flush=True)
        self.line = line

    def __enter__(self) -> "CellBar":
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled and self.line:
            print(file=self.stream, flush=True)

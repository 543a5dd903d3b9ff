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

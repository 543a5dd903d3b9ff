"""The thread budget of the cell this process is running (prelnedge.executor sets it), read by the
runtime sessions that are not given a thread count. A module of its own at the bottom of the
layering, so that the executor (which sets it) and the runtime (which reads it) share no import."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

ENV = "PRELNEDGE_CELL_THREADS"
# The libraries' own knobs, read when each starts its thread pool (so set before the first import).
_LIBRARY_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")


def cell_threads() -> int | None:
    """The threads a session may use in this cell, or None outside a pinned cell (library default)."""
    value = os.environ.get(ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def pin_threads(threads: int) -> None:
    """Hold this process's compute libraries to `threads`: the environment for the ones not started
    yet, torch's setter for a torch already loaded (a reused Ray worker), and the ORT/LiteRT
    sessions through cell_threads(). TensorFlow's pools cannot be resized once made; its intra-op
    variable covers a TF started after this call, and its inter-op pool is held to one thread."""
    os.environ[ENV] = str(threads)
    for name in _LIBRARY_ENV:
        os.environ[name] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


@contextmanager
def pinned_threads(threads: int | None) -> Iterator[None]:
    """pin_threads for the block only (a cell run in the driver's own process), then the settings
    as they were; None leaves everything as it is."""
    if not threads:
        yield
        return
    names = (ENV, *_LIBRARY_ENV, "TF_NUM_INTEROP_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    pin_threads(threads)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)

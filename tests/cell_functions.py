"""Cell functions for the executor tests: importable top-level functions, as the executor requires
(the Ray tests start their head with this folder on PYTHONPATH, so the workers import it too)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from prelnedge.errors import UserError


def write_sum(out: Path, *, numbers: list, data: Path | None = None) -> dict:
    """A folder with the sum (and the bytes of `data`, to show a Path input travelled)."""
    out.mkdir()
    extra = Path(data).read_bytes() if data is not None else b""
    (out / "sum.json").write_text(json.dumps({"sum": sum(numbers), "data": extra.decode()}))
    return {"sum": sum(numbers), "threads": os.environ.get("PRELNEDGE_CELL_THREADS"),
            "omp": os.environ.get("OMP_NUM_THREADS")}


def add_one(out: Path, *, folder: Path) -> dict:
    total = json.loads((Path(folder) / "sum.json").read_text())["sum"] + 1
    return {"sum": total}


def refuse(out: Path) -> dict:
    raise UserError("this cell cannot take that input")


def crash(out: Path) -> dict:
    raise RuntimeError("boom")


def flaky(out: Path, *, marker: Path, tag: str) -> dict:
    """Raises on the first attempt only; the marker folder (shared here: one machine) remembers it."""
    seen = Path(str(marker) + "-" + tag)
    if not seen.exists():
        seen.write_text("x")
        raise RuntimeError("first attempt fails")
    return {"ok": True}


def die_once(out: Path, *, marker: str) -> dict:
    """Kills its own worker process on the first attempt (the marker file remembers it): a dead worker."""
    seen = Path(marker)
    if not seen.exists():
        seen.write_text(str(os.getpid()))
        os._exit(1)
    return {"survived": True}


def die_always(out: Path) -> dict:
    os._exit(1)


def sleep(out: Path, *, seconds: float) -> dict:
    time.sleep(seconds)
    return {"slept": seconds}


def wait_to_be_killed(out: Path, *, marker: str) -> dict:
    """First attempt: say its pid in the marker file, then wait for the test to kill the process.
    A later attempt finds the marker and returns at once."""
    seen = Path(marker)
    if seen.exists():
        return {"after_kill": True}
    partial = seen.with_suffix(".tmp")
    partial.write_text(str(os.getpid()))
    partial.rename(seen)  # the test reads a whole pid or none
    time.sleep(120)
    return {"after_kill": False}

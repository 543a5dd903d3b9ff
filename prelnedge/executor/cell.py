"""A cell: an importable top-level function and its inputs, named by a content hash; what running
one gave (Outcome); and the body every backend runs on the node that takes the cell (`execute`).

The function's contract: `fn(out: Path, **inputs) -> dict`. It is pure and idempotent. Path inputs
arrive as local, read-only paths on whatever node runs it; if `out` exists when it returns, that
folder is the cell's artifact and travels back to the driver. It returns JSON-able figures.
UserError and ValidationError are verdicts ("refused", "failed"): the same inputs give them again,
so they are never retried. Any other exception, or a dead worker, is a fault: retried, then "failed".
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import socket
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prelnedge.errors import UserError, ValidationError


@dataclass(frozen=True)
class After:
    """An input that is the artifact folder of another cell of the same run (by its name)."""
    name: str


@dataclass(frozen=True)
class Cell:
    fn: str  # "package.module:function", importable on every node
    name: str  # unique within one run; the artifact lands at into/<name> on the driver
    inputs: dict[str, Any] = field(default_factory=dict)  # JSON-able values, Paths, After(name)
    cpus: int | None = None  # None: the executor's cpus_per_cell

    @classmethod
    def make(cls, fn: str, name: str, cpus: int | None = None, **inputs: Any) -> "Cell":
        if ":" not in fn:
            raise ValueError(f"cell function {fn!r} must be 'module:function'")
        for key, value in inputs.items():
            if not isinstance(value, (Path, After)):
                json.dumps(value)  # a TypeError here names an input that cannot travel
        return cls(fn, name, dict(inputs), cpus)

    def needs(self) -> list[str]:
        return [value.name for value in self.inputs.values() if isinstance(value, After)]


@dataclass
class Outcome:
    name: str
    key: str
    status: str  # "ok" | "refused" | "failed"
    figures: dict | None = None
    folder: Path | None = None  # the artifact, on the driver
    reason: str | None = None
    fault: bool = False  # failed by a crash or an unexpected error, not by a verdict on the model
    attempts: int = 1
    node: str | None = None
    seconds: float | None = None


# ---- content hashes -------------------------------------------------------------------------------
_path_hashes: dict[tuple, str] = {}


def path_sha256(path: Path) -> str:
    """A file's or folder's content: relative names and bytes, in sorted order (cached per run by mtime)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    stamp = (str(path.resolve()), tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))
    if stamp not in _path_hashes:
        digest = hashlib.sha256()
        for file in files:
            digest.update(str(file.relative_to(path) if file != path else file.name).encode() + b"\0")
            with open(file, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        _path_hashes[stamp] = digest.hexdigest()
    return _path_hashes[stamp]


def cell_keys(cells: list[Cell]) -> dict[str, str]:
    """name -> sha256 of the function and its inputs (Paths by content, After by the producer's key),
    so that one key always means one result, whatever node or run made it."""
    by_name = {cell.name: cell for cell in cells}
    if len(by_name) != len(cells):
        raise ValueError("cell names must be unique within one run")
    keys: dict[str, str] = {}

    def key(cell: Cell, seen: tuple[str, ...] = ()) -> str:
        if cell.name in keys:
            return keys[cell.name]
        encoded = {}
        for name, value in sorted(cell.inputs.items()):
            if isinstance(value, After):
                if value.name not in by_name or value.name in seen:
                    raise ValueError(f"cell {cell.name} needs {value.name!r}, which is not an earlier cell of this run")
                encoded[name] = {"after": key(by_name[value.name], seen + (cell.name,))}
            elif isinstance(value, Path):
                encoded[name] = {"sha256": path_sha256(value)}
            else:
                encoded[name] = value
        text = json.dumps({"fn": cell.fn, "inputs": encoded}, sort_keys=True)
        keys[cell.name] = hashlib.sha256(text.encode()).hexdigest()
        return keys[cell.name]

    for cell in cells:
        key(cell)
    return keys


FOLDER_NAME_CHARS = 96  # well under the 255 bytes a file name may take, with room for a suffix


def folder_name(name: str) -> str:
    """A cell name as a folder name (report cells are named `target:mode`). A long name (a tune candidate
    lists the units it reverts) is cut and given a digest of the whole name, so it stays unique in its run."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
    if len(safe) <= FOLDER_NAME_CHARS:
        return safe
    return f"{safe[:FOLDER_NAME_CHARS - 17]}-{hashlib.sha256(name.encode()).hexdigest()[:16]}"


# ---- folders as bytes (no shared filesystem) ---------------------------------------------------------
def pack(path: Path) -> bytes:
    """A file or folder as an uncompressed tar (model weights do not compress; the time would be lost)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(str(path), arcname=Path(path).name)
    return buffer.getvalue()


def unpack(data: bytes, parent: Path) -> Path:
    """Unpack `pack`'s bytes under `parent`; the path of the file or folder it held."""
    parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        top = {Path(member.name).parts[0] for member in tar.getmembers()}
        if len(top) != 1:
            raise ValueError("a packed input holds more than one top-level entry")
        tar.extractall(parent, filter="data")  # no absolute paths, links out or device files
    return parent / top.pop()


# ---- the body run on the node -------------------------------------------------------------------------
def load_function(fn: str):
    module, _, name = fn.partition(":")
    return getattr(importlib.import_module(module), name)


def execute(fn: str, inputs: dict, out: Path, cpus: int) -> dict:
    """Run one attempt here, its threads held to `cpus` for the attempt. A verdict comes back as a
    value; any other exception propagates (the driver retries it)."""
    from prelnedge.threads import pinned_threads

    start = time.perf_counter()
    result = {"node": socket.gethostname(), "pid": os.getpid()}
    try:
        with pinned_threads(cpus):
            figures = load_function(fn)(out, **inputs)
    except UserError as exc:
        result.update(status="refused", reason=str(exc))
    except ValidationError as exc:
        result.update(status="failed", reason=str(exc))
    else:
        result.update(status="ok", figures=figures)
    result["seconds"] = time.perf_counter() - start
    return result


def fault_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".strip().rstrip(":")

"""Output folders that appear complete or not at all, and their manifests.

A stage writes into a hidden sibling `.NAME.partial-PID`, and only a finished, validated folder is
renamed to NAME. An existing NAME is replaced only with `force`. A run killed outright leaves just
the hidden partial folder, which the next run into the same place removes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from prelnedge.errors import UserError
from prelnedge.hashing import sha256_file

TOOLS = ("prelnedge", "numpy", "torch", "onnx", "onnxscript", "onnxruntime", "tensorflow", "jax",
         "flax", "ai-edge-litert", "tokenizers", "safetensors")


def tool_versions() -> dict[str, str]:
    versions = {}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def check_target(out: Path, force: bool) -> None:
    """Fail before any work when OUT exists and may not be replaced, or cannot be written."""
    out = Path(out)
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        raise UserError(f"output folder {out} is the current folder or holds it; name a new folder to write")
    if out.exists() and not force:
        raise UserError(f"output folder {out} already exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} exists and is not a folder")
    check_writable(out.parent)


def check_writable(folder: Path) -> None:
    """The nearest existing folder at or above `folder` must take new entries (a read-only mount, or
    a folder the user may not write, is refused here rather than after the slow work)."""
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot write under {existing}: it is a file, not a folder")
    if hasattr(os, "statvfs") and os.statvfs(existing).f_flag & os.ST_RDONLY:  # POSIX only
        raise UserError(f"cannot write under {existing}: the file system is read-only")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write under {existing}: permission denied")


def _remove_stale_partials(out: Path) -> None:
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
            continue
        shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def atomic_folder(out: Path, force: bool) -> Iterator[Path]:
    """Yield a work folder; on success it becomes `out`, on any failure it is deleted."""
    out = Path(out)
    check_target(out, force)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(out)
        work.mkdir()
    except OSError as exc:  # the checks above ran before the slow work; the file system may still refuse
        raise UserError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from None
    previous = signal.getsignal(signal.SIGTERM)

    def _terminate(signum, frame):  # turn SIGTERM into an exception so the cleanup below runs
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield work
        if out.exists():
            trash = out.parent / f".{out.name}.replaced-{os.getpid()}"
            out.rename(trash)
            work.rename(out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            work.rename(out)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


MANIFEST_FIELDS = ("format", "task", "target", "framework", "model_file", "io", "source", "files")


def read_manifest(folder: Path, fields: tuple[str, ...] = MANIFEST_FIELDS) -> dict:
    """An artifact's manifest.json, refused in one line when it is not one of ours or lacks fields."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise UserError(f"{folder} is not an export folder (no manifest.json); make one with `prelnedge export`")
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise UserError(f"{path} must hold a JSON object")
    missing = [name for name in fields if name not in manifest]
    if "source" in fields and isinstance(manifest.get("source"), dict):
        missing += [f"source.{key}" for key in ("path", "sha256", "embedded_default") if key not in manifest["source"]]
    elif "source" in fields and "source" not in missing:
        missing.append("source")
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; it was not written by prelnedge export "
                        "(or was edited): export again")
    return manifest


def file_hashes(folder: Path, skip: tuple[str, ...] = ("manifest.json",)) -> dict[str, str]:
    hashes = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in skip:
            hashes[str(path.relative_to(folder))] = sha256_file(path)
    return hashes


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_jsonable) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} is missing") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")

"""Artifact folders' manifests: tool versions, file hashes, JSON in and out.

How a folder is written (atomically, never over a user's files or a stage's own input, one writer
at a time) lives in prelnedge.output_folder; `atomic_folder` and `check_target` are re-exported here.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from prelnedge.errors import UserError
from prelnedge.hashing import sha256_file
from prelnedge.output_folder import atomic_folder, check_target, check_writable  # noqa: F401  (the stages' entry points)

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

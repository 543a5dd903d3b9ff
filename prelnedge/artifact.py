"""Typed artifact folders: what a stage hands the next one, and the manifest.json that describes it.

Three kinds of folder, each with one format name in its manifest:
- `ModelArtifact` ("prelnedge-artifact/1"): an export, or a quantized export (it then carries
  `quantization` and the `parent` it was made from). Written by prelnedge.export and
  prelnedge.quantize.stage; read by quantize, bundle, validate, predict and report.
- `BundleArtifact` ("prelnedge-bundle/3"): a runtime bundle, written by prelnedge.bundle. The
  browser page and the Android app read its manifest.json as JSON (the task spec in "spec",
  prelnedge.bundle.runtime_spec), so its fields keep their names.
- `ReportArtifact` ("prelnedge-report/1"): a report folder (its manifest lets --force tell it is ours).

Each class is the only place its manifest.json is turned into JSON (`write`) and back (`read`):
a stage takes an artifact read (and so checked) at its boundary and returns the one it wrote.
`read` refuses a manifest that is not ours or lacks fields in one line (UserError). The manifests'
fields and their meaning are those of earlier prelnedge versions, so older folders still read.

How a folder is written (atomically, never over a user's files or a stage's own input, one writer
at a time) lives in prelnedge.output_folder; `atomic_folder` and `check_target` are re-exported here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from prelnedge.errors import UserError
from prelnedge.hashing import sha256_file
from prelnedge.output_folder import atomic_folder, check_target, check_writable  # noqa: F401  (the stages' entry points)
# the manifest format names live beside the ownership check that reads them: output_folder sits below artifact
from prelnedge.output_folder import BUNDLE_FORMAT, FORMATS, MODEL_FORMAT, REPORT_FORMAT  # noqa: F401

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


# ---- the parts of a model artifact's manifest ------------------------------------------------------
@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    axes: tuple[str, ...]  # the task registry's axis letters, e.g. ("B", "L")


@dataclass(frozen=True)
class IoSpec:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    dynamic_axes: tuple[str, ...]  # () for a static-shape model
    max_tokens: int
    static_shape: dict | None = None  # {"batch", "length", "input_shape"}: prelnedge.runtime.rows

    @property
    def static_length(self) -> int | None:
        """The fixed length a static-shape model takes, None for dynamic models."""
        return (self.static_shape or {}).get("length")


@dataclass(frozen=True)
class Source:
    """The checkpoint the float reference is rebuilt from (validate, quantize)."""
    path: str  # absolute
    sha256: str
    embedded_default: bool
    format: str | None = None  # "hf", "hf-dinkytrain", "fairseq"
    initialized_heads: tuple[str, ...] = ()  # heads given fresh weights at load


@dataclass(frozen=True)
class Quantization:
    mode: str
    summary: str
    settings: dict  # what the quantizer ran with (prelnedge.quantize.onnx / tflite)
    calibration: dict | None  # {"source", "examples"}; None for modes that do not calibrate
    unpadded_only: bool  # the model takes unpadded rows only (row by row)
    size_bytes: int
    float_size_bytes: int

    @property
    def size_ratio(self) -> float:
        return self.size_bytes / self.float_size_bytes


@dataclass(frozen=True)
class Parent:
    """The folder an artifact was made from, and its manifest's sha256 then."""
    path: str
    manifest_sha256: str

    @classmethod
    def of(cls, artifact: "ModelArtifact") -> "Parent":
        return cls(str(artifact.folder.resolve()), sha256_file(artifact.folder / "manifest.json"))

    def artifact(self) -> "ModelArtifact | None":
        """The parent folder's artifact while it is still there and unchanged (`export --quantize`
        deletes its float folder, so often there is none)."""
        manifest = Path(self.path) / "manifest.json"
        if not manifest.is_file() or sha256_file(manifest) != self.manifest_sha256:
            return None
        try:
            return ModelArtifact.read(manifest.parent)
        except UserError:
            return None


# ---- model artifacts: exports and quantized exports -------------------------------------------------
# fields a model manifest must have: without them no stage can use the folder
REQUIRED = ("format", "task", "target", "framework", "model_file", "io", "source", "files")
REQUIRED_SOURCE = ("path", "sha256", "embedded_default")


@dataclass(frozen=True)
class ModelArtifact:
    folder: Path
    task: str
    target: str
    framework: str  # the float reference's framework
    model_file: str
    io: IoSpec
    source: Source
    export: dict = field(default_factory=dict)  # the exporter's facts (opset, optimizations, ...)
    validation: dict = field(default_factory=dict)  # summary of the check the stage passed
    quantization: Quantization | None = None
    parent: Parent | None = None
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256, filled by `write`
    tool_versions: dict[str, str] = field(default_factory=dict)  # filled by `write`

    def __post_init__(self) -> None:
        # the invariants every stage relies on; `read` turns a violation into its one-line refusal
        parts = Path(self.model_file).parts
        if not parts or Path(self.model_file).is_absolute() or ".." in parts:
            raise ValueError(f"model_file {self.model_file!r} must name a file inside the folder")
        if not self.io.inputs or not self.io.outputs:
            raise ValueError("io lists no inputs or no outputs")
        if (self.quantization is None) != (self.parent is None):
            raise ValueError("a quantized artifact names its parent export, and only a quantized one does")

    # -- reading
    @classmethod
    def read(cls, folder: Path, check_files: bool = False) -> "ModelArtifact":
        """The artifact in `folder`, refused in one line when its manifest is not one of ours or
        lacks fields; with check_files, also when a listed file is missing or changed."""
        folder = Path(folder)
        data = _manifest_json(folder, what="an export folder", make="prelnedge export")
        path = folder / "manifest.json"
        if data.get("format") in FORMATS and data["format"] != MODEL_FORMAT:  # another kind of ours: say which
            raise UserError(f"{path} is a {data['format']} manifest, not an export's ({MODEL_FORMAT}); "
                            "give a folder written by prelnedge export or quantize")
        missing = [name for name in REQUIRED if name not in data]
        if isinstance(data.get("source"), dict):
            missing += [f"source.{key}" for key in REQUIRED_SOURCE if key not in data["source"]]
        elif "source" not in missing:
            missing.append("source")
        if missing:
            raise UserError(f"{path} lacks {', '.join(missing)}; it was not written by prelnedge export "
                            "(or was edited): export again")
        if data["format"] != MODEL_FORMAT:
            raise UserError(f"{path} is a {data['format']} manifest, not an export's ({MODEL_FORMAT}); "
                            "give a folder written by prelnedge export or quantize")
        try:
            artifact = cls._from_json(folder, data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"{path} has a malformed field ({type(exc).__name__}: {exc}); it was not written "
                            "by prelnedge export (or was edited): export again") from None
        check_listed_names(folder, [artifact.model_file, *artifact.files])
        if check_files:
            changed = artifact.changed_files()
            if changed:
                raise UserError(f"{folder / changed[0]} is missing or changed since export; export again")
        return artifact

    @classmethod
    def _from_json(cls, folder: Path, data: dict) -> "ModelArtifact":
        io, source, quant, parent = data["io"], data["source"], data.get("quantization"), data.get("parent")
        return cls(
            folder=folder, task=str(data["task"]), target=str(data["target"]), framework=str(data["framework"]),
            model_file=str(data["model_file"]),
            io=IoSpec(inputs=tuple(_tensor(s) for s in io["inputs"]), outputs=tuple(_tensor(s) for s in io["outputs"]),
                      dynamic_axes=tuple(io.get("dynamic_axes", ())), max_tokens=io.get("max_tokens"),
                      static_shape=io.get("static_shape")),
            source=Source(path=source["path"], sha256=source["sha256"], embedded_default=bool(source["embedded_default"]),
                          format=source.get("format"), initialized_heads=tuple(source.get("initialized_heads") or ())),
            export=dict(data.get("export") or {}), validation=dict(data.get("validation") or {}),
            quantization=None if not quant else Quantization(
                mode=quant["mode"], summary=quant.get("summary", ""), settings=dict(quant.get("settings") or {}),
                calibration=quant.get("calibration"), unpadded_only=bool(quant.get("unpadded_only")),
                size_bytes=int(quant["size_bytes"]), float_size_bytes=int(quant["float_size_bytes"])),
            parent=Parent(parent["path"], parent["manifest_sha256"]) if parent else None,
            files={str(k): str(v) for k, v in data["files"].items()},
            tool_versions=dict(data.get("tool_versions") or {}))

    # -- writing
    def to_json(self) -> dict:
        """manifest.json's contents (the field names earlier versions wrote; quantization and parent
        only for quantized artifacts)."""
        data = {
            "format": MODEL_FORMAT, "task": self.task, "target": self.target, "framework": self.framework,
            "model_file": self.model_file,
            "io": {"inputs": [_tensor_json(s) for s in self.io.inputs],
                   "outputs": [_tensor_json(s) for s in self.io.outputs],
                   "dynamic_axes": list(self.io.dynamic_axes), "max_tokens": self.io.max_tokens,
                   "static_shape": self.io.static_shape},
            "export": self.export,
            "source": {"path": self.source.path, "format": self.source.format, "sha256": self.source.sha256,
                       "embedded_default": self.source.embedded_default,
                       "initialized_heads": list(self.source.initialized_heads)},
            "validation": self.validation,
            "tool_versions": self.tool_versions,
            "files": self.files,
        }
        if self.quantization is not None:
            data["quantization"] = {**dataclasses.asdict(self.quantization), "size_ratio": self.quantization.size_ratio}
        if self.parent is not None:
            data["parent"] = dataclasses.asdict(self.parent)
        return data

    def write(self, folder: Path) -> "ModelArtifact":
        """Hash every file in `folder` (the stage's work folder, otherwise complete), record the tool
        versions and write manifest.json; returns the artifact as written."""
        return _write(self, folder)

    def moved_to(self, folder: Path) -> "ModelArtifact":
        """The same artifact once its work folder has been renamed to `folder`."""
        return dataclasses.replace(self, folder=Path(folder))

    # -- facts stages ask for
    @property
    def model_path(self) -> Path:
        return self.folder / self.model_file

    @property
    def quantized(self) -> bool:
        return self.quantization is not None

    @property
    def has_tokenizer(self) -> bool:
        return (self.folder / "tokenizer.json").exists() or (self.folder / "vocab.json").exists()

    def changed_files(self) -> list[str]:
        """Listed files that are missing or whose sha256 differs from the manifest's."""
        return [name for name, digest in self.files.items()
                if not (self.folder / name).is_file() or sha256_file(self.folder / name) != digest]


def _tensor(spec: dict) -> TensorSpec:
    return TensorSpec(name=spec["name"], dtype=spec["dtype"], axes=tuple(spec["axes"]))


def _tensor_json(spec: TensorSpec) -> dict:
    return {"name": spec.name, "dtype": spec.dtype, "axes": list(spec.axes)}


# ---- bundles and reports ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BundleArtifact:
    folder: Path
    platform: str
    source: ModelArtifact  # the export it was made from
    spec: dict  # the task spec the runtimes work from (prelnedge.bundle.runtime_spec)
    bundle: dict  # the platform writer's facts (model file, runtime, golden self-test rule, ...)
    files: dict[str, str] = field(default_factory=dict)
    tool_versions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        export = self.source.to_json()
        return {
            "format": BUNDLE_FORMAT, "platform": self.platform, "task": self.source.task,
            "target": self.source.target, "quantization": export.get("quantization"), "io": export["io"],
            "spec": self.spec, "bundle": self.bundle,
            "export": {"path": str(self.source.folder.resolve()),
                       "manifest_sha256": sha256_file(self.source.folder / "manifest.json"),
                       "validation": self.source.validation},
            "tool_versions": self.tool_versions,
            "files": self.files,
        }

    def write(self, folder: Path) -> "BundleArtifact":
        return _write(self, folder)

    def moved_to(self, folder: Path) -> "BundleArtifact":
        return dataclasses.replace(self, folder=Path(folder))


def read_bundle_manifest(folder: Path) -> dict:
    """A bundle's manifest.json as the runtimes read it (JSON: the page and the app share it)."""
    data = _manifest_json(Path(folder), what="a bundle folder", make="prelnedge bundle")
    if data.get("format") != BUNDLE_FORMAT or not isinstance(data.get("bundle"), dict):
        raise UserError(f"{Path(folder) / 'manifest.json'} is not a bundle's manifest ({BUNDLE_FORMAT}); "
                        "make one with `prelnedge bundle`")
    model_file = data["bundle"].get("model_file")
    check_listed_names(Path(folder), [*([model_file] if model_file is not None else []), *(data.get("files") or {})])
    return data


def check_listed_names(folder: Path, names) -> None:
    """Refuse, before any listed file is opened, a manifest naming a file outside its folder: an
    absolute name, one with `..`, or one that a symbolic link leads out of the folder (a tampered
    manifest must not make validate, bundle or quantize read, hash or copy the user's other files)."""
    from pathlib import PurePosixPath

    root = Path(folder).resolve()
    for name in names:
        problem = None
        if not isinstance(name, str) or not name or "\x00" in name:
            problem = "is not a file name"
        elif PurePosixPath(name).is_absolute() or Path(name).is_absolute() or ".." in PurePosixPath(name).parts:
            problem = "is absolute or climbs out with '..'"
        elif not (root / name).resolve().is_relative_to(root):
            problem = "leads outside the folder through a symbolic link"
        if problem:
            raise UserError(f"{Path(folder) / 'manifest.json'} lists {name!r}, which {problem}; a manifest may "
                            "name only files inside its folder (it was edited, or not written by prelnedge): "
                            "nothing was opened")


@dataclass(frozen=True)
class ReportArtifact:
    folder: Path
    task: str
    files: dict[str, str] = field(default_factory=dict)
    tool_versions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"format": REPORT_FORMAT, "task": self.task, "files": self.files, "tool_versions": self.tool_versions}

    def write(self, folder: Path) -> "ReportArtifact":
        return _write(self, folder)


# ---- the one writer and reader of manifest.json -----------------------------------------------------
def _write(artifact, folder: Path):
    folder = Path(folder)
    written = dataclasses.replace(artifact, folder=folder, files=file_hashes(folder), tool_versions=tool_versions())
    model_file = getattr(written, "model_file", None)
    if model_file is not None and model_file not in written.files:  # a stage's bug, not the user's
        raise AssertionError(f"{folder} has no {model_file} to list in its manifest")
    write_json(folder / "manifest.json", written.to_json())
    return written


def _manifest_json(folder: Path, what: str, make: str) -> dict:
    path = folder / "manifest.json"
    if not path.is_file():
        raise UserError(f"{folder} is not {what} (no manifest.json); make one with `{make}`")
    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object")
    return data


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
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                        "JSON files must be UTF-8") from None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")

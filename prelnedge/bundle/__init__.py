"""The bundle stage: a validated export folder -> a runtime bundle an app ships as it is.

Each platform's writer fills a fresh folder with the model, tokenizer, labels and golden vectors in
the layout its runtime expects and returns what it wrote; this module adds the bundle's manifest
(sha256 of every file, the export it came from, the task spec the runtimes read) and makes the
folder appear atomically. Like every stage it is one call, `run_bundle(BundleConfig, progress) ->
artifact`; `bundle(...)` gives the same config field by field.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prelnedge.errors import UserError

if TYPE_CHECKING:
    from prelnedge.artifact import BundleArtifact, ModelArtifact

# platform -> "module:function"; function(export_dir, export_manifest, dest) -> dict of facts
PLATFORMS = {
    "web": "prelnedge.bundle.web:write_web_bundle",
    "android": "prelnedge.bundle.android:write_android_bundle",
}


@dataclass(frozen=True)
class BundleConfig:
    """What one bundle run is asked to do (the stage's counterpart of prelnedge.export.ExportConfig)."""
    source: ModelArtifact | Path  # an export: its artifact, or its folder (read and its files checked)
    platform: str  # a key of PLATFORMS
    out: Path
    force: bool = False

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise UserError(f"unknown platform {self.platform!r}; allowed: {', '.join(PLATFORMS)}")


def bundle(source: ModelArtifact | Path, platform: str, out: Path, force: bool = False) -> BundleArtifact:
    """run_bundle, its config given field by field."""
    return run_bundle(BundleConfig(source, platform, out, force))


def run_bundle(cfg: BundleConfig, progress=None) -> BundleArtifact:
    """An export -> the bundle written to cfg.out. progress: accepted for the stages' one signature;
    a bundle is written in one step."""
    from prelnedge.artifact import BundleArtifact, ModelArtifact, atomic_folder, check_target
    from prelnedge.bundle.runtime_spec import runtime_spec

    source, out, force = cfg.source, Path(cfg.out), cfg.force
    export_dir = source.folder if isinstance(source, ModelArtifact) else Path(source)
    check_target(out, force, inputs=(export_dir,))
    if not isinstance(source, ModelArtifact):
        source = ModelArtifact.read(export_dir, check_files=True)
    module_name, function = PLATFORMS[cfg.platform].split(":")
    writer = getattr(importlib.import_module(module_name), function)
    with atomic_folder(out, force, inputs=(export_dir,)) as work:
        # the writers read the export's manifest as JSON, the form the runtimes read it in
        manifest = source.to_json()
        facts = writer(export_dir, manifest, work)
        spec = runtime_spec(manifest)  # what a device runtime dispatches on and is judged by
        written = BundleArtifact(work, cfg.platform, source, spec, facts).write(work)
    return written.moved_to(out)


def how_to_open(platform: str, out: Path) -> str | None:
    """The platform's next step for a written bundle (its writer module's `how_to_open`), if it has one."""
    module = importlib.import_module(PLATFORMS[platform].split(":")[0])
    hint = getattr(module, "how_to_open", None)
    return hint(Path(out)) if hint is not None else None

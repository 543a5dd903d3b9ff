"""The bundle stage: a validated export folder -> a runtime bundle an app ships as it is.

Each platform's writer fills a fresh folder with the model, tokenizer, labels and golden vectors in
the layout its runtime expects and returns what it wrote; this module adds the bundle's manifest
(sha256 of every file, the export it came from) and makes the folder appear atomically.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from prelnedge.errors import UserError

# /2: the manifest carries "spec" (runtime_spec.py), which the page and the app read instead of
# their own task lists and tolerances; /1 bundles lack it and must be bundled again.
BUNDLE_FORMAT = "prelnedge-bundle/2"

# platform -> "module:function"; function(export_dir, export_manifest, dest) -> dict of facts
PLATFORMS = {
    "web": "prelnedge.bundle.web:write_web_bundle",
    "android": "prelnedge.bundle.android:write_android_bundle",
}


def read_export(export_dir: Path) -> dict:
    """The export's manifest, after checking the folder is one and its files are intact."""
    from prelnedge.artifact import read_manifest
    from prelnedge.hashing import sha256_file

    export_dir = Path(export_dir)
    manifest = read_manifest(export_dir)
    for name, digest in manifest.get("files", {}).items():
        if not (export_dir / name).is_file() or sha256_file(export_dir / name) != digest:
            raise UserError(f"{export_dir / name} is missing or changed since export; export again")
    return manifest


def bundle(export_dir: Path, platform: str, out: Path, force: bool = False) -> Path:
    from prelnedge.artifact import atomic_folder, check_target, file_hashes, tool_versions, write_json
    from prelnedge.bundle.runtime_spec import runtime_spec
    from prelnedge.hashing import sha256_file

    if platform not in PLATFORMS:
        raise UserError(f"unknown platform {platform!r}; allowed: {', '.join(PLATFORMS)}")
    out, export_dir = Path(out), Path(export_dir)
    check_target(out, force, inputs=(export_dir,))
    manifest = read_export(export_dir)
    module_name, function = PLATFORMS[platform].split(":")
    writer = getattr(importlib.import_module(module_name), function)
    with atomic_folder(out, force, inputs=(export_dir,)) as work:
        facts = writer(export_dir, manifest, work)
        write_json(work / "manifest.json", {
            "format": BUNDLE_FORMAT,
            "platform": platform,
            "task": manifest["task"],
            "target": manifest["target"],
            "quantization": manifest.get("quantization"),
            "io": manifest["io"],
            "spec": runtime_spec(manifest),  # what a device runtime dispatches on and is judged by
            "bundle": facts,
            "export": {"path": str(export_dir.resolve()),
                       "manifest_sha256": sha256_file(export_dir / "manifest.json"),
                       "validation": manifest.get("validation")},
            "tool_versions": tool_versions(),
            "files": file_hashes(work),
        })
    return out


def how_to_open(platform: str, out: Path) -> str | None:
    """The platform's next step for a written bundle (its writer module's `how_to_open`), if it has one."""
    module = importlib.import_module(PLATFORMS[platform].split(":")[0])
    hint = getattr(module, "how_to_open", None)
    return hint(Path(out)) if hint is not None else None

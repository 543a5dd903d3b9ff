"""Where a web bundle's runtime comes from: the page's sources and a few files of npm packages
(three of onnxruntime-web for ONNX bundles; LiteRT.js's for TFLite ones).

The page (runtimes/web/src, ~60 KB) travels with prelnedge: read from the checkout, or from
prelnedge/web_runtime/ in an installed package (setup.py copies it into the wheel). The packages'
files (~14 MB for onnxruntime-web, almost all one .wasm) do not: each is taken, in this order, from

1. runtimes/web/node_modules (a checkout after `make web-deps`), at the version package-lock.json pins;
2. the user's cache (PRELNEDGE_CACHE, else $XDG_CACHE_HOME/prelnedge, else ~/.cache/prelnedge);
3. the npm registry (npm_config_registry, else registry.npmjs.org): the pinned tarball, checked
   against package-lock.json's sha512 integrity (the bytes `npm ci` would install), the needed files
   unpacked into the cache once, with a progress line. No node or npm needed.

PRELNEDGE_WEB_RUNTIME names another runtimes/web folder (sources, package-lock.json, node_modules).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from prelnedge.errors import UserError

ORT_PACKAGE = "onnxruntime-web"
# What the single-threaded WebAssembly backend loads, no more: the wasm-only API module, the
# Emscripten glue it imports, and the runtime itself (~14 MB). The other builds in dist/ (WebGPU,
# WebGL, JSEP, JSPI, asyncify, the bundles that inline the glue) are left out.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
DEFAULT_REGISTRY = "https://registry.npmjs.org"
DOWNLOAD_TIMEOUT_S = 60
PACKAGE = Path(__file__).resolve().parents[1]  # the prelnedge package folder


def runtime_root() -> Path:
    """The runtimes/web folder: PRELNEDGE_WEB_RUNTIME, the source checkout's, or the installed copy."""
    if os.environ.get("PRELNEDGE_WEB_RUNTIME"):
        return Path(os.environ["PRELNEDGE_WEB_RUNTIME"])
    checkout = PACKAGE.parent / "runtimes" / "web"
    if (checkout / "src" / "index.html").is_file():
        return checkout
    return PACKAGE / "web_runtime"


def page_sources(root: Path) -> Path:
    source = root / "src"
    if not (source / "index.html").is_file():
        raise UserError(f"the web page's sources are missing ({source}); reinstall prelnedge, or point "
                        "PRELNEDGE_WEB_RUNTIME at a prelnedge checkout's runtimes/web")
    return source


def pinned(root: Path, name: str = ORT_PACKAGE) -> tuple[str, str]:
    """(version, sha512 integrity) of npm package `name` in root/package-lock.json."""
    lock = root / "package-lock.json"
    try:
        entry = json.loads(lock.read_text(encoding="utf-8"))["packages"][f"node_modules/{name}"]
        return entry["version"], entry["integrity"]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise UserError(f"{lock} does not pin {name} ({exc}); reinstall prelnedge") from None


def cache_dir() -> Path:
    if os.environ.get("PRELNEDGE_CACHE"):
        return Path(os.environ["PRELNEDGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "prelnedge"


def registry() -> str:
    for name in ("npm_config_registry", "NPM_CONFIG_REGISTRY"):
        if os.environ.get(name):
            return os.environ[name].rstrip("/")
    return DEFAULT_REGISTRY


def ort_files(root: Path, stream=None) -> tuple[Path, str, str]:
    """(folder holding ORT_FILES, version, where they came from: node_modules, cache or download)."""
    folder, version, origin = package_files(root, ORT_PACKAGE, tuple(f"dist/{n}" for n in ORT_FILES), stream)
    return folder / "dist", version, origin


def package_files(root: Path, name: str, files: tuple[str, ...], stream=None) -> tuple[Path, str, str]:
    """(a folder laid out as npm package `name` that holds `files` (paths inside the package), its
    version, and where it came from: node_modules, cache or download)."""
    version, integrity = pinned(root, name)
    package = root / "node_modules" / name
    if _has_files(package, files) and _version(package) == version:
        return package, version, "node_modules"
    cached = cache_dir() / f"{name.replace('/', '+')}-{version}"
    if _has_files(cached, files):
        return cached, version, "cache"
    _download(name, version, integrity, files, cached, stream or sys.stderr)
    return cached, version, "download"


def _has_files(folder: Path, files: tuple[str, ...]) -> bool:
    return all((folder / name).is_file() for name in files)


def _version(package: Path) -> str | None:
    try:
        return json.loads((package / "package.json").read_text())["version"]
    except (OSError, KeyError, json.JSONDecodeError):
        return None


def _download(name: str, version: str, integrity: str, files: tuple[str, ...], dest: Path, stream) -> None:
    """Fetch the pinned tarball, check its integrity, and unpack `files` into dest atomically."""
    url = f"{registry()}/{name}/-/{name.split('/')[-1]}-{version}.tgz"  # a scoped package's file drops the scope
    hint = (f"connect once (it is cached in {cache_dir()}), set npm_config_registry to a mirror, or "
            f"`npm ci --prefix runtimes/web` in a prelnedge checkout")
    print(f"prelnedge: fetching {name} {version} for the web bundle (once; it is cached) from {url}",
          file=stream, flush=True)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot fetch {name} {version} from {url} ({reason}); the web bundle needs it: "
                        f"{hint}") from None
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512" or base64.b64encode(hashlib.sha512(data).digest()).decode() != expected:
        raise UserError(f"{url} does not match package-lock.json's integrity for {name} {version}; "
                        "refusing it (a wrong mirror or a damaged download)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # named by this process, so that a later run removes it if this one is killed (prelnedge.output_folder)
    from prelnedge.output_folder import owner_tag, remove_dead

    remove_dead(dest.parent, f".{dest.name}-")
    work = dest.parent / f".{dest.name}-{owner_tag()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for file in files:  # read as bytes: no paths from the archive reach the disk
                try:
                    member = tar.extractfile(f"package/{file}")
                except KeyError:
                    member = None
                if member is None:
                    raise UserError(f"{url} has no {file}")
                (work / file).parent.mkdir(parents=True, exist_ok=True)
                (work / file).write_bytes(member.read())
        os.replace(work, dest)
    finally:
        if work.exists():  # a failure, or another process cached it first
            shutil.rmtree(work)
    print(f"prelnedge: {name} {version}: {len(data) / 2**20:.1f} MiB, integrity checked, cached in {dest}",
          file=stream, flush=True)

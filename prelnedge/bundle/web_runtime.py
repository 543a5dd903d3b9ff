"""Where a web bundle's runtime comes from: the page's sources and three files of onnxruntime-web.

The page (runtimes/web/src, ~60 KB) travels with prelnedge: read from the checkout, or from
prelnedge/web_runtime/ in an installed package (setup.py copies it into the wheel). ONNX Runtime Web
(~14 MB, almost all one .wasm) does not: it is taken, in this order, from

1. runtimes/web/node_modules (a checkout after `make web-deps`), at the version package-lock.json pins;
2. the user's cache (PRELNEDGE_CACHE, else $XDG_CACHE_HOME/prelnedge, else ~/.cache/prelnedge);
3. the npm registry (npm_config_registry, else registry.npmjs.org): the pinned tarball, checked
   against package-lock.json's sha512 integrity (the bytes `npm ci` would install), unpacked into the
   cache once, with a progress line. No node or npm needed.

PRELNEDGE_WEB_RUNTIME names another runtimes/web folder (sources, package-lock.json, node_modules).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
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


def pinned(root: Path) -> tuple[str, str]:
    """(version, sha512 integrity) of onnxruntime-web in root/package-lock.json."""
    lock = root / "package-lock.json"
    try:
        entry = json.loads(lock.read_text(encoding="utf-8"))["packages"][f"node_modules/{ORT_PACKAGE}"]
        return entry["version"], entry["integrity"]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise UserError(f"{lock} does not pin {ORT_PACKAGE} ({exc}); reinstall prelnedge") from None


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
    version, integrity = pinned(root)
    package = root / "node_modules" / ORT_PACKAGE
    if _has_files(package / "dist") and _version(package) == version:
        return package / "dist", version, "node_modules"
    cached = cache_dir() / f"{ORT_PACKAGE}-{version}"
    if _has_files(cached):
        return cached, version, "cache"
    _download(version, integrity, cached, stream or sys.stderr)
    return cached, version, "download"


def _has_files(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ORT_FILES)


def _version(package: Path) -> str | None:
    try:
        return json.loads((package / "package.json").read_text())["version"]
    except (OSError, KeyError, json.JSONDecodeError):
        return None


def _download(version: str, integrity: str, dest: Path, stream) -> None:
    """Fetch the pinned tarball, check its integrity, and unpack ORT_FILES into dest atomically."""
    url = f"{registry()}/{ORT_PACKAGE}/-/{ORT_PACKAGE}-{version}.tgz"
    hint = (f"connect once (it is cached in {cache_dir()}), set npm_config_registry to a mirror, or "
            f"`npm ci --prefix runtimes/web` in a prelnedge checkout")
    print(f"prelnedge: fetching {ORT_PACKAGE} {version} (the browser's ONNX Runtime; a ~32 MB download, once) from {url}",
          file=stream, flush=True)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot fetch {ORT_PACKAGE} {version} from {url} ({reason}); the web bundle needs it: "
                        f"{hint}") from None
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512" or base64.b64encode(hashlib.sha512(data).digest()).decode() != expected:
        raise UserError(f"{url} does not match package-lock.json's integrity for {ORT_PACKAGE} {version}; "
                        "refusing it (a wrong mirror or a damaged download)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for name in ORT_FILES:  # read as bytes: no paths from the archive reach the disk
            try:
                (work / name).write_bytes(tar.extractfile(f"package/dist/{name}").read())
            except KeyError:
                raise UserError(f"{url} has no dist/{name}") from None
    try:
        os.replace(work, dest)
    except OSError:  # another process cached it first
        for name in ORT_FILES:
            (work / name).unlink()
        work.rmdir()
    print(f"prelnedge: {ORT_PACKAGE} {version}: {len(data) / 2**20:.1f} MiB, integrity checked, cached in {dest}",
          file=stream, flush=True)

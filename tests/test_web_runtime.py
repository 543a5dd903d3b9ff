"""Where a web bundle's runtime comes from when there is no runtimes/web/node_modules: an installed
prelnedge (a wheel, no checkout) fetches the pinned onnxruntime-web tarball from the npm registry,
checks it against package-lock.json's sha512 and caches it (prelnedge/bundle/web_runtime.py).

The registry here is a local server holding the real tarball, read from npm's own cache (where
`npm ci` of runtimes/web left it; `npm cache add` fetches it otherwise), so no test depends on the
network and the integrity check sees the bytes npm checked.
"""

from __future__ import annotations

import base64
import filecmp
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from prelnedge.bundle import web_runtime
from prelnedge.errors import UserError
from web_support import WEB

ROOT = Path(__file__).resolve().parents[1]
VERSION, INTEGRITY = web_runtime.pinned(WEB)
UTILS = "@litertjs/wasm-utils"  # a scoped package: its tarball's file name drops the scope


def tarball_path(name: str) -> str:
    return f"/{name}/-/{name.split('/')[-1]}-{web_runtime.pinned(WEB, name)[0]}.tgz"


TARBALL_PATH = tarball_path(web_runtime.ORT_PACKAGE)


def npm_cached_tarball(name: str = web_runtime.ORT_PACKAGE) -> bytes:
    """The pinned tarball from npm's content-addressed cache (cacache: content-v2/sha512/aa/bb/rest)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed; the web runtime tests need it (`make web-deps`)")
    version, integrity = web_runtime.pinned(WEB, name)
    cache = Path(subprocess.run([npm, "config", "get", "cache"], capture_output=True, text=True,
                                check=True).stdout.strip())
    digest = base64.b64decode(integrity.removeprefix("sha512-")).hex()
    path = cache / "_cacache" / "content-v2" / "sha512" / digest[:2] / digest[2:4] / digest[4:]
    if not path.is_file():
        subprocess.run([npm, "cache", "add", f"{name}@{version}"], check=True, capture_output=True, timeout=300)
    return path.read_bytes()


@contextmanager
def registry(tarball: bytes, path: str = TARBALL_PATH) -> Iterator[tuple[str, list[str]]]:
    """A one-file npm registry on 127.0.0.1: its URL and the paths requested from it."""
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the base class's name
            requests.append(self.path)
            if self.path != path:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(tarball)))
            self.end_headers()
            self.wfile.write(tarball)

        def log_message(self, format, *args):  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def tarball() -> bytes:
    return npm_cached_tarball()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """prelnedge as a wheel installs it: built from a copy of what an sdist holds, unpacked into a
    site folder that has no runtimes/ beside it."""
    src = tmp_path_factory.mktemp("sdist")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "prelnedge", src / "prelnedge", ignore=ignore)
    for name in ("package.json", "package-lock.json"):
        (src / "runtimes" / "web").mkdir(parents=True, exist_ok=True)
        shutil.copy(WEB / name, src / "runtimes" / "web" / name)
    shutil.copytree(WEB / "src", src / "runtimes" / "web" / "src", ignore=ignore)
    wheels = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--disable-pip-version-check", str(src), "-w", str(wheels)], check=True, timeout=300,
                   capture_output=True)
    site = tmp_path_factory.mktemp("site-packages")
    with zipfile.ZipFile(next(wheels.glob("prelnedge-*.whl"))) as wheel:
        wheel.extractall(site)
    return site


def bundle_as_installed(site: Path, export: Path, out: Path, env: dict) -> subprocess.CompletedProcess:
    code = ("import sys, prelnedge; from prelnedge.cli import main; "
            "print('prelnedge from', prelnedge.__file__, file=sys.stderr); "
            f"sys.exit(main(['bundle', {str(export)!r}, '--platform', 'web', '--out', {str(out)!r}]))")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PRELNEDGE_WEB_RUNTIME", "PRELNEDGE_CACHE") and not k.lower().startswith("npm_config_")}
    return subprocess.run([sys.executable, "-c", code], cwd=site.parent, capture_output=True, text=True,
                          env={**clean, "PYTHONPATH": str(site), **env}, timeout=300)


def test_installed_package_fetches_checks_and_caches_the_runtime(installed, tarball, default_onnx_export, tmp_path):
    export = default_onnx_export("qa")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    with registry(tarball) as (url, requests):
        env["npm_config_registry"] = url
        first = bundle_as_installed(installed, export, tmp_path / "first", env)
        assert first.returncode == 0, first.stderr
        second = bundle_as_installed(installed, export, tmp_path / "second", env)
        assert second.returncode == 0, second.stderr
    assert f"prelnedge from {installed / 'prelnedge' / '__init__.py'}" in first.stderr  # not the checkout
    assert f"fetching onnxruntime-web {VERSION}" in first.stderr and "integrity checked" in first.stderr
    assert requests == [TARBALL_PATH]  # once: the second bundle used the cache
    assert "fetching" not in second.stderr
    facts = [json.loads((tmp_path / name / "manifest.json").read_text())["bundle"] for name in ("first", "second")]
    assert [f["runtime_from"] for f in facts] == ["download", "cache"]
    assert facts[0]["runtime"] == f"onnxruntime-web {VERSION}"
    # the bytes npm ci installs, and the page as the checkout has it
    dist = WEB / "node_modules" / "onnxruntime-web" / "dist"
    for name in web_runtime.ORT_FILES:
        assert filecmp.cmp(tmp_path / "first" / "ort" / name, dist / name, shallow=False), name
    for page in (WEB / "src").rglob("*"):
        if page.is_file():
            assert filecmp.cmp(tmp_path / "first" / page.relative_to(WEB / "src"), page, shallow=False), page


@pytest.fixture
def bare_runtime(tmp_path, monkeypatch) -> Path:
    """A runtimes/web folder without node_modules, and an empty cache."""
    root = tmp_path / "web"
    shutil.copytree(WEB / "src", root / "src")
    shutil.copy(WEB / "package-lock.json", root / "package-lock.json")
    monkeypatch.setenv("PRELNEDGE_CACHE", str(tmp_path / "cache"))
    return root


def test_a_damaged_download_is_refused(bare_runtime, tarball, monkeypatch):
    damaged = bytearray(tarball)
    damaged[len(damaged) // 2] ^= 0xFF
    with registry(bytes(damaged)) as (url, _):
        monkeypatch.setenv("npm_config_registry", url)
        with pytest.raises(UserError, match="does not match package-lock.json's integrity"):
            web_runtime.ort_files(bare_runtime)
    assert not list(web_runtime.cache_dir().glob(f"{web_runtime.ORT_PACKAGE}-*"))


def test_an_unreachable_registry_says_what_to_do(bare_runtime, monkeypatch):
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(UserError, match=r"cannot fetch onnxruntime-web .*npm_config_registry.*npm ci"):
        web_runtime.ort_files(bare_runtime)


def test_a_scoped_package_is_fetched_by_its_registry_path(bare_runtime, monkeypatch):
    """LiteRT.js bundles take their packages the same way (@litertjs/core and @litertjs/wasm-utils)."""
    with registry(npm_cached_tarball(UTILS), tarball_path(UTILS)) as (url, requests):
        monkeypatch.setenv("npm_config_registry", url)
        folder, _, origin = web_runtime.package_files(bare_runtime, UTILS, ("dist/index.js",))
    assert origin == "download" and requests == [tarball_path(UTILS)]
    assert filecmp.cmp(folder / "dist" / "index.js", WEB / "node_modules" / UTILS / "dist" / "index.js", shallow=False)


def test_a_checkout_uses_its_node_modules():
    folder, version, origin = web_runtime.ort_files(WEB)
    assert (folder, version, origin) == (WEB / "node_modules" / "onnxruntime-web" / "dist", VERSION, "node_modules")

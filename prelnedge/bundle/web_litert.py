"""The web bundle for a TFLite export: the same page, tokenizer and post-processing as the ONNX
bundle (runtimes/web/src), with the model run by LiteRT.js (`@litertjs/core`) instead of
onnxruntime-web. Only for static-shape exports (`prelnedge export --target tflite --static-shape
LENGTH`, float or quantized fp16 / int8-dynamic; the integer modes take unpadded rows only, which a
static shape cannot give): LiteRT.js does not resize inputs, so the page pads every row to LENGTH and windows
longer texts at it (runtimes/web/src/js/litert_model.js).

Layout beside the page's files:

    tflite/model.tflite                 the export's model
    litert/index.js                     @litertjs/core's ES module, its one import of
    litert/wasm-utils.js                @litertjs/wasm-utils pointed at the copy beside it
    litert/litert_wasm_internal.{js,wasm}         the runtime (relaxed-SIMD WebAssembly), and
    litert/litert_wasm_compat_internal.{js,wasm}  its build for browsers without relaxed SIMD

The threaded and JSPI builds are left out: the page runs one thread and needs no cross-origin
isolation. Nothing is fetched from a CDN.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from prelnedge.errors import UserError

LITERT_PACKAGE = "@litertjs/core"
WASM_UTILS_PACKAGE = "@litertjs/wasm-utils"
WASM_FILES = ("litert_wasm_internal.js", "litert_wasm_internal.wasm",
              "litert_wasm_compat_internal.js", "litert_wasm_compat_internal.wasm")
# @litertjs/core's dist/index.js imports its helper package by name; a browser without an import
# map cannot resolve a bare name, so the shipped copy imports the file beside it.
BARE_IMPORT = 'from "@litertjs/wasm-utils"'
LOCAL_IMPORT = 'from "./wasm-utils.js"'


def write_litert_web_bundle(export_dir: Path, manifest: dict, dest: Path) -> dict:
    from prelnedge.bundle import web_page, web_runtime

    export_dir, dest = Path(export_dir), Path(dest)
    static = manifest.get("io", {}).get("static_shape")
    if not static:
        raise UserError(f"{export_dir} is a dynamic-shape TFLite export; LiteRT.js cannot resize inputs, so web "
                        "bundles need one made with: prelnedge export --target tflite --static-shape LENGTH")
    root = web_runtime.runtime_root()
    source = web_runtime.page_sources(root)
    # from node_modules, the cache or the npm registry, as onnxruntime-web is (web_runtime.py)
    core, version, origin = web_runtime.package_files(root, LITERT_PACKAGE,
                                                      ("dist/index.js", *(f"wasm/{n}" for n in WASM_FILES)))
    utils, _, _ = web_runtime.package_files(root, WASM_UTILS_PACKAGE, ("dist/index.js",))
    model_file = web_page.exported_model(export_dir, manifest)

    shutil.copytree(source, dest, dirs_exist_ok=True)
    (dest / "litert").mkdir()
    index = (core / "dist" / "index.js").read_text(encoding="utf-8")
    if index.count(BARE_IMPORT) != 1:
        raise UserError(f"{LITERT_PACKAGE} {version}'s dist/index.js does not import {WASM_UTILS_PACKAGE} once as "
                        f"expected; runtimes/web/package.json pins the version prelnedge was tested with")
    (dest / "litert" / "index.js").write_text(index.replace(BARE_IMPORT, LOCAL_IMPORT), encoding="utf-8")
    shutil.copy(utils / "dist" / "index.js", dest / "litert" / "wasm-utils.js")
    for name in WASM_FILES:
        shutil.copy(core / "wasm" / name, dest / "litert" / name)
    (dest / "tflite").mkdir()
    shutil.copy(model_file, dest / "tflite" / "model.tflite")
    files = web_page.finish_page(export_dir, dest, (*web_page.EXPORT_FILES, "config.json"))  # the page reads config's labels
    return {
        "runtime": f"{LITERT_PACKAGE} {version}",
        "runtime_from": origin,
        "backend": "wasm (XNNPACK, 1 thread)",
        "model": "tflite/model.tflite",
        "float_model": None if manifest.get("quantization") else "tflite/model.tflite",
        "static_shape": static,
        "entry": "index.html",
        "selftest": {"page": "index.html?selftest=1"},  # its rule: the manifest's spec.rule
        "files": files,
        "total_bytes": sum(files.values()),
    }

"""The web bundle: a static folder that runs an ONNX export in the browser, offline, from any
static file server.

Layout (the model and tokenizer files where transformers.js expects them):

    index.html, style.css, js/*.js      the page and the runtime (runtimes/web/src)
    ort/                                three files of onnxruntime-web (WebAssembly backend; where they
                                        come from: web_runtime.py)
    onnx/model.onnx                     the float model
    onnx/model_<dtype>.onnx             a quantized export's model, named as transformers.js names its
                                        dtypes (model_quantized.onnx for int8-dynamic = q8,
                                        model_fp16.onnx, model_int8.onnx, model_q4.onnx); its float
                                        parent beside it, as onnx/model.onnx, when that folder still exists
    config.json                         the export's, with what transformers.js keys on (transformers_js.py)
    tokenizer.json, tokenizer_config.json, golden.json
    manifest.json                       written by prelnedge.bundle (with the facts returned here)

`index.html?selftest=1` checks the bundle against golden.json in the browser.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from prelnedge.bundle import transformers_js, web_runtime
from prelnedge.bundle.web_page import EXPORT_FILES, exported_model, finish_page
from prelnedge.errors import UserError

def write_web_bundle(export_dir: Path, manifest: dict, dest: Path) -> dict:
    """Fill `dest` (an empty folder) with the page, runtime, model and golden vectors; return
    {"runtime", "backend", "model", "float_model", "entry", "selftest": {page}, "files":
    {path: bytes}, "total_bytes"}."""
    export_dir, dest = Path(export_dir), Path(dest)
    if manifest.get("target") == "tflite":  # run by LiteRT.js instead (static-shape exports)
        from prelnedge.bundle.web_litert import write_litert_web_bundle

        return write_litert_web_bundle(export_dir, manifest, dest)
    if manifest.get("target") != "onnx":
        raise UserError(f"{export_dir} is a {manifest.get('target')} export; web bundles run ONNX models "
                        "(onnxruntime-web) and static-shape TFLite models (LiteRT.js)")
    root = web_runtime.runtime_root()
    source = web_runtime.page_sources(root)
    model_file = exported_model(export_dir, manifest)

    ort_dist, ort_version, ort_origin = web_runtime.ort_files(root)
    shutil.copytree(source, dest, dirs_exist_ok=True)
    (dest / "ort").mkdir()
    for name in web_runtime.ORT_FILES:
        shutil.copy(ort_dist / name, dest / "ort" / name)
    (dest / "onnx").mkdir()
    quantized = manifest.get("quantization") is not None
    dtype = transformers_js.dtype_of(manifest)
    model = transformers_js.model_file(dtype)
    shutil.copy(model_file, dest / model)
    float_model = _float_model(manifest) if quantized else None
    if float_model is not None:
        shutil.copy(float_model, dest / "onnx" / "model.onnx")
    _write_config(export_dir, manifest["task"], dtype, dest)
    files = finish_page(export_dir, dest, EXPORT_FILES)
    architecture = transformers_js.architecture(manifest["task"])
    return {
        "runtime": f"{web_runtime.ORT_PACKAGE} {ort_version}",
        "runtime_from": ort_origin,  # node_modules, cache or download (see web_runtime.py)
        "backend": "wasm (SIMD; up to 4 threads when cross-origin isolated, as serve.py serves it, else 1)",
        "model": model,
        "float_model": "onnx/model.onnx" if not quantized or float_model is not None else None,
        # what transformers.js loads it as (None: no such class there; prelnedge's page only)
        "transformers_js": {"model_type": transformers_js.MODEL_TYPE, "architecture": architecture, "dtype": dtype}
        if architecture else None,
        "entry": "index.html",
        "selftest": {"page": "index.html?selftest=1"},  # its rule: the manifest's spec.rule
        "files": files,
        "total_bytes": sum(files.values()),
    }


def how_to_open(folder: Path) -> str:
    """The page must come from an HTTP server: browsers load neither module scripts nor the model into
    a file:// page. Python's own static server is enough (it serves .mjs and .wasm with the right types)."""
    import shlex

    return (f"open it through a static server (a file:// page cannot load the model):\n"
            f"  python3 -m http.server --bind 127.0.0.1 --directory {shlex.quote(str(folder))} 8000\n"
            f"  then http://127.0.0.1:8000/ (self-test: http://127.0.0.1:8000/index.html?selftest=1)\n"
            f"  or, multi-threaded (cross-origin isolated): python3 {shlex.quote(str(folder / 'serve.py'))}")


def _float_model(manifest: dict) -> Path | None:
    """The float ONNX model a quantized export was made from (its parent), when that folder is
    still there and unchanged."""
    from prelnedge.artifact import Parent

    parent = manifest.get("parent")
    float_export = Parent(**parent).artifact() if parent else None
    model = float_export.model_path if float_export is not None else None
    return model if model is not None and model.suffix == ".onnx" and model.is_file() else None


def _write_config(export_dir: Path, task: str, dtype: str, dest: Path) -> None:
    source = export_dir / "config.json"
    if not source.is_file():
        raise UserError(f"{source} is missing; export again")
    config = transformers_js.web_config(json.loads(source.read_text(encoding="utf-8")), task, dtype)
    (dest / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

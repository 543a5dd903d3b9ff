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
from prelnedge.errors import UserError

# Read by the page (config.json for labels when golden.json has none) and by transformers.js
# (config.json, tokenizer.json, tokenizer_config.json).
EXPORT_FILES = ("tokenizer.json", "tokenizer_config.json", "golden.json")


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


def exported_model(export_dir: Path, manifest: dict) -> Path:
    """The export's model file, which every page ships."""
    model_file = export_dir / manifest["model_file"]
    if not model_file.is_file():
        raise UserError(f"{model_file} is missing; export again")
    return model_file


def finish_page(export_dir: Path, dest: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The last steps every page bundle shares: copy the export's `names` the page reads, make sure
    the tokenizer and golden vectors are usable, and list what the bundle holds ({path: bytes})."""
    for name in names:
        if (export_dir / name).is_file():
            shutil.copy(export_dir / name, dest / name)
    _ensure_tokenizer_json(export_dir, dest)
    _check_golden(dest / "golden.json", export_dir)
    return {p.relative_to(dest).as_posix(): p.stat().st_size for p in sorted(dest.rglob("*")) if p.is_file()}


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


def _ensure_tokenizer_json(export_dir: Path, dest: Path) -> None:
    """The page reads tokenizer.json; build it from vocab.json + merges.txt when only those exist,
    and refuse a tokenizer the JavaScript one does not implement (one line, at bundle time)."""
    from prelnedge.runtime.tokenizer import PreLNTokenizer

    if not (dest / "tokenizer.json").is_file():
        if not ((export_dir / "vocab.json").is_file() and (export_dir / "merges.txt").is_file()):
            raise UserError(f"{export_dir} has no tokenizer (tokenizer.json or vocab.json + merges.txt); "
                            "the web page needs one")
        tok = PreLNTokenizer.from_dir(export_dir, max_length=1)
        (dest / "tokenizer.json").write_text(tok._tok.to_str(), encoding="utf-8")
    spec = json.loads((dest / "tokenizer.json").read_text(encoding="utf-8"))
    model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    post = spec.get("post_processor") or {}
    problems = []
    if model.get("type") != "BPE":
        problems.append(f"model {model.get('type')} (needs BPE)")
    if spec.get("normalizer") is not None:
        problems.append(f"normalizer {spec['normalizer'].get('type')} (needs none)")
    if pre.get("type") != "ByteLevel" or pre.get("use_regex") is False:
        problems.append("pre-tokenizer (needs ByteLevel with its default split)")
    if post and post.get("type") not in ("RobertaProcessing", "ByteLevel"):
        problems.append(f"post-processor {post.get('type')} (needs RobertaProcessing)")
    if problems:
        raise UserError(f"the web runtime's tokenizer is RoBERTa's byte-level BPE; {export_dir}/tokenizer.json has "
                        + "; ".join(problems))


def _check_golden(golden: Path, export_dir: Path) -> None:
    if not golden.is_file():
        raise UserError(f"{export_dir} has no golden.json; export again (the page's self-test needs it)")

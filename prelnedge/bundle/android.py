"""The Android bundle: what `android_demo/app/src/main/assets` holds.

    model.tflite       a TFLite export's model (one `serving_default` signature, int32 inputs), run
                       by LiteRT on the phone; or
    model.ort          an ONNX export converted to ONNX Runtime's format (int64 inputs), run by
                       ONNX Runtime for Android; verified in Python before the bundle is written
    tokenizer.json     plus vocab.json + merges.txt (and tokenizer_config.json, whose add_prefix_space
                       they need) when the export has them (the app reads tokenizer.json; the
                       self-test checks that both give the golden ids)
    labels.txt         one label per line in id order, for the tasks whose logits index labels
                       (sequence- and token-classification); other tasks get none
    golden.json        the export's golden vectors, for the app's self-check and selftest.sh
    config.json        the model's Hugging Face config

The app's Java core (android_demo/core) reads these; `android_demo/selftest.sh DIR` checks a bundle
on a desktop JVM.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from prelnedge.bundle.runtime_spec import runtime_spec
from prelnedge.errors import UserError

MODEL_FILE = "model.tflite"
# target -> what the app runs it with; manifest["bundle"]["runtime"] tells the app which path to take.
RUNTIMES = {"tflite": "litert", "onnx": "onnxruntime"}
INPUT_DTYPES = {"tflite": "int32", "onnx": "int64"}
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")
SIGNATURE = "serving_default"


def write_android_bundle(export_dir: Path, manifest: dict, dest: Path) -> dict[str, Any]:
    """Fill `dest` (an existing empty folder) from a tflite or onnx export folder; return facts for
    the bundle manifest. Raises UserError for exports the app cannot use, ValidationError when an
    ONNX export's model.ort does not reproduce it."""
    export_dir, dest = Path(export_dir), Path(dest)
    _check_export(export_dir, manifest)
    task = manifest["task"]
    config = json.loads((export_dir / "config.json").read_text(encoding="utf-8"))
    golden = json.loads((export_dir / "golden.json").read_text(encoding="utf-8"))
    if golden.get("task") != task:
        raise UserError(f"{export_dir}/golden.json is for task {golden.get('task')!r} but the export is {task}; "
                        "export again")

    target = manifest["target"]
    verification = None
    if target == "onnx":
        from prelnedge.bundle.ort_format import convert_to_ort, verify_ort

        model_file = convert_to_ort(export_dir / manifest["model_file"], dest).name
        verification = verify_ort(dest / model_file, export_dir, manifest)
    else:
        model_file = MODEL_FILE
        shutil.copyfile(export_dir / manifest["model_file"], dest / MODEL_FILE)
    tokenizer_files = [name for name in TOKENIZER_FILES if (export_dir / name).is_file()]
    for name in [*tokenizer_files, "golden.json", "config.json"]:
        shutil.copyfile(export_dir / name, dest / name)
    # only where the outputs index config.json's id2label; for the other heads labels mean nothing
    labels = _labels(config) if runtime_spec(manifest)["labelled"] else None
    if labels is not None:
        (dest / "labels.txt").write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")

    files = {path.name: path.stat().st_size for path in sorted(dest.iterdir()) if path.is_file()}
    return {
        "task": task,
        "model_file": model_file,
        "runtime": RUNTIMES[target],
        "signature": SIGNATURE if target == "tflite" else None,
        "input_dtype": INPUT_DTYPES[target],
        "verification": verification,
        "max_tokens": golden.get("max_tokens", manifest["io"].get("max_tokens")),
        "tokenizer": tokenizer_files,
        "labels": labels,
        "golden_examples": len(golden.get("examples", [])),
        "files": files,
        "total_bytes": sum(files.values()),
        "selftest": "android_demo/selftest.sh <this folder>",  # its rule: the manifest's spec.rule
    }


def _check_export(export_dir: Path, manifest: dict) -> None:
    target = manifest.get("target")
    if target not in RUNTIMES:
        raise UserError(f"{export_dir} is a {target} export; android bundles take: {', '.join(RUNTIMES)}")
    if target == "onnx":
        from prelnedge.bundle.ort_format import check_onnx_export

        check_onnx_export(export_dir, manifest)
    dtypes = {spec.get("dtype") for spec in manifest.get("io", {}).get("inputs", [])}
    if target == "tflite" and dtypes != {"int32"}:
        raise UserError(f"{export_dir} has {sorted(map(str, dtypes))} inputs; the Android app feeds TFLite "
                        "models int32 (prelnedge export --target tflite writes int32)")
    needed = [manifest.get("model_file") or "(model_file)", "config.json", "golden.json"]
    missing = [name for name in needed if not (export_dir / name).is_file()]
    if missing:
        raise UserError(f"{export_dir} lacks {', '.join(missing)}; export again")
    has_json = (export_dir / "tokenizer.json").is_file()
    has_gpt2 = (export_dir / "vocab.json").is_file() and (export_dir / "merges.txt").is_file()
    if not (has_json or has_gpt2):
        raise UserError(f"{export_dir} has no tokenizer (tokenizer.json or vocab.json + merges.txt); the app "
                        "tokenizes on the device, so export from a checkpoint that has one")


def _labels(config: dict) -> list[str]:
    id2label = config.get("id2label") or {}
    try:
        by_id = {int(key): str(value) for key, value in id2label.items()}
    except ValueError:
        raise UserError(f"config.json id2label has non-integer ids {sorted(id2label)}") from None
    if sorted(by_id) != list(range(len(by_id))) or not by_id:
        raise UserError(f"config.json id2label should number its labels 0..N-1; it has {sorted(by_id)}")
    bad = [label for label in by_id.values() if "\n" in label or "\r" in label or not label]
    if bad:
        raise UserError(f"labels cannot be empty or hold line breaks (labels.txt is one per line): {bad!r}")
    return [by_id[i] for i in range(len(by_id))]

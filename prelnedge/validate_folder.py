"""`prelnedge validate OUT`: re-check an exported folder.

Always: its files against the manifest's sha256s, and its model against golden.json. When the
source checkpoint is reachable (the manifest's path, or --model), the full validation against the
float reference runs again and validation.json is rewritten.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from prelnedge.artifact import read_json, read_manifest, write_json
from prelnedge.compare import compare_outputs
from prelnedge.errors import UserError, ValidationError
from prelnedge.hashing import sha256_file
from prelnedge.tolerances import tolerance


def validate_folder(folder: Path, model: Path | None = None) -> dict:
    from prelnedge.checkpoint import load_checkpoint
    from prelnedge.reference import FRAMEWORK_MODULES
    from prelnedge.runtime import open_session
    from prelnedge.tasks import get_task
    from prelnedge.validate import validate

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not an exported folder")
    manifest = read_manifest(folder)
    for name, digest in manifest["files"].items():
        if name == "validation.json":
            continue
        path = folder / name
        if not path.exists() or sha256_file(path) != digest:
            raise ValidationError(f"{name} is missing or changed since export (sha256 mismatch)")
    task = get_task(manifest["task"])
    if manifest.get("quantization"):  # judged by SQNR floors; it opens its own runtime session
        return _validate_quantized(folder, manifest, task, model)
    static = manifest["io"].get("static_shape") or {}
    session = open_session(folder / manifest["model_file"], static_length=static.get("length"), task_name=task.name)
    limit = tolerance("fp32-export").peak_rel
    if (folder / "golden.json").exists():
        for i, example in enumerate(read_json(folder / "golden.json")["examples"]):
            got = session.run(np.array(example["input_ids"]), np.array(example["attention_mask"]))
            want = {k: np.array(v["values"], np.float32) for k, v in example["expected"].items() if "values" in v}
            # golden values are rounded to 6 decimals: compare at that resolution too
            compare_outputs({k: got[k] for k in want}, want, max(limit, 1e-5), label=f"golden example {i}")
    source = model or (None if manifest["source"]["embedded_default"] else Path(manifest["source"]["path"]))
    if source is not None and not Path(source).exists():
        return {"golden": True, "full": False}
    checkpoint = load_checkpoint(source, task)
    if checkpoint.source_sha256 != manifest["source"]["sha256"]:
        raise UserError(f"checkpoint {checkpoint.source_path} is not the one this folder was exported from "
                        "(sha256 differs); pass --model with the original")
    reference = importlib.import_module(FRAMEWORK_MODULES[manifest["framework"]]).build_forward(checkpoint)
    summary = validate(session.run, lambda i, m: reference(i, m, False), checkpoint.config, task,
                       max_tokens=static.get("length"))
    write_json(folder / "validation.json", summary)
    return {"golden": True, "full": True}


def _validate_quantized(folder: Path, manifest: dict, task, model: Path | None) -> dict:
    """Golden replay within the mode's SQNR floor, then the fidelity measurement again when the
    float reference's checkpoint is reachable."""
    from prelnedge.reference import FRAMEWORK_MODULES
    from prelnedge.quantize.stage import golden_check
    from prelnedge.runtime import load_exported

    exported = load_exported(folder)
    if (folder / "golden.json").exists():
        for i, example in enumerate(read_json(folder / "golden.json")["examples"]):
            got = exported(np.array(example["input_ids"]), np.array(example["attention_mask"]))
            want = {k: np.array(v["values"], np.float32) for k, v in example["expected"].items() if "values" in v}
            golden_check(manifest, got, want, label=f"golden example {i}")
    source = model or (None if manifest["source"]["embedded_default"] else Path(manifest["source"]["path"]))
    if source is not None and not Path(source).exists():
        return {"golden": True, "full": False}
    from prelnedge.fidelity import measure
    from prelnedge.quantize import get_mode
    from prelnedge.quantize.calibration import default_examples
    from prelnedge.quantize.stage import _source_checkpoint, evaluation_batches, judge

    checkpoint = _source_checkpoint(manifest, task, model)
    reference = importlib.import_module(FRAMEWORK_MODULES[manifest["framework"]]).build_forward(checkpoint)
    tok = exported.tokenizer
    batches = evaluation_batches(task, tok, exported.config, default_examples(task)[1::2])
    fidelity = measure(task, exported, lambda i, m: reference(i, m, False), batches,
                       eos_id=exported.config.eos_token_id, mask_id=tok.mask_id if tok else None)
    mode = get_mode(manifest["target"], manifest["quantization"]["mode"])
    thresholds = judge(fidelity, mode.tolerance, f"{mode.name} {manifest['target']} vs float reference")
    summary = read_json(folder / "validation.json")
    summary.update({"passed": True, "tolerance": thresholds, "fidelity": fidelity})
    write_json(folder / "validation.json", summary)
    return {"golden": True, "full": True}

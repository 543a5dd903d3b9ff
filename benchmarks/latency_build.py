"""The latency benchmark's build step: every artifact it times, made once and reused while its inputs hold.

Steps (each a subprocess, niced, so the timing process stays small and is not slowed by them):
a seeded random QA checkpoint (random_checkpoint.py), the do-it-yourself model (what a user writes
without prelnedge: torch.onnx dynamo export of the transformers model, then onnxruntime's
`quantize_dynamic` with its defaults), a float export per prelnedge target, and one quantized
artifact per mode in prelnedge's mode registry. prelnedge's artifacts are made by its own stages
(`export`, `quantize_folder`), so each is validated exactly as a user's would be; a step that fails
(a validation failure included) is reported in the table with its reason, never timed.

Reuse, by content rather than time stamps: each step leaves a stamp (OUT/artifacts/stamps/NAME.json)
with a digest of everything it was built from, and the sha256 of every file it wrote:
- the step's arguments and the versions of the libraries that build models;
- the parent's content (the checkpoint's files; the float export's manifest `files` hashes);
- the source of every prelnedge module the step imported (recorded by the step itself), comments
  and layout ignored; a quantize step's own mode module counts only its mode's function and the
  module-level names it uses, and the mode registry only its own entry (source_fingerprint.py), so
  changing one mode rebuilds that mode alone.
A stamp is reused only when that digest is unchanged and every file still has its recorded hash.
A failure is remembered the same way: a step that failed is not retried until one of its inputs changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import source_fingerprint as fp  # noqa: E402

EAGER, DIY = "hf eager (torch)", "diy torch.onnx + quantize_dynamic"
TASK = "qa"
REGISTRY = ROOT / "prelnedge" / "quantize" / "__init__.py"


def prelnedge_runners() -> list[str]:
    """'TARGET fp32' (the float export) and 'TARGET MODE' for every mode the registry lists."""
    from prelnedge.export import TARGETS
    from prelnedge.quantize import mode_names

    return [f"{target} {mode}" for target in TARGETS for mode in ["fp32", *mode_names(target)]]


@dataclass(frozen=True)
class Step:
    name: str  # stamp and folder name
    kind: str  # checkpoint | diy | export | quantize
    args: dict  # what the subprocess gets (strings), part of the digest
    parent: "Step | None" = None
    entry: tuple[Path, str] | None = None  # a benchmark-side function the step runs
    mode: object | None = None  # quantize: the registry's QuantMode
    runners: tuple[str, ...] = field(default_factory=tuple)  # the table rows that need it


def plan(artifacts: Path, size: str, runners: list[str]) -> tuple[list[Step], dict[str, str]]:
    """The steps the runners need, parents first, and {runner: why it cannot be made} for modes the
    registry refuses for this task or framework (no step is run for those)."""
    from prelnedge.errors import UserError
    from prelnedge.export import DEFAULT_FRAMEWORK
    from prelnedge.quantize import check_mode

    checkpoint = Step("checkpoint", "checkpoint", {"size": size, "out": str(artifacts / "checkpoint")},
                      entry=(ROOT / "benchmarks" / "random_checkpoint.py", "make_checkpoint"),
                      runners=tuple(r for r in runners if r != EAGER))
    steps, refused = [checkpoint], {}
    if DIY in runners:
        steps.append(Step("diy", "diy", {"checkpoint": checkpoint.args["out"], "out": str(artifacts / "diy")},
                          parent=checkpoint, entry=(Path(__file__).resolve(), "make_diy"), runners=(DIY,)))
    for target, framework in DEFAULT_FRAMEWORK.items():
        mine = [r for r in runners if r.startswith(target + " ")]
        if not mine:
            continue
        export = Step(f"{target}-fp32", "export", {"checkpoint": checkpoint.args["out"], "target": target,
                                                   "framework": framework, "out": str(artifacts / f"{target}-fp32")},
                      parent=checkpoint, runners=tuple(mine))
        steps.append(export)
        for runner in mine:
            mode_name = runner.split(" ", 1)[1]
            if mode_name == "fp32":
                continue
            try:
                mode = check_mode(target, framework, mode_name, TASK)
            except UserError as exc:
                refused[runner] = f"refused by prelnedge: {exc}"
                continue
            steps.append(Step(f"{target}-{mode_name}", "quantize",
                              {"export": export.args["out"], "mode": mode_name,
                               "out": str(artifacts / f"{target}-{mode_name}")},
                              parent=export, mode=mode, runners=(runner,)))
    return steps, refused


# ------------------------------------------------------------------------------------------ digests

def _tool_versions() -> dict[str, str]:
    """prelnedge's own record of tool versions, plus transformers (the checkpoint and the DIY model)."""
    from prelnedge.artifact import tool_versions

    return {**tool_versions(), "transformers": metadata.version("transformers")}


def folder_hashes(folder: Path) -> dict[str, str]:
    from prelnedge.hashing import sha256_file

    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _parent_digest(step: Step, stamps: Path) -> str:
    """What the parent made, by content: its stamp's output hashes (an export: only its manifest's
    `files`, whose hashes skip the manifest's own run details)."""
    if step.parent is None:
        return ""
    folder = Path(step.parent.args["out"])
    if step.parent.kind == "export" and (folder / "manifest.json").is_file():
        files = json.loads((folder / "manifest.json").read_text())["files"]
    else:
        files = (_read_stamp(stamps, step.parent) or {}).get("outputs", {})
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def _source_digest(step: Step, path: Path) -> str:
    if step.mode is not None:
        module, function = step.mode.implementation.split(":")
        if path == ROOT / (module.replace(".", "/") + ".py"):
            return fp.function_digest(path, function)
    if path == REGISTRY:  # an export needs no mode entry; a quantize step only its own
        want = (step.mode.name, step.mode.target) if step.mode is not None else None
        return fp.registry_digest(path, "MODES", lambda call: fp.call_literals(call, ("name", "target")) == want)
    return fp.module_digest(path)


def digest_parts(step: Step, imports: list[str], stamps: Path, root: Path = ROOT) -> dict[str, str]:
    """Everything the step is built from, by name; `imports` are paths relative to `root`."""
    parts = {"args": json.dumps(step.args, sort_keys=True), "tools": json.dumps(_tool_versions(), sort_keys=True),
             "parent": _parent_digest(step, stamps)}
    if step.entry is not None:
        path, function = step.entry
        parts[f"{path.relative_to(root)}:{function}"] = fp.function_digest(path, function)
    for rel in imports:
        path = root / rel
        parts[rel] = _source_digest(step, path) if path.is_file() else "missing"
    return parts


# ------------------------------------------------------------------------------------------ running

def _stamp_path(stamps: Path, step: Step) -> Path:
    return stamps / f"{step.name}.json"


def _read_stamp(stamps: Path, step: Step) -> dict | None:
    path = _stamp_path(stamps, step)
    return json.loads(path.read_text()) if path.is_file() else None


def why_rebuild(step: Step, stamps: Path, root: Path = ROOT) -> str:
    """'' when the stamp still holds, else the reason to run the step."""
    stamp = _read_stamp(stamps, step)
    if stamp is None:
        return "never built"
    now = digest_parts(step, stamp["imports"], stamps, root)
    changed = sorted(k for k in now.keys() | stamp["parts"].keys() if now.get(k) != stamp["parts"].get(k))
    if changed:
        return "changed: " + ", ".join(changed)
    if stamp["status"] == "built":
        folder = Path(step.args["out"])
        if not folder.is_dir() or folder_hashes(folder) != stamp["outputs"]:
            return "its files changed or are missing"
    return ""


def run_step(step: Step, stamps: Path, nice: int) -> str | None:
    """Run one step in a niced subprocess and stamp it; None when it worked, else the reason."""
    stamps.mkdir(parents=True, exist_ok=True)
    imports = stamps / f"{step.name}.imports.json"
    imports.unlink(missing_ok=True)
    command = ["nice", "-n", str(nice)] if nice else []
    command += [sys.executable, str(Path(__file__).resolve()), "--_step", step.kind, "--imports", str(imports),
                "--args", json.dumps(step.args)]
    print(f"+ build {step.name}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          stderr=subprocess.PIPE, text=True)
    sys.stderr.write(done.stderr[-4000:])
    error = None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("prelnedge:")] or done.stderr.splitlines()
        error = lines[-1] if lines else f"exit status {done.returncode}"
    if not imports.is_file():  # killed before it could say what it imported: nothing to remember
        return error or "the step left no record of its imports"
    imported = json.loads(imports.read_text())
    folder = Path(step.args["out"])
    stamp = {"status": "failed" if error else "built", "reason": error, "seconds": round(time.perf_counter() - start, 1),
             "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "imports": imported,
             "parts": digest_parts(step, imported, stamps),
             "outputs": folder_hashes(folder) if not error and folder.is_dir() else {}}
    _stamp_path(stamps, step).write_text(json.dumps(stamp, indent=2) + "\n")
    return error


def build(artifacts: Path, size: str, runners: list[str], rebuild: bool, nice: int = 15) -> tuple[dict, dict]:
    """Make what the runners need. Returns ({runner: why it is not timed}, {step: how it was had})."""
    steps, failed = plan(artifacts, size, runners)
    stamps = artifacts / "stamps"
    how: dict[str, str] = {}
    broken: set[str] = set()
    for step in steps:
        if step.parent is not None and step.parent.name in broken:
            broken.add(step.name)
            continue
        reason = "--rebuild" if rebuild else why_rebuild(step, stamps)
        if reason:
            print(f"  {step.name}: building ({reason})", flush=True)
            error = run_step(step, stamps, nice)
            how[step.name] = f"built ({reason})"
        else:
            stamp = _read_stamp(stamps, step)
            error = stamp["reason"] if stamp["status"] == "failed" else None
            how[step.name] = "reused" + (" failure" if error else "") + f" (built {stamp['when']})"
        if error:
            broken.add(step.name)
            if step.kind == "checkpoint":
                raise SystemExit(f"could not write the random checkpoint: {error}")
            prefix = "float export failed: " if step.kind == "export" else ""
            failed.update({r: prefix + error for r in step.runners if r not in failed})
    return failed, how


# --------------------------------------------------------------------------- the steps, in a subprocess

def make_diy(checkpoint: Path, folder: Path) -> None:
    """What a user writes without prelnedge: export the transformers model, quantize it dynamically."""
    import torch
    import transformers
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder.mkdir(parents=True, exist_ok=True)
    model = transformers.RobertaPreLayerNormForQuestionAnswering.from_pretrained(checkpoint).eval()
    ids = torch.full((2, 7), 5, dtype=torch.int64)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
    torch.onnx.export(model, (), str(folder / "model.onnx"), kwargs={"input_ids": ids, "attention_mask": torch.ones_like(ids)},
                      dynamo=True, input_names=["input_ids", "attention_mask"],
                      output_names=["start_logits", "end_logits"],
                      dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}})
    quantize_dynamic(folder / "model.onnx", folder / "model_int8.onnx", weight_type=QuantType.QInt8)


def _do_step(kind: str, args: dict) -> int:
    from prelnedge.errors import UserError, ValidationError

    try:
        if kind == "checkpoint":
            from benchmarks.random_checkpoint import make_checkpoint

            make_checkpoint(Path(args["out"]), TASK, args["size"])
        elif kind == "diy":
            make_diy(Path(args["checkpoint"]), Path(args["out"]))
        elif kind == "export":
            from prelnedge.export import ExportConfig, export

            export(ExportConfig(task=TASK, target=args["target"], framework=args["framework"],
                                model=Path(args["checkpoint"]), out=Path(args["out"]), force=True))
        else:
            from prelnedge.quantize.stage import quantize_folder

            quantize_folder(Path(args["export"]), args["mode"], Path(args["out"]), force=True)
    except UserError as exc:
        print(f"prelnedge: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"prelnedge: validation failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _imported_sources() -> list[str]:
    package = ROOT / "prelnedge"
    files = {Path(m.__file__).resolve() for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    return sorted(str(f.relative_to(ROOT)) for f in files if f.is_relative_to(package) and f.suffix == ".py")


def main() -> int:
    parser = argparse.ArgumentParser(description="one build step of benchmarks/latency.py (run by it)")
    parser.add_argument("--_step", dest="step", required=True, choices=["checkpoint", "diy", "export", "quantize"])
    parser.add_argument("--imports", type=Path, required=True, help="where to list the prelnedge modules used")
    parser.add_argument("--args", type=json.loads, required=True)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        return _do_step(args.step, args.args)
    finally:
        args.imports.write_text(json.dumps(_imported_sources()) + "\n")


if __name__ == "__main__":
    sys.exit(main())

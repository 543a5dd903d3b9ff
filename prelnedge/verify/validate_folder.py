"""`prelnedge validate OUT`: re-check an exported or quantized folder, and say exactly what was checked.

Three checks, in order:
1. hashes: every file against the manifest's sha256 (validation.json and golden.json included);
2. golden replay: the model against golden.json's stored float outputs;
3. full re-validation against the float reference, rebuilt from the source checkpoint (the
   manifest's absolute path, or --model for a checkpoint that moved; its sha256 must match).
The result says which ran. Only all three together are a full pass; when the checkpoint cannot be
found, the third is reported as not run and the result is partial (the CLI's exit code 3). The
folder itself is never rewritten: the figures printed are the ones measured now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prelnedge.artifact import ModelArtifact, read_json
from prelnedge.errors import UserError, ValidationError
from prelnedge.runtime.generate import cached_step_of
from prelnedge.verify.replay import replay_golden
from prelnedge.verify.rules import artifact_tolerance, golden_rule

# files whose hashes must be in the manifest: without them a check would rest on unchecked numbers
COVERED = ("config.json", "validation.json", "golden.json")


@dataclass
class FolderCheck:
    """What `validate_folder` checked and found."""
    folder: Path
    artifact: ModelArtifact
    hashed_files: int = 0
    golden_examples: int = 0
    golden_rule: str = ""
    golden_generation: float | None = None  # causal LM: greedy agreement of the golden continuation's replay
    full: bool = False  # the re-validation against the float reference ran (and passed)
    full_not_run: str | None = None  # why it did not run
    measured: dict = field(default_factory=dict)  # the re-validation's summary, measured now


def validate_folder(folder: Path, model: Path | None = None) -> FolderCheck:
    """Raise ValidationError on any mismatch, UserError on a folder or checkpoint that cannot be used."""
    from prelnedge.tasks import get_task

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not an exported folder")
    artifact = ModelArtifact.read(folder)  # one-line refusal when fields are missing
    for name in (artifact.model_file, *COVERED):
        if name not in artifact.files:
            raise ValidationError(f"manifest.json has no sha256 for {name}: its contents are not covered; export again")
    changed = artifact.changed_files()
    if changed:
        raise ValidationError(f"{changed[0]} is missing or changed since export (sha256 mismatch)")
    check = FolderCheck(folder, artifact, hashed_files=len(artifact.files))
    task = get_task(artifact.task)
    source = _source(artifact, model)
    if source is not None and not Path(source).exists():
        check.full_not_run = (f"source checkpoint {source} not found; pass --model" if model is None
                              else f"--model {source} does not exist")
        if model is not None:
            raise UserError(check.full_not_run)
    if artifact.quantized:  # judged by SQNR floors; it opens its own runtime session
        _validate_quantized(check, task, model)
    else:
        _validate_float(check, task, model)
    return check


def _source(artifact: ModelArtifact, model: Path | None) -> Path | None:
    """The checkpoint to rebuild the float reference from (None: the embedded default model)."""
    if model is not None:
        return Path(model)
    return None if artifact.source.embedded_default else Path(artifact.source.path)


def _replay(check: FolderCheck, task, run, cached_step=None) -> None:
    """Golden replay under the folder's own rule (prelnedge.verify.rules.golden_rule)."""
    rule = golden_rule(check.artifact.to_json())
    golden = read_json(check.folder / "golden.json")
    worst = replay_golden(golden, task, run, rule, cached_step=cached_step)
    check.golden_generation = worst.get("generation.greedy_agreement")
    check.golden_examples, check.golden_rule = len(golden["examples"]), rule.describe()


def _validate_float(check: FolderCheck, task, model: Path | None) -> None:
    from prelnedge.checkpoint.load import load_checkpoint
    from prelnedge.models import build_forward
    from prelnedge.runtime.sessions import open_session
    from prelnedge.verify.precision import validate_float_artifact

    artifact = check.artifact
    static_length = artifact.io.static_length
    session = open_session(artifact.model_path, static_length=static_length, task_name=task.name)
    _replay(check, task, session.run, cached_step_of(session))
    if check.full_not_run:
        return
    checkpoint = load_checkpoint(_source(artifact, model), task)
    _same_checkpoint(checkpoint, artifact)
    reference = build_forward(artifact.framework, checkpoint)
    check.measured = validate_float_artifact(session.run, reference, checkpoint, task, static_length)
    check.full = True


def _same_checkpoint(checkpoint, artifact: ModelArtifact) -> None:
    if checkpoint.source_sha256 != artifact.source.sha256:
        raise UserError(f"checkpoint {checkpoint.source_path} is not the one this folder was exported from "
                        "(sha256 differs); pass --model with the original")


def _validate_quantized(check: FolderCheck, task, model: Path | None) -> None:
    """Golden replay within the mode's SQNR floor, then the fidelity measurement again when the
    float reference's checkpoint is reachable."""
    from prelnedge.models import build_forward
    from prelnedge.runtime.sessions import load_exported

    artifact = check.artifact
    exported = load_exported(artifact.folder)
    tolerance = artifact_tolerance(artifact.to_json())  # the quantized mode's (prelnedge.verify.rules)
    _replay(check, task, exported, cached_step_of(exported.session))
    if check.full_not_run:
        return
    from prelnedge.checkpoint.load import source_checkpoint
    from prelnedge.verify.floors import validate_quantized_artifact

    checkpoint = source_checkpoint(artifact, task, model)
    reference = build_forward(artifact.framework, checkpoint)
    check.measured = validate_quantized_artifact(
        exported, reference, task, exported.config, exported.tokenizer, tolerance,
        f"{artifact.quantization.mode} {artifact.target} vs float reference",
        artifact.io.static_length or exported.config.max_tokens)
    check.full = True


def describe(check: FolderCheck) -> list[str]:
    """The lines `prelnedge validate` prints: each check, and whether it ran."""
    artifact = check.artifact
    kind = f"{artifact.task} {artifact.target}"
    kind += f" {artifact.quantization.mode}" if artifact.quantized else f" from {artifact.framework}"
    lines = [f"{check.folder}: {artifact.model_file}, {kind}",
             f"  hashes: {check.hashed_files} files match manifest.json",
             f"  golden replay: {check.golden_examples} examples match the float model's outputs ({check.golden_rule})"
             + ("" if check.golden_generation is None else
                f"; greedy continuation {check.golden_generation:.0%} the same (decoded with the model's own cache"
                " when it has one)")]
    if not check.full:
        lines.append(f"  full re-validation against the float reference: not run: {check.full_not_run}")
        return lines
    measured = check.measured
    if "fidelity" in measured:
        fidelity = measured["fidelity"]
        lines.append(f"  full re-validation against the float reference: passed on {fidelity['examples']} examples "
                     f"(floor {measured['tolerance']['min_sqnr_db']:g} dB)")
        for name, worst in fidelity["outputs"].items():
            lines.append(f"    {name}: SQNR {worst['sqnr_db']:.1f} dB, cosine {worst['cosine']:.5f}, "
                         f"max_abs {worst['max_abs']:.3g}")
        lines.extend(f"    {key}: {value:.3f}" for key, value in fidelity["agreement"].items())
        return lines
    lines.append(f"  full re-validation against the float reference: passed on {len(measured['cases'])} input "
                 f"batches (tolerance peak_rel {measured['tolerance']['peak_rel']:g})")
    for name, worst in measured["worst"].items():
        lines.append(f"    {name}: max_abs {worst['max_abs']:.3g}, peak_rel {worst['peak_rel']:.3g}, "
                     f"cosine {worst['cosine']:.7f}, SQNR {worst['sqnr_db']:.1f} dB")
    return lines

"""One candidate's evaluation: a pure function of content-hashed inputs.

A candidate is (the float export, by its manifest's sha256, which lists every file's sha256; a
recipe, or None for the float model itself; the evaluation examples; the settings that change a
result: the metric and the calibration set). `evaluate_candidate` quantizes the export with the
recipe in a temporary folder, runs it with ONNX Runtime on every example at batch 1 (unpadded, as an
app calls it) against the float export's own outputs, and returns plain JSON figures: size, sha256 of
the model bytes, SQNR per output, the task agreement and, with labels, the task metric. The float
export is the reference here (it matches the float reference within 1e-5, prelnedge.verify.tolerances),
so no framework is loaded per candidate; the kept model is validated against the float reference
itself afterwards (prelnedge.quantize.stage).

Same key, same figures: `CandidateCache` keeps them by key on disk (resume after an interrupt), and
an executor may run candidates anywhere the export folder can be read. Nothing here writes outside
the temporary folder (and `keep`, when the caller names one).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from prelnedge.examples import Example
from prelnedge.quantize.recipe import Recipe

FLOAT = "float"


@dataclass(frozen=True)
class EvalSet:
    """Evaluation examples with a name for the trace ("search", "ranking", "held-out")."""
    name: str
    examples: tuple[Example, ...]

    @property
    def key(self) -> str:
        rows = [dataclasses.asdict(example) for example in self.examples]
        return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Settings:
    metric: str | None = None  # the task metric to measure (e.g. "exact_match"); None: fidelity only
    calibration: str | None = None  # calibration file (the default corpus when None)
    calibration_sha256: str | None = None
    # TFLite: the source checkpoint when it is no longer where the manifest says (its sha256 is in the
    # manifest, so the path is not part of the key)
    checkpoint: str | None = None


@dataclass(frozen=True)
class Candidate:
    export: str  # the float export folder
    export_sha256: str  # sha256 of its manifest.json (which holds every file's sha256)
    recipe: Recipe | None  # None: the float export itself
    data: EvalSet
    settings: Settings = Settings()
    # the model spliced from whole-model quantizations (prelnedge.quantize.compose) rather than written
    # by the quantizer: the same numbers, not the same bytes (search candidates; never the kept model)
    composed: bool = False

    @property
    def key(self) -> str:
        """Everything a result depends on, and not where the export lies."""
        facts = {"export": self.export_sha256, "recipe": self.recipe.to_json() if self.recipe else FLOAT,
                 "data": self.data.key, "settings": dataclasses.asdict(self.settings) | {"calibration": None, "checkpoint": None}}
        if self.composed:
            facts["built"] = "composed"
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


@lru_cache(maxsize=8)
def _export_parts(export: str, export_sha256: str):
    """(artifact, task, tokenizer, config) of the export; cached per content."""
    from prelnedge.artifact import ModelArtifact
    from prelnedge.config import PreLNConfig
    from prelnedge.runtime.tokenizer import PreLNTokenizer
    from prelnedge.tasks import get_task

    artifact = ModelArtifact.read(Path(export))
    config = PreLNConfig.from_json_file(Path(export) / "config.json")
    tok = PreLNTokenizer.from_dir(Path(export), config.max_tokens) if artifact.has_tokenizer else None
    return artifact, get_task(artifact.task), tok, config


def _calibration(candidate: Candidate, task, tok):
    from prelnedge.examples import calibration_batches, default_examples, load_examples

    if candidate.recipe is None or candidate.recipe.mode != "int8-static":
        return None
    settings = candidate.settings
    examples = load_examples(Path(settings.calibration), task) if settings.calibration else default_examples(task)[::2]
    return calibration_batches(tok, task, examples)


def _quantized(candidate: Candidate, artifact, task, tok, dst: Path) -> Path:
    """The candidate's model file: the float export itself, or the recipe's model written to `dst`."""
    recipe = candidate.recipe
    if recipe is None:
        return artifact.model_path
    if candidate.composed:
        from prelnedge.quantize.compose import compose, write_composed

        write_composed(compose(_onnx_parts(candidate.export, candidate.export_sha256, recipe), recipe), dst)
        return dst
    if recipe.target == "onnx":
        from prelnedge.quantize.mixed import quantize_onnx_recipe

        quantize_onnx_recipe(artifact.model_path, dst, _calibration(candidate, task, tok), recipe)
        return dst
    from prelnedge.quantize.mixed import tflite_float_nodes
    from prelnedge.quantize.tflite import INT8_STATIC_FLOAT_OPS, quantize_calibrated

    calibrated = _tflite_calibrated(candidate.export, candidate.export_sha256, candidate.settings)
    layers = _export_parts(candidate.export, candidate.export_sha256)[3].num_hidden_layers
    floating = tflite_float_nodes(artifact.model_path, layers, recipe)
    dst.write_bytes(quantize_calibrated(calibrated, INT8_STATIC_FLOAT_OPS, floating))
    return dst


_CALIBRATED: dict = {}
_FLOAT_OUTPUTS: dict = {}
_PARTS: dict = {}


def _onnx_parts(export: str, export_sha256: str, recipe: Recipe):
    """The composable mode's parts (prelnedge.quantize.compose), made once per export and mode in this
    process: a few quantizer runs instead of one per candidate."""
    from prelnedge.quantize.compose import quantize_parts

    artifact = _export_parts(export, export_sha256)[0]
    return _by_content(_PARTS, (export_sha256, recipe.mode), lambda: quantize_parts(artifact.model_path, recipe.mode),
                       keep=1)


def _by_content(store: dict, key: tuple, make, keep: int):
    """make() once per content key, not per path: an executor's worker gets the same export unpacked in
    a new folder for every candidate it runs, and should not calibrate or run float again for each."""
    if key not in store:
        if len(store) >= keep:
            store.pop(next(iter(store)))
        store[key] = make()
    return store[key]


def _tflite_calibrated(export: str, export_sha256: str, settings: Settings) -> bytes:
    """int8-static's calibrated model, made once per export and calibration set: every candidate is
    one quantization step over it (a fraction of a second; conversion and calibration take seconds)."""
    return _by_content(_CALIBRATED, (export_sha256, settings.calibration_sha256),
                       lambda: _calibrate(export, export_sha256, settings), keep=2)


def _calibrate(export: str, export_sha256: str, settings: Settings) -> bytes:
    from prelnedge.checkpoint.load import source_checkpoint
    from prelnedge.quantize.tflite import calibrated_int8_static

    artifact, task, tok, _ = _export_parts(export, export_sha256)
    checkpoint = source_checkpoint(artifact, task, Path(settings.checkpoint) if settings.checkpoint else None)
    probe = Candidate(export, export_sha256, Recipe("tflite", "int8-static"), EvalSet("calibration", ()), settings)
    with tempfile.TemporaryDirectory(prefix="prelnedge-calibrate-") as tmp:
        return calibrated_int8_static(checkpoint, artifact.framework, Path(tmp), _calibration(probe, task, tok))


def _batches(candidate: Candidate, task, tok, config):
    from prelnedge.verify.fidelity import evaluation_batches

    return evaluation_batches(task, tok, config, list(candidate.data.examples))


def _float_outputs(export: str, export_sha256: str, data: EvalSet) -> list[dict]:
    return _by_content(_FLOAT_OUTPUTS, (export_sha256, data.key), lambda: _run_float(export, export_sha256, data),
                       keep=8)


def _run_float(export: str, export_sha256: str, data: EvalSet) -> list[dict]:
    from prelnedge.runtime.sessions import open_session

    artifact, task, tok, config = _export_parts(export, export_sha256)
    session = open_session(artifact.model_path)
    return [session.run(ids, mask) for ids, mask in _batches(Candidate(export, export_sha256, None, data), task, tok,
                                                               config)]


def evaluate_candidate(candidate: Candidate, keep: Path | None = None) -> dict:
    """The candidate's figures (JSON-ready). With `keep`, the quantized model is also copied there
    (and its path returned as "model")."""
    from prelnedge.runtime.sessions import open_session
    from prelnedge.verify.fidelity import measure, task_metric

    start = time.perf_counter()
    artifact, task, tok, config = _export_parts(candidate.export, candidate.export_sha256)
    batches = _batches(candidate, task, tok, config)
    reference = _float_outputs(candidate.export, candidate.export_sha256, candidate.data)
    by_input = {id(ids): out for (ids, _), out in zip(batches, reference)}
    with tempfile.TemporaryDirectory(prefix="prelnedge-candidate-") as tmp:
        model_file = _quantized(candidate, artifact, task, tok, Path(tmp) / artifact.model_file)
        session = open_session(model_file)
        item_error: list[float] = []

        def run(ids, mask):  # records each example's relative error (NNCF ranks on the worst items)
            got, want = session.run(ids, mask), by_input[id(ids)]
            noise = sum(float(np.sum((np.asarray(got[k], np.float64) - want[k]) ** 2)) for k in want)
            signal = sum(float(np.sum(np.asarray(want[k], np.float64) ** 2)) for k in want)
            item_error.append(round(noise / signal, 8) if signal > 0 else 0.0)
            return got

        fidelity = measure(task, run, lambda ids, mask: by_input[id(ids)], batches,
                           eos_id=config.eos_token_id, mask_id=tok.mask_id if tok else None)
        figures = {"key": candidate.key, "recipe": candidate.recipe.to_json() if candidate.recipe else FLOAT,
                   "data": candidate.data.name, "examples": len(batches), "size_bytes": model_file.stat().st_size,
                   "model_sha256": _sha256(model_file),
                   "sqnr_db": {name: _finite(stats["sqnr_db"]) for name, stats in fidelity["outputs"].items()},
                   "agreement": fidelity["agreement"], "item_error": item_error}
        figures["min_sqnr_db"] = min(figures["sqnr_db"].values())
        if candidate.settings.metric:
            scores = task_metric(task, session.run, tok, list(candidate.data.examples), config.labels) or {}
            figures["metric"] = scores.get(candidate.settings.metric)
        if keep is not None:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(model_file, Path(keep) / model_file.name)
            figures["model"] = str(Path(keep) / model_file.name)
    figures["seconds"] = round(time.perf_counter() - start, 3)
    return figures


def _finite(value: float) -> float:
    # JSON has no infinity: an output identical to float's (the float candidate) records 999 dB
    return 999.0 if value == float("inf") else float(value)


def _sha256(path: Path) -> str:
    from prelnedge.hashing import sha256_file

    return sha256_file(path)


def default_cache_dir() -> Path:
    """Where figures are kept between runs: $PRELNEDGE_CACHE/tune, else ~/.cache/prelnedge/tune."""
    root = os.environ.get("PRELNEDGE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "prelnedge"
    return Path(root) / "tune"


class CandidateCache:
    """Figures by candidate key, one JSON file each, written atomically (a killed run leaves no half file)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None

    def get(self, key: str) -> dict | None:
        if self.folder is None or not (self.folder / f"{key}.json").is_file():
            return None
        try:
            return json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None  # unreadable: evaluate again

    def put(self, key: str, figures: dict) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self.folder / f".{key}.{os.getpid()}.part"
        part.write_text(json.dumps(figures, sort_keys=True), encoding="utf-8")
        os.replace(part, self.folder / f"{key}.json")

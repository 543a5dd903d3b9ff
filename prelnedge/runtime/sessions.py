"""One session interface over ONNX Runtime and LiteRT: numpy in, numpy out, registry names.

Inputs are cast to each artifact's declared dtype (int64 for ONNX, int32 for TFLite), so callers
always pass what the tokenizer gives them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from prelnedge.errors import UserError
from prelnedge.threads import cell_threads


class Session(Protocol):
    output_names: tuple[str, ...]

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]: ...


class OnnxSession:
    """A causal-lm export is a cached decoder (export/onnx_decoder.py): `run` feeds it an empty cache
    and returns the registry's outputs only; `run_cached` is the decoding step."""

    def __init__(self, path: Path, threads: int | None = None, options=None) -> None:
        """options: an onnxruntime.SessionOptions to use as given (benchmarks time with their own)."""
        import onnxruntime as ort

        if options is None:
            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name: i.type for i in self._session.get_inputs()}
        self.cache_inputs = tuple(i for i in self._session.get_inputs() if i.name.startswith("past_key_values."))
        all_outputs = tuple(o.name for o in self._session.get_outputs())
        self.output_names = tuple(name for name in all_outputs if not name.startswith("present."))
        self.cache_outputs = tuple(name for name in all_outputs if name.startswith("present."))

    def _feeds(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        dtype = np.int32 if self._inputs.get("input_ids") == "tensor(int32)" else np.int64
        return {"input_ids": np.asarray(input_ids, dtype), "attention_mask": np.asarray(attention_mask, dtype)}

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        feeds = self._feeds(input_ids, attention_mask)
        if self.cache_inputs:
            feeds.update(self.empty_cache(len(input_ids)))
        return dict(zip(self.output_names, self._session.run(list(self.output_names), feeds)))

    def empty_cache(self, batch: int) -> dict[str, np.ndarray]:
        """A past of length 0 for every cache input: (batch, heads, 0, head_dim), heads and head_dim read
        from the graph (the only fixed axes; transformers.js builds its empty cache the same way)."""
        dtype = {"tensor(float16)": np.float16}.get
        return {i.name: np.zeros((batch, i.shape[1], 0, i.shape[3]), dtype(i.type, np.float32))
                for i in self.cache_inputs}

    def run_cached(self, input_ids: np.ndarray, attention_mask: np.ndarray,
                   past: dict[str, np.ndarray] | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One decoder call: input_ids (B, L), attention_mask (B, P+L), past {past_key_values.*: (B, nh, P, hd)}
        or None for an empty one -> logits (B, L, V) and the next past (present.* renamed past_key_values.*)."""
        feeds = self._feeds(input_ids, attention_mask)
        feeds.update(self.empty_cache(len(input_ids)) if past is None else past)
        names = ["logits", *self.cache_outputs]
        logits, *present = self._session.run(names, feeds)
        renamed = [name.replace("present.", "past_key_values.", 1) for name in self.cache_outputs]
        return logits, dict(zip(renamed, present))


class LiteRTSession:
    """LiteRT (`ai_edge_litert`), or the old `tflite_runtime` when only that is installed."""

    SIGNATURE = "serving_default"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - depends on what is installed
            from tflite_runtime.interpreter import Interpreter
        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        signatures = self._interpreter.get_signature_list()
        if self.SIGNATURE not in signatures:
            raise UserError(f"{path} has no '{self.SIGNATURE}' signature (found {sorted(signatures)})")
        self._runner = self._interpreter.get_signature_runner(self.SIGNATURE)
        self.output_names = tuple(signatures[self.SIGNATURE]["outputs"])
        details = self._runner.get_input_details()
        self._dtypes = {name: d["dtype"] for name, d in details.items()}

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        out = self._runner(input_ids=np.asarray(input_ids, self._dtypes["input_ids"]),
                           attention_mask=np.asarray(attention_mask, self._dtypes["attention_mask"]))
        return {name: np.array(value) for name, value in out.items()}


def open_session(model_file: Path, threads: int | None = None, static_length: int | None = None,
                 task_name: str | None = None) -> Session:
    """static_length: the model takes (1, static_length) only (io.static_shape in its manifest);
    the session then runs any batch row by row, padded to that length (task_name says which
    outputs have a sequence axis to cut back)."""
    if not _utf8(model_file):  # ONNX Runtime and LiteRT take the path as UTF-8 text only
        raise UserError(f"{os.fsencode(str(model_file))!r} has bytes that are not UTF-8 in its path; ONNX Runtime and "
                        "LiteRT cannot open it: rename the folder")
    threads = threads or cell_threads()  # inside an executor cell: its pinned budget
    if model_file.suffix in (".onnx", ".ort"):  # .ort: ONNX Runtime's own format (Android bundles)
        return OnnxSession(model_file, threads)
    if model_file.suffix == ".tflite":
        session = LiteRTSession(model_file, threads)
        if static_length:
            from prelnedge.runtime.rows import RowByRowSession, outputs_with_length

            return RowByRowSession(session, outputs_with_length(task_name), static_length)
        return session
    raise UserError(f"cannot run {model_file}; allowed: .onnx, .ort, .tflite")


def _utf8(path: Path) -> bool:
    try:
        str(Path(path).absolute()).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 reach Python as lone surrogates
        return False
    return True


class ExportedModel:
    """An exported folder ready to answer requests: its session, tokenizer, labels and task.

    Calling it runs the session with the registry's names, so the post-processing in
    `prelnedge.runtime.postprocess` treats it exactly like a float reference.
    """

    def __init__(self, folder: Path, threads: int | None = None) -> None:
        from prelnedge.artifact import ModelArtifact
        from prelnedge.config import PreLNConfig
        from prelnedge.tasks import get_task
        from prelnedge.runtime.rows import RowByRowSession, outputs_with_length
        from prelnedge.runtime.tokenizer import PreLNTokenizer

        folder = Path(folder)
        self.folder = folder
        self.artifact = artifact = ModelArtifact.read(folder)
        self.task = get_task(artifact.task)
        self.config = PreLNConfig.from_json_file(folder / "config.json")
        static_length = artifact.io.static_length
        self.session = open_session(artifact.model_path, threads, static_length, self.task.name)
        max_tokens = static_length or self.config.max_tokens
        self.tokenizer = PreLNTokenizer.from_dir(folder, max_tokens) if artifact.has_tokenizer else None
        # Integer TFLite models are calibrated without padding: a padded batch runs one unpadded row at
        # a time, the per-token outputs padded back with zeros (padded positions carry no answer)
        quantization = artifact.quantization
        self._unpadded_rows = RowByRowSession(self.session, outputs_with_length(self.task.name)) \
            if quantization and quantization.unpadded_only else None

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        if self._unpadded_rows is not None and input_ids.ndim == 2 and not np.all(attention_mask):
            return self._unpadded_rows.run(input_ids, attention_mask)
        return self.session.run(input_ids, attention_mask)


def load_exported(folder: Path, threads: int | None = None) -> ExportedModel:
    return ExportedModel(folder, threads)

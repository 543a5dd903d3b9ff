"""Checkpoint loading: HF / DinkyTrain / fairseq files -> one canonical numpy state dict.

The canonical layout is described in `prelnedge.checkpoint.params`. Every framework builds its model from
`LoadedCheckpoint.state`; nothing downstream ever sees a source-specific name.

Formats:
- HF directory: config.json + model.safetensors | model.safetensors.index.json (shards) |
  pytorch_model.bin (| pytorch_model.bin.index.json) | tf_model.h5 (Keras 2, `prelnedge.checkpoint.h5`).
  Old files may lack the tied decoder and carry a stale `position_ids` buffer.
- DinkyTrain HF directory: `roberta.` prefix and unused `attention.self.LayerNorm` parameters.
- fairseq `model.pt` trained with --encoder-normalize-before (modern TransformerEncoder): see
  `prelnedge.checkpoint.fairseq`.

Policy: missing encoder weights, unknown keys and shape mismatches are errors that list them.
A head the checkpoint lacks is initialised (seeded, like HF's init) and reported loudly through a
`HeadInitializedWarning`, and recorded in `LoadedCheckpoint.initialized`. Parameters of *other*
known heads (an MLM head when loading for QA) are set aside and recorded in `unused`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from prelnedge.config import PreLNConfig
from prelnedge.errors import CheckpointError, UserError
from prelnedge.hashing import sha256_files
from prelnedge.checkpoint.task_heads import apply_task_head
from prelnedge.tasks import DEFAULT_TASK, Task, get_task
from prelnedge.checkpoint.params import ENCODER_PREFIX, HEAD_PREFIXES, task_parameters

if TYPE_CHECKING:
    from prelnedge.artifact import ModelArtifact

StateDict = dict[str, np.ndarray]

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                   "special_tokens_map.json")


class HeadInitializedWarning(UserWarning):
    """A task head (or pooler) was not in the checkpoint and got fresh random weights."""


@dataclass
class LoadedCheckpoint:
    config: PreLNConfig
    state: StateDict  # canonical names, float32
    task: Task
    source_format: str  # "hf", "hf-dinkytrain", "fairseq"
    source_path: Path
    source_sha256: str  # over the weight files (and config) that were read
    tokenizer_dir: Path | None  # a folder holding tokenizer files, if the checkpoint has one
    initialized: list[str] = field(default_factory=list)  # parameter groups given fresh weights
    unused: list[str] = field(default_factory=list)  # notes on keys set aside


def default_model_dir() -> Path:
    """The small model shipped inside the package, trained on generated data by
    scripts/train_default_model.py (see prelnedge/train)."""
    return Path(__file__).resolve().parents[1] / "default_model"


def load_checkpoint(path: str | Path | None, task: str | Task = DEFAULT_TASK,
                    config: PreLNConfig | None = None) -> LoadedCheckpoint:
    """Read any supported checkpoint and return the canonical state dict for `task`.

    `path` is a folder or a fairseq `.pt` file; None means the embedded default model.
    `config` overrides the checkpoint's own (needed for a fairseq file without args)."""
    loaded = _load(path, task, config)
    check_tokenizer_fits(loaded)
    return loaded


def _load(path: str | Path | None, task: str | Task, config: PreLNConfig | None) -> LoadedCheckpoint:
    task = task if isinstance(task, Task) else get_task(task)
    path = default_model_dir() if path is None else Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint path {path} does not exist")
    if path.is_file() and path.suffix != ".pt":
        folder = f"pass its folder {path.parent}" if (path.parent / "config.json").exists() else \
            "pass a checkpoint folder (config.json + weights)"
        raise CheckpointError(f"--model {path} is a single file and not a fairseq .pt checkpoint; {folder}")
    if path.is_file() or _fairseq_file_in(path) is not None:
        from prelnedge.checkpoint.fairseq import read_fairseq  # torch is needed to unpickle it

        file = path if path.is_file() else _fairseq_file_in(path)
        notes: list[str] = []
        raw, file_config, sha = read_fairseq(file, notes=notes)
        config = config or file_config
        if config is None:
            raise CheckpointError(f"{file} has no model args; pass a config (config.json) for it")
        _untie_decoder(raw, notes)
        tokenizer_dir = file.parent if _has_tokenizer(file.parent) else None
        loaded = _canonicalize(raw, config, task, "fairseq", file, sha, tokenizer_dir)
        loaded.unused[:0] = notes
        return loaded

    config_data = _read_config_json(path)
    if config is None and config_data is not None and config_data.get("model_type") != "roberta":
        config = PreLNConfig.from_dict(config_data)  # fail on a bad config before reading weights
    raw, files = _read_hf_weights(path)
    raw, source_format, notes = _normalize_hf_names(raw)
    if config is None:
        config = _config_for(path, config_data, source_format, notes)
    config = apply_task_head(path, task, raw, files, config, notes)  # no-op without task_heads.json
    config_files = [path / "config.json"] if config_data is not None else []
    loaded = _canonicalize(raw, config, task, source_format, path, sha256_files(config_files + files),
                           path if _has_tokenizer(path) else None)
    loaded.unused[:0] = notes
    return loaded


def check_tokenizer_fits(loaded: LoadedCheckpoint) -> None:
    """A tokenizer whose ids run past the model's vocabulary would crash (or read garbage) at the
    embedding lookup, long after an export started: refuse the pair now."""
    if loaded.tokenizer_dir is None:
        return
    from prelnedge.runtime.tokenizer import PreLNTokenizer

    tok = PreLNTokenizer.from_dir(loaded.tokenizer_dir, loaded.config.max_tokens)
    if tok.vocab_size > loaded.config.vocab_size:
        raise CheckpointError(
            f"the tokenizer in {loaded.tokenizer_dir} has {tok.vocab_size} tokens but the model's vocabulary "
            f"(vocab_size in its config) has only {loaded.config.vocab_size}; use the tokenizer the model was "
            "trained with")


def _read_config_json(path: Path) -> dict | None:
    file = path / "config.json"
    if not file.exists():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{file} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{file} must hold a JSON object")
    return data


def _config_for(path: Path, data: dict | None, source_format: str, notes: list[str]) -> PreLNConfig:
    if data is None:
        raise CheckpointError(f"{path} has no config.json; a Hugging Face checkpoint folder needs one")
    if data.get("model_type") == "roberta" and source_format == "hf-dinkytrain":
        # DinkyTrain exports keep RoBERTa's model_type, but their weights (checked by
        # _normalize_hf_names) have the pre-LN structure: this is the model we implement.
        notes.append("config.json says model_type 'roberta' but the weights are pre-LayerNorm "
                     "(DinkyTrain layout): loaded as roberta-prelayernorm")
        data = {**data, "model_type": "roberta-prelayernorm"}
    return PreLNConfig.from_dict(data)  # refuses a plain post-LN 'roberta' config


def _fairseq_file_in(path: Path) -> Path | None:
    if path.is_dir() and not (path / "config.json").exists():
        for name in ("model.pt", "checkpoint_best.pt", "checkpoint_last.pt"):
            if (path / name).exists():
                return path / name
    return None


def _has_tokenizer(path: Path) -> bool:
    return (path / "tokenizer.json").exists() or ((path / "vocab.json").exists() and (path / "merges.txt").exists())


# ---- reading HF weight files --------------------------------------------------------------------
def _read_hf_weights(path: Path) -> tuple[StateDict, list[Path]]:
    candidates = [
        ("model.safetensors", _read_safetensors),
        ("model.safetensors.index.json", _read_sharded(_read_safetensors)),
        ("pytorch_model.bin", _read_torch_bin),
        ("pytorch_model.bin.index.json", _read_sharded(_read_torch_bin)),
        ("tf_model.h5", _read_tf_h5),  # Keras 2, as HF's TF classes write it
    ]
    for name, reader in candidates:
        if (path / name).exists():
            return reader(path / name)
    raise CheckpointError(f"{path} has no weights; expected one of: "
                          + ", ".join(name for name, _ in candidates))


def _read_safetensors(file: Path) -> tuple[StateDict, list[Path]]:
    from safetensors import safe_open

    state: StateDict = {}
    try:
        # framework="numpy" cannot read bfloat16; go through torch only when the file needs it.
        with safe_open(str(file), framework="numpy") as f:
            for key in f.keys():
                state[key] = f.get_tensor(key)
    except (TypeError, ValueError) as exc:
        if "bfloat16" not in str(exc) and "BF16" not in str(exc):
            raise CheckpointError(f"cannot read {file}: {exc}") from None
        import torch

        with safe_open(str(file), framework="pt") as f:
            state = {key: f.get_tensor(key).to(torch.float32).numpy() for key in f.keys()}
    except Exception as exc:  # safetensors raises its own SafetensorError for corrupt files
        raise CheckpointError(f"cannot read {file}: {exc}") from None
    return state, [file]


def _read_torch_bin(file: Path) -> tuple[StateDict, list[Path]]:
    import torch

    from prelnedge.checkpoint.safe_load import torch_load

    raw = torch_load(file, "a PyTorch state dict")  # weights only: never execute pickled code
    if not isinstance(raw, dict):
        raise CheckpointError(f"{file} holds a {type(raw).__name__}, not a state dict")
    return {k: v.to(torch.float32).numpy() if v.is_floating_point() else v.numpy()
            for k, v in raw.items() if isinstance(v, torch.Tensor)}, [file]


def _read_tf_h5(file: Path) -> tuple[StateDict, list[Path]]:
    from prelnedge.checkpoint.h5 import read_tf_h5

    return read_tf_h5(file)


def _read_sharded(read_one):
    def read(index_file: Path) -> tuple[StateDict, list[Path]]:
        try:
            weight_map = json.loads(index_file.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index_file} is not a shard index with a weight_map ({exc})") from None
        state: StateDict = {}
        files = [index_file]
        for shard in sorted(set(weight_map.values())):
            shard_path = index_file.parent / shard
            if not shard_path.exists():
                raise CheckpointError(f"{index_file} names shard {shard}, which is missing")
            part, _ = read_one(shard_path)
            state.update(part)
            files.append(shard_path)
        missing = sorted(set(weight_map) - set(state))
        if missing:
            raise CheckpointError(f"shards lack keys their index lists: {_listing(missing)}")
        return state, files

    return read


# ---- HF name normalisation ------------------------------------------------------------------------
_ENCODER_TOP = ("embeddings.", "encoder.", "LayerNorm.", "pooler.")


def _normalize_hf_names(raw: StateDict) -> tuple[StateDict, str, list[str]]:
    """Map HF / DinkyTrain names to canonical ones; reject post-LN RoBERTa weights."""
    if any(".attention.output.LayerNorm." in k or k.endswith("output.LayerNorm.weight") for k in raw):
        raise CheckpointError(
            "these weights are post-LayerNorm RoBERTa (they have attention.output.LayerNorm); "
            "prelnedge handles only roberta-prelayernorm checkpoints")
    dinky = any(k.startswith("roberta.") for k in raw)
    state: StateDict = {}
    notes: list[str] = []
    stray_ln = []
    for key, value in raw.items():
        if key.endswith("position_ids"):  # stale buffer from old transformers versions
            continue
        if dinky and key.startswith("roberta."):
            key = ENCODER_PREFIX + key[len("roberta."):]
        elif key.startswith(_ENCODER_TOP):  # a base-model checkpoint (no prefix)
            key = ENCODER_PREFIX + key
        if ".attention.self.LayerNorm." in key:  # DinkyTrain trains a LayerNorm it never uses
            stray_ln.append(key)
            continue
        state[key] = value
    if stray_ln:
        notes.append(f"dropped {len(stray_ln)} unused DinkyTrain attention.self.LayerNorm parameters")
    _untie_decoder(state, notes)
    return state, "hf-dinkytrain" if dinky else "hf", notes


def _untie_decoder(state: StateDict, notes: list[str]) -> None:
    """The decoder is tied: keep only lm_head.bias; check a stored decoder agrees with the embeddings."""
    weight = state.pop("lm_head.decoder.weight", None)
    bias = state.pop("lm_head.decoder.bias", None)
    if bias is not None and "lm_head.bias" not in state:
        state["lm_head.bias"] = bias
    embeddings = state.get(ENCODER_PREFIX + "embeddings.word_embeddings.weight")
    if weight is not None and embeddings is not None and (
            weight.shape != embeddings.shape or not np.array_equal(weight, embeddings)):
        raise CheckpointError("lm_head.decoder.weight differs from the word embeddings; prelnedge "
                              "supports only the tied LM head that RoBERTa-PreLayerNorm uses")


# ---- checking against the task's parameter table ---------------------------------------------------
def _canonicalize(raw: StateDict, config: PreLNConfig, task: Task, source_format: str,
                  source_path: Path, sha: str, tokenizer_dir: Path | None) -> LoadedCheckpoint:
    expected = task_parameters(config, task)
    loaded = LoadedCheckpoint(config, {}, task, source_format, source_path, sha, tokenizer_dir)

    unknown = [k for k in raw if k not in expected and not _belongs_to_other_head(k)]
    if unknown:
        raise CheckpointError(f"unexpected keys in checkpoint for task {task.name}: {_listing(unknown)}")
    other = sorted({k.removeprefix(ENCODER_PREFIX).split(".")[0] for k in raw if k not in expected})
    if other:
        loaded.unused.append(f"set aside parameters not used by task {task.name}: {', '.join(other)}")

    # Every check against the weights runs before a missing head is initialised: the head's shapes
    # come from the config, which is only trusted once the weights have confirmed its sizes.
    missing = [k for k in expected if k not in raw]
    absent_groups = []
    for group in _initializable_groups(task):
        members = [k for k in expected if k.startswith(group)]
        if members and all(k in missing for k in members):
            absent_groups.append((group, {k: expected[k] for k in members}))
            missing = [k for k in missing if k not in members]
    if missing:
        raise CheckpointError(f"checkpoint lacks weights for task {task.name}: {_listing(missing)}")

    mismatched = [f"{k} {tuple(raw[k].shape)} (expected {expected[k]})"
                  for k in expected if k in raw and tuple(raw[k].shape) != expected[k]]
    if mismatched:
        raise CheckpointError(f"shape mismatch against config.json: {_listing(mismatched)}")
    for group, shapes in absent_groups:
        _initialize(loaded, group, shapes, config)
    for key in expected:
        if key in raw:
            loaded.state[key] = np.ascontiguousarray(raw[key], dtype=np.float32)
    return loaded


def _belongs_to_other_head(key: str) -> bool:
    return key.startswith(HEAD_PREFIXES) or key.startswith(ENCODER_PREFIX + "pooler.")


def _initializable_groups(task: Task) -> list[str]:
    groups = [f"{task.head}."] if task.head else []
    if task.uses_pooler:
        groups.append(ENCODER_PREFIX + "pooler.")
    return groups


def _initialize(loaded: LoadedCheckpoint, group: str, shapes: dict[str, tuple[int, ...]],
                config: PreLNConfig) -> None:
    """HF's _init_weights: normal(0, initializer_range) matrices, zero biases, unit LayerNorms.
    Seeded from the group name so repeated loads agree (exports and their references must match)."""
    seed = int.from_bytes(hashlib.sha256(group.encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    for key, shape in shapes.items():
        if "LayerNorm" in key or "layer_norm" in key:
            value = np.ones(shape) if key.endswith("weight") else np.zeros(shape)
        elif len(shape) == 2:
            value = rng.normal(0.0, config.initializer_range, shape)
        else:
            value = np.zeros(shape)
        loaded.state[key] = value.astype(np.float32)
    name = group.rstrip(".").removeprefix(ENCODER_PREFIX)
    loaded.initialized.append(name)
    warnings.warn(
        f"checkpoint {loaded.source_path} has no '{name}' weights for task {loaded.task.name}: "
        "initialised them randomly; outputs are meaningless until this head is fine-tuned",
        HeadInitializedWarning, stacklevel=3)


def _listing(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" ... ({len(items) - limit} more)" if len(items) > limit else "")


def source_checkpoint(artifact: ModelArtifact, task, model: Path | None = None) -> LoadedCheckpoint:
    """The checkpoint an export was made from (or `model`, a moved copy), refused unless its sha256 is
    the one the artifact records: quantized models are judged against exactly that float model."""
    source = model or (None if artifact.source.embedded_default else Path(artifact.source.path))
    if source is not None and not Path(source).exists():
        raise UserError(f"the float reference's checkpoint {source} is gone; pass --model with it "
                        "(quantized models are validated against it)")
    checkpoint = load_checkpoint(source, task)
    if checkpoint.source_sha256 != artifact.source.sha256:
        raise UserError(f"checkpoint {checkpoint.source_path} is not the one the export was made from "
                        "(sha256 differs); pass --model with the original")
    return checkpoint

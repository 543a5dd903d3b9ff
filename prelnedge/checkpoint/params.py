"""THE parameter table: every parameter a task's model has, its shape, and its name in each framework.

Canonical keys are Hugging Face's headed RobertaPreLayerNorm* names: encoder parameters under
`roberta_prelayernorm.`, the head at the top level under the task's prefix (`lm_head.`,
`classifier.`, `qa_outputs.`). Canonical arrays are numpy float32 with PyTorch's layout (Linear
weights (out, in)). Checkpoint loading produces exactly these keys, every framework's model is
built from them, and both sides are checked against this table.

Each row carries its kind, which decides its TensorFlow and Flax leaf name and layout:

| kind        | canonical (torch)       | tf leaf     | flax leaf   | layout                  |
|-------------|-------------------------|-------------|-------------|-------------------------|
| dense       | `<path>.weight` (out,in)| `kernel`    | `kernel`    | transposed to (in, out) |
| bias        | `<path>.bias`           | `bias`      | `bias`      | as is                   |
| ln_scale    | `<LayerNorm>.weight`    | `gamma`     | `scale`     | as is                   |
| ln_bias     | `<LayerNorm>.bias`      | `beta`      | `bias`      | as is                   |
| embedding   | `<emb>.weight` (rows,H) | `embeddings`| `embedding` | as is                   |
| vector      | `lm_head.bias`          | `bias`      | `bias`      | as is (a bare parameter)|

Framework paths mirror the canonical module path with `/` separators. The one spelling difference
is the layer list: torch `encoder.layer.3` is `encoder/layer_._3` in TF (the Keras-2 `tf_model.h5`
spelling) and `encoder/layer_3` in Flax (linen's name for element 3 of a list attribute).

The tied LM decoder (`lm_head.decoder.weight` = word embeddings, `lm_head.decoder.bias` =
`lm_head.bias`) is not stored: it is derived, so it can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from prelnedge.errors import CheckpointError
from prelnedge.config import PreLNConfig
from prelnedge.tasks import TASKS, Task

ENCODER_PREFIX = "roberta_prelayernorm."

# Top-level prefixes owned by some task head. A checkpoint key under one of these that the chosen
# task does not use belongs to another head (e.g. an MLM head when loading for QA) and is set aside.
HEAD_PREFIXES = tuple(sorted({f"{task.head}." for task in TASKS.values() if task.head}))

FRAMEWORK_LEAVES = {
    "tf": {"dense": "kernel", "bias": "bias", "ln_scale": "gamma", "ln_bias": "beta",
           "embedding": "embeddings", "vector": "bias"},
    "flax": {"dense": "kernel", "bias": "bias", "ln_scale": "scale", "ln_bias": "bias",
             "embedding": "embedding", "vector": "bias"},
}
LAYER_SPELLING = {"tf": "layer_._{}", "flax": "layer_{}"}


@dataclass(frozen=True)
class Param:
    key: str  # canonical (HF) key, e.g. "roberta_prelayernorm.encoder.layer.0.attention.self.query.weight"
    shape: tuple[int, ...]  # canonical shape
    kind: str  # a key of FRAMEWORK_LEAVES[...]

    @property
    def module_path(self) -> tuple[str, ...]:
        return tuple(self.key.rpartition(".")[0].split("."))

    def framework_path(self, framework: str) -> str:
        parts: list[str] = []
        modules = self.module_path
        i = 0
        while i < len(modules):
            if modules[i] == "layer" and i + 1 < len(modules) and modules[i + 1].isdigit():
                parts.append(LAYER_SPELLING[framework].format(modules[i + 1]))
                i += 2
                continue
            parts.append(modules[i])
            i += 1
        return "/".join([*parts, FRAMEWORK_LEAVES[framework][self.kind]])

    def framework_value(self, value: np.ndarray) -> np.ndarray:
        """The canonical array in Keras/Flax layout: dense kernels are (in, out)."""
        return np.ascontiguousarray(value.T if self.kind == "dense" else value)


# ---- the rows -------------------------------------------------------------------------------------------
def _linear(name: str, n_out: int, n_in: int) -> list[Param]:
    return [Param(f"{name}.weight", (n_out, n_in), "dense"), Param(f"{name}.bias", (n_out,), "bias")]


def _layer_norm(name: str, size: int) -> list[Param]:
    return [Param(f"{name}.weight", (size,), "ln_scale"), Param(f"{name}.bias", (size,), "ln_bias")]


def encoder_params(config: PreLNConfig) -> list[Param]:
    """Embeddings, layers and the final LayerNorm (no pooler), under ENCODER_PREFIX."""
    h, i, p = config.hidden_size, config.intermediate_size, ENCODER_PREFIX
    rows = [
        Param(f"{p}embeddings.word_embeddings.weight", (config.vocab_size, h), "embedding"),
        Param(f"{p}embeddings.position_embeddings.weight", (config.max_position_embeddings, h), "embedding"),
        Param(f"{p}embeddings.token_type_embeddings.weight", (config.type_vocab_size, h), "embedding"),
        *_layer_norm(f"{p}embeddings.LayerNorm", h),
    ]
    for n in range(config.num_hidden_layers):
        layer = f"{p}encoder.layer.{n}"
        rows += _layer_norm(f"{layer}.attention.LayerNorm", h)
        for proj in ("query", "key", "value"):
            rows += _linear(f"{layer}.attention.self.{proj}", h, h)
        rows += _linear(f"{layer}.attention.output.dense", h, h)
        rows += _layer_norm(f"{layer}.intermediate.LayerNorm", h)
        rows += _linear(f"{layer}.intermediate.dense", i, h)
        rows += _linear(f"{layer}.output.dense", h, i)
    return rows + _layer_norm(f"{p}LayerNorm", h)


def pooler_params(config: PreLNConfig) -> list[Param]:
    return _linear(f"{ENCODER_PREFIX}pooler.dense", config.hidden_size, config.hidden_size)


def _lm_head(config: PreLNConfig, prefix: str) -> list[Param]:
    h = config.hidden_size
    return [*_linear(f"{prefix}.dense", h, h), *_layer_norm(f"{prefix}.layer_norm", h),
            Param(f"{prefix}.bias", (config.vocab_size,), "vector")]


def _classification_head(config: PreLNConfig, prefix: str) -> list[Param]:
    h = config.hidden_size
    return [*_linear(f"{prefix}.dense", h, h), *_linear(f"{prefix}.out_proj", config.num_labels, h)]


# head kind -> the head's rows under the task's prefix (`task.head`); mirrors each model file's HEADS
HEAD_PARAMS: dict[str, Callable[[PreLNConfig, str], list[Param]]] = {
    "features": lambda config, prefix: [],
    "lm": _lm_head,
    "sequence": _classification_head,
    "token": lambda config, prefix: _linear(prefix, config.num_labels, config.hidden_size),
    "choice": lambda config, prefix: _linear(prefix, 1, config.hidden_size),
    "span": lambda config, prefix: _linear(prefix, 2, config.hidden_size),
}


def task_params(config: PreLNConfig, task: Task) -> list[Param]:
    """Every row of `task`'s model: encoder, pooler when the task uses it, head."""
    rows = encoder_params(config)
    if task.uses_pooler:
        rows += pooler_params(config)
    return rows + HEAD_PARAMS[task.head_kind](config, task.head)


def task_parameters(config: PreLNConfig, task: Task) -> dict[str, tuple[int, ...]]:
    """{canonical key: shape} of `task`'s model."""
    return {row.key: row.shape for row in task_params(config, task)}


# ---- canonical state dict -> framework parameters ----------------------------------------------------------
def convert(state: dict[str, np.ndarray], config: PreLNConfig, task: Task, framework: str) -> dict[str, np.ndarray]:
    """Canonical state dict -> {framework path: array}, asserting every key and shape."""
    if framework not in FRAMEWORK_LEAVES:
        raise ValueError(f"framework {framework!r}; allowed: {sorted(FRAMEWORK_LEAVES)}")
    rows = task_params(config, task)
    expected = {row.key for row in rows}
    missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or extra:
        raise CheckpointError(f"state dict does not match task {task.name}: missing {missing}, extra {extra}")
    out: dict[str, np.ndarray] = {}
    for row in rows:
        value = np.asarray(state[row.key], dtype=np.float32)
        if tuple(value.shape) != row.shape:
            raise CheckpointError(f"{row.key} has shape {value.shape}, expected {row.shape}")
        out[row.framework_path(framework)] = row.framework_value(value)
    return out


def to_nested(flat: dict[str, np.ndarray]) -> dict:
    """{"a/b/c": x} -> {"a": {"b": {"c": x}}} (a Flax params tree)."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree

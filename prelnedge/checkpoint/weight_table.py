"""The weight table: canonical (PyTorch/HF) parameters -> TensorFlow and Flax parameter paths.

One rule per parameter kind, applied to every row of `weights.task_parameters`:

| kind        | canonical (torch)       | tf leaf     | flax leaf   | layout                  |
|-------------|-------------------------|-------------|-------------|-------------------------|
| dense       | `<path>.weight` (out,in)| `kernel`    | `kernel`    | transposed to (in, out) |
| bias        | `<path>.bias`           | `bias`      | `bias`      | as is                   |
| ln_scale    | `<LayerNorm>.weight`    | `gamma`     | `scale`     | as is                   |
| ln_bias     | `<LayerNorm>.bias`      | `beta`      | `bias`      | as is                   |
| embedding   | `<emb>.weight` (rows,H) | `embeddings`| `embedding` | as is                   |
| vector      | `lm_head.bias`          | `bias`      | `bias`      | as is (a bare parameter)|

Paths mirror the canonical module path with `/` separators. The one spelling difference is the
layer list: torch `encoder.layer.3` is `encoder/layer_._3` in TF (the Keras-2 `tf_model.h5`
spelling) and `encoder/layer_3` in Flax (linen's name for element 3 of a list attribute).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from prelnedge.models.config import PreLNConfig
from prelnedge.errors import CheckpointError
from prelnedge.tasks import Task
from prelnedge.checkpoint.weights import task_parameters

FRAMEWORK_LEAVES = {
    "tf": {"dense": "kernel", "bias": "bias", "ln_scale": "gamma", "ln_bias": "beta",
           "embedding": "embeddings", "vector": "bias"},
    "flax": {"dense": "kernel", "bias": "bias", "ln_scale": "scale", "ln_bias": "bias",
             "embedding": "embedding", "vector": "bias"},
}
_LAYER_SPELLING = {"tf": "layer_._{}", "flax": "layer_{}"}
_LAYER = re.compile(r"^layer\.(\d+)$")


@dataclass(frozen=True)
class Row:
    canonical: str
    kind: str
    module_path: tuple[str, ...]  # canonical module path, e.g. ("roberta_prelayernorm", "encoder", "layer", "0", ...)
    shape: tuple[int, ...]  # canonical shape

    def framework_path(self, framework: str) -> str:
        parts: list[str] = []
        i = 0
        while i < len(self.module_path):
            part = self.module_path[i]
            if part == "layer" and i + 1 < len(self.module_path) and self.module_path[i + 1].isdigit():
                parts.append(_LAYER_SPELLING[framework].format(self.module_path[i + 1]))
                i += 2
                continue
            parts.append(part)
            i += 1
        return "/".join([*parts, FRAMEWORK_LEAVES[framework][self.kind]])

    def framework_shape(self) -> tuple[int, ...]:
        return self.shape[::-1] if self.kind == "dense" else self.shape


def _kind(key: str, shape: tuple[int, ...]) -> str:
    module, _, leaf = key.rpartition(".")
    last = module.rsplit(".", 1)[-1]
    if key == "lm_head.bias":
        return "vector"
    if last in ("LayerNorm", "layer_norm"):
        return "ln_scale" if leaf == "weight" else "ln_bias"
    if last.endswith("_embeddings"):
        return "embedding"
    if leaf == "bias":
        return "bias"
    assert leaf == "weight" and len(shape) == 2, key
    return "dense"


def table(config: PreLNConfig, task: Task) -> list[Row]:
    rows = []
    for key, shape in task_parameters(config, task).items():
        kind = _kind(key, shape)
        module = key.rpartition(".")[0]
        rows.append(Row(key, kind, tuple(module.split(".")), shape))
    return rows


def convert(state: dict[str, np.ndarray], config: PreLNConfig, task: Task, framework: str) -> dict[str, np.ndarray]:
    """Canonical state dict -> {framework path: array}, asserting every key and shape."""
    if framework not in FRAMEWORK_LEAVES:
        raise ValueError(f"framework {framework!r}; allowed: {sorted(FRAMEWORK_LEAVES)}")
    rows = table(config, task)
    expected = {row.canonical for row in rows}
    missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or extra:
        raise CheckpointError(f"state dict does not match task {task.name}: missing {missing}, extra {extra}")
    out: dict[str, np.ndarray] = {}
    for row in rows:
        value = np.asarray(state[row.canonical], dtype=np.float32)
        if tuple(value.shape) != row.shape:
            raise CheckpointError(f"{row.canonical} has shape {value.shape}, expected {row.shape}")
        out[row.framework_path(framework)] = np.ascontiguousarray(value.T if row.kind == "dense" else value)
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

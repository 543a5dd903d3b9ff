"""The canonical parameter table: every parameter a task's model has, with its shape.

The canonical state dict is numpy float32 keyed exactly like Hugging Face's headed
RobertaPreLayerNorm* classes: encoder parameters under `roberta_prelayernorm.`, heads at the top
level (`lm_head.`, `classifier.`, `qa_outputs.`). Linear weights are PyTorch-shaped (out, in).
Checkpoint loading produces it, every framework's model consumes it, and this table is what both
sides are checked against.

The tied LM decoder (`lm_head.decoder.weight` = word embeddings, `lm_head.decoder.bias` =
`lm_head.bias`) is not stored: it is derived, so it can never disagree.
"""

from __future__ import annotations

from prelnedge.models.config import PreLNConfig
from prelnedge.tasks import Task

ENCODER_PREFIX = "roberta_prelayernorm."

# Top-level prefixes owned by some task head. A checkpoint key under one of these that the chosen
# task does not use belongs to another head (e.g. an MLM head when loading for QA) and is set aside.
HEAD_PREFIXES = ("lm_head.", "classifier.", "qa_outputs.")


def _linear(name: str, n_out: int, n_in: int) -> dict[str, tuple[int, ...]]:
    return {f"{name}.weight": (n_out, n_in), f"{name}.bias": (n_out,)}


def _layer_norm(name: str, size: int) -> dict[str, tuple[int, ...]]:
    return {f"{name}.weight": (size,), f"{name}.bias": (size,)}


def encoder_parameters(config: PreLNConfig) -> dict[str, tuple[int, ...]]:
    """Embeddings, layers and the final LayerNorm (no pooler), without the prefix."""
    h, i = config.hidden_size, config.intermediate_size
    table: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (config.vocab_size, h),
        "embeddings.position_embeddings.weight": (config.max_position_embeddings, h),
        "embeddings.token_type_embeddings.weight": (config.type_vocab_size, h),
        **_layer_norm("embeddings.LayerNorm", h),
    }
    for n in range(config.num_hidden_layers):
        layer = f"encoder.layer.{n}"
        table.update(_layer_norm(f"{layer}.attention.LayerNorm", h))
        for proj in ("query", "key", "value"):
            table.update(_linear(f"{layer}.attention.self.{proj}", h, h))
        table.update(_linear(f"{layer}.attention.output.dense", h, h))
        table.update(_layer_norm(f"{layer}.intermediate.LayerNorm", h))
        table.update(_linear(f"{layer}.intermediate.dense", i, h))
        table.update(_linear(f"{layer}.output.dense", h, i))
    table.update(_layer_norm("LayerNorm", h))
    return table


def pooler_parameters(config: PreLNConfig) -> dict[str, tuple[int, ...]]:
    return _linear("pooler.dense", config.hidden_size, config.hidden_size)


def head_parameters(config: PreLNConfig, task: Task) -> dict[str, tuple[int, ...]]:
    """The task head's own parameters (top-level names)."""
    h = config.hidden_size
    if task.head == "":
        return {}
    if task.head == "lm_head":
        return {**_linear("lm_head.dense", h, h), **_layer_norm("lm_head.layer_norm", h),
                "lm_head.bias": (config.vocab_size,)}
    if task.head == "qa_outputs":
        return _linear("qa_outputs", 2, h)
    if task.name == "sequence-classification":
        return {**_linear("classifier.dense", h, h), **_linear("classifier.out_proj", config.num_labels, h)}
    if task.name == "token-classification":
        return _linear("classifier", config.num_labels, h)
    if task.name == "multiple-choice":
        return _linear("classifier", 1, h)
    raise AssertionError(f"task {task.name} has no parameter table")  # a registry/table mismatch


def task_parameters(config: PreLNConfig, task: Task) -> dict[str, tuple[int, ...]]:
    """Every canonical key of `task`'s model and its shape."""
    table = {ENCODER_PREFIX + k: v for k, v in encoder_parameters(config).items()}
    if task.uses_pooler:
        table.update({ENCODER_PREFIX + k: v for k, v in pooler_parameters(config).items()})
    table.update(head_parameters(config, task))
    return table

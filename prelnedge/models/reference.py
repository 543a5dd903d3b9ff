"""The public loading API: a float reference model as a plain numpy callable.

    model = prelnedge.load_reference("path/to/checkpoint", task="qa")
    outputs = model(input_ids, attention_mask)   # {"start_logits": ..., "end_logits": ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from prelnedge.checkpoint.load import LoadedCheckpoint, load_checkpoint
from prelnedge.errors import UserError
from prelnedge.models import DEFAULT_REFERENCE, FRAMEWORKS, build_forward
from prelnedge.config import PreLNConfig
from prelnedge.tasks import DEFAULT_TASK, Task, get_task


class ReferenceModel:
    """Calls a framework model on numpy inputs and returns numpy outputs named as in the registry.

    `output_hidden_states=True` adds `hidden_states.0` (embedding output) .. `hidden_states.N`
    (after layer N, before the final LayerNorm)."""

    def __init__(self, checkpoint: LoadedCheckpoint, framework: str,
                 forward: Callable[[np.ndarray, np.ndarray, bool], dict[str, np.ndarray]],
                 output_hidden_states: bool) -> None:
        self.checkpoint = checkpoint
        self.config: PreLNConfig = checkpoint.config
        self.task: Task = checkpoint.task
        self.framework = framework
        self.output_hidden_states = output_hidden_states
        self._forward = forward

    def __call__(self, input_ids, attention_mask=None) -> dict[str, np.ndarray]:
        input_ids = np.asarray(input_ids)
        attention_mask = np.ones_like(input_ids) if attention_mask is None else np.asarray(attention_mask)
        check_inputs(self.config, self.task, input_ids, attention_mask)
        return self._forward(input_ids.astype(np.int64), attention_mask.astype(np.int64),
                             self.output_hidden_states)


def check_inputs(config: PreLNConfig, task: Task, input_ids: np.ndarray, attention_mask: np.ndarray) -> None:
    """Reject inputs the model cannot represent, naming the problem and the allowed range."""
    rank = len(task.inputs[0].axes)
    axes = "(" + ", ".join(task.inputs[0].axes) + ")"
    if input_ids.ndim != rank:
        raise UserError(f"input_ids for task {task.name} must have shape {axes}; got {input_ids.shape}")
    if attention_mask.shape != input_ids.shape:
        raise UserError(f"attention_mask shape {attention_mask.shape} must equal input_ids shape {input_ids.shape}")
    if not np.issubdtype(input_ids.dtype, np.integer):
        raise UserError(f"input_ids must be integers; got {input_ids.dtype}")
    if input_ids.size == 0:
        raise UserError(f"input_ids is empty (shape {input_ids.shape}); need at least one token")
    if input_ids.shape[-1] > config.max_tokens:
        raise UserError(f"sequence length {input_ids.shape[-1]} exceeds the model's limit of "
                        f"{config.max_tokens} tokens (max_position_embeddings={config.max_position_embeddings})")
    low, high = int(input_ids.min()), int(input_ids.max())
    if low < 0 or high >= config.vocab_size:
        raise UserError(f"token ids must lie in [0, {config.vocab_size}); got values in [{low}, {high}]")
    if not np.isin(attention_mask, (0, 1)).all():
        raise UserError("attention_mask may hold only 0 and 1")


def load_reference(path: str | Path | None = None, task: str = DEFAULT_TASK, framework: str = DEFAULT_REFERENCE,
                   output_hidden_states: bool = False) -> ReferenceModel:
    """Load a checkpoint (None: the embedded default model) as a float reference for `task`."""
    task_spec = get_task(task)
    if framework not in FRAMEWORKS:
        raise UserError(f"unknown framework {framework!r}; allowed: {', '.join(FRAMEWORKS)}")
    checkpoint = load_checkpoint(path, task_spec)
    return ReferenceModel(checkpoint, framework, build_forward(framework, checkpoint), output_hidden_states)

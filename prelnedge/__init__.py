"""prelnedge: RoBERTa-PreLayerNorm checkpoints to verified on-device models.

Importing this package stays light: torch, TensorFlow and JAX are imported only by the stage that
needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from prelnedge.models import DEFAULT_REFERENCE
from prelnedge.config import PreLNConfig
from prelnedge.tasks import DEFAULT_TASK, TASKS, get_task

if TYPE_CHECKING:
    from prelnedge.models.reference import ReferenceModel


def load_reference(path=None, task: str = DEFAULT_TASK, framework: str = DEFAULT_REFERENCE,
                   output_hidden_states: bool = False) -> "ReferenceModel":
    """Load a checkpoint folder or fairseq file (None: the embedded default model) as a float
    reference: `model(input_ids, attention_mask) -> dict[str, numpy.ndarray]` keyed by the task's
    output names. See prelnedge.models.reference.load_reference."""
    from prelnedge.models.reference import load_reference as _load

    return _load(path, task=task, framework=framework, output_hidden_states=output_hidden_states)


__all__ = ["PreLNConfig", "TASKS", "get_task", "load_reference", "__version__"]

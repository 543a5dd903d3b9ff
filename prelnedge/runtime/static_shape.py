"""Static-shape models: batch 1 and a fixed length, for runtimes that cannot resize inputs
(LiteRT.js). `prelnedge export --target tflite --static-shape LENGTH` writes one; the manifest
records it as io.static_shape = {"batch": 1, "length": LENGTH, "input_shape": [...]}.

A caller still passes any (B, L) batch with L <= LENGTH (or (B, C, L) for multiple-choice):
`StaticShapeSession` runs it one row (one choice) at a time, each right-padded to LENGTH with
<pad> ids and a zero mask, and cuts the outputs' sequence axis back to L. Padded keys are masked
out of attention, so the real positions' outputs are the dynamic model's. The web page's LiteRT
runner (runtimes/web/src/js/litert_model.js) does the same.
"""

from __future__ import annotations

import numpy as np

from prelnedge.errors import UserError

PAD_ID = 1  # RoBERTa's <pad>; the attention mask, not the id, is what hides a padded position


def static_input_shape(task_name: str, length: int) -> list[int]:
    """Multiple-choice keeps its choice axis, one choice per call."""
    from prelnedge.tasks import get_task

    return [1, 1, length] if get_task(task_name).per_choice else [1, length]


def static_shape_record(task_name: str, length: int) -> dict:
    return {"batch": 1, "length": length, "input_shape": static_input_shape(task_name, length)}


class StaticShapeSession:
    """Wraps a session over a static-shape model so that it takes dynamic (B, [C,] L) inputs."""

    def __init__(self, inner, length: int, outputs_with_length: tuple[str, ...]) -> None:
        self._inner = inner
        self.length = length
        self.output_names = inner.output_names
        self._with_length = outputs_with_length

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        ids, mask = np.asarray(input_ids), np.asarray(attention_mask)
        lead, width = ids.shape[:-1], ids.shape[-1]
        if width > self.length:
            raise UserError(f"inputs of {width} tokens do not fit this static-shape model ({self.length} tokens); "
                            "tokenize with at most that many")
        rows = []
        for row_ids, row_mask in zip(ids.reshape(-1, width), mask.reshape(-1, width)):
            padded_ids = np.full(self.length, PAD_ID, row_ids.dtype)
            padded_mask = np.zeros(self.length, row_mask.dtype)
            padded_ids[:width], padded_mask[:width] = row_ids, row_mask
            shape = [1] * (ids.ndim - 1) + [self.length]
            rows.append(self._inner.run(padded_ids.reshape(shape), padded_mask.reshape(shape)))
        merged = {}
        for name in self.output_names:
            parts = []
            for out in rows:
                value = out[name][0]  # drop the batch axis of one
                if ids.ndim == 3:
                    value = value[0]  # multiple-choice: (1, 1) logits -> one choice's score
                elif name in self._with_length:
                    value = value[:width]
                parts.append(value)
            merged[name] = np.stack(parts).reshape(*lead, *parts[0].shape) if ids.ndim == 2 \
                else np.stack(parts).reshape(lead)
        return merged

"""Running a model one row at a time, for models that cannot take a padded batch as it is.

Two kinds of model need it, and both are run here:
- static-shape models (`prelnedge export --target tflite --static-shape LENGTH`, for LiteRT.js, which
  cannot resize inputs) take batch 1 and exactly LENGTH tokens; the manifest records it as
  io.static_shape = {"batch": 1, "length": LENGTH, "input_shape": [...]}. Each row (each choice, for
  multiple-choice) is right-padded to LENGTH with <pad> ids and a zero mask, and the outputs' sequence
  axis is cut back to the batch's length. Padded keys are masked out of attention, so the real
  positions' outputs are the dynamic model's. The web page's LiteRT runner
  (runtimes/web/src/js/litert_model.js) does the same.
- integer TFLite models (manifest quantization.unpadded_only) are calibrated without padding: each
  row runs unpadded and the per-token outputs are padded back with zeros (padded positions carry no
  answer). The Android app's RowByRow asks for them the same way, which is how bundle/record.py
  records them.

A caller passes any (B, L) batch (or (B, C, L) for multiple-choice) with right padding.
"""

from __future__ import annotations

import numpy as np

from prelnedge.errors import UserError

PAD_ID = 1  # RoBERTa's <pad>; the attention mask, not the id, is what hides a padded position


def rows_of(input_ids: np.ndarray, attention_mask: np.ndarray,
            length: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """A right-padded (B, [C,] L) batch -> one (ids, mask) per row (per choice for (B, C, L)), each with
    leading axes of one: cut to its own tokens (length None), or right-padded to `length` tokens."""
    ids, mask = np.asarray(input_ids), np.asarray(attention_mask)
    width = ids.shape[-1]
    shape = [1] * (ids.ndim - 1)
    rows = []
    for row_ids, row_mask in zip(ids.reshape(-1, width), mask.reshape(-1, width)):
        if length is None:
            n = int(row_mask.sum())
            rows.append((row_ids[:n].reshape(shape + [n]), row_mask[:n].reshape(shape + [n])))
            continue
        padded_ids = np.full(length, PAD_ID, row_ids.dtype)
        padded_mask = np.zeros(length, row_mask.dtype)
        padded_ids[:width], padded_mask[:width] = row_ids, row_mask
        rows.append((padded_ids.reshape(shape + [length]), padded_mask.reshape(shape + [length])))
    return rows


def outputs_with_length(task_name: str) -> tuple[str, ...]:
    """The task's outputs that have a sequence axis (always the one after the batch axis)."""
    from prelnedge.tasks import get_task

    return tuple(spec.name for spec in get_task(task_name).outputs if "L" in spec.axes)


def merge_rows(outputs: list[dict[str, np.ndarray]], input_shape: tuple[int, ...], names: tuple[str, ...],
               with_length: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-row outputs (from `rows_of`'s rows, in order) -> the batch's outputs: the leading axes of one
    become the batch's, and a sequence axis is cut or zero-padded to the batch's length."""
    lead, width = tuple(input_shape[:-1]), input_shape[-1]
    merged = {}
    for name in names:
        parts = []
        for out in outputs:
            value = np.asarray(out[name])
            value = value.reshape(value.shape[len(lead):])  # drop the row's leading axes of one
            if name in with_length and value.ndim:
                value = value[:width] if value.shape[0] >= width else \
                    np.pad(value, [(0, width - value.shape[0])] + [(0, 0)] * (value.ndim - 1))
            parts.append(value)
        merged[name] = np.stack(parts).reshape(*lead, *parts[0].shape)
    return merged


class RowByRowSession:
    """Wraps a session so that it takes padded (B, [C,] L) batches, running them one row at a time:
    padded to `length` (a static-shape model) or, without a length, unpadded (see the module docstring)."""

    def __init__(self, inner, outputs_with_length: tuple[str, ...], length: int | None = None) -> None:
        self.inner = inner
        self.length = length
        self.output_names = inner.output_names
        self._with_length = outputs_with_length

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        ids = np.asarray(input_ids)
        width = ids.shape[-1]
        if self.length is not None and width > self.length:
            raise UserError(f"inputs of {width} tokens do not fit this static-shape model ({self.length} tokens); "
                            "tokenize with at most that many")
        outputs = [self.inner.run(row_ids, row_mask) for row_ids, row_mask in rows_of(ids, attention_mask, self.length)]
        return merge_rows(outputs, ids.shape, self.output_names, self._with_length)


def static_input_shape(task_name: str, length: int) -> list[int]:
    """A static-shape model's input: multiple-choice keeps its choice axis, one choice per call."""
    from prelnedge.tasks import get_task

    return [1, 1, length] if get_task(task_name).per_choice else [1, length]


def static_shape_record(task_name: str, length: int) -> dict:
    """What the manifest records as io.static_shape."""
    return {"batch": 1, "length": length, "input_shape": static_input_shape(task_name, length)}

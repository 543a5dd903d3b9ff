"""prelnedge.runtime.rows: a padded batch run one row at a time gives each row's own outputs, whether
the rows run unpadded (integer TFLite) or padded to a static length (LiteRT.js models)."""

from __future__ import annotations

import numpy as np
import pytest

from prelnedge.errors import UserError
from prelnedge.runtime.rows import PAD_ID, RowByRowSession, rows_of

LENGTH = 8


class OneRowAtATime:
    """A fake model of batch 1 whose outputs depend only on the unmasked tokens: a running sum per
    token ("scores", with a sequence axis) and one total per row ("total"). With `length` it takes
    exactly that many tokens, as a static-shape model does."""

    output_names = ("scores", "total")

    def __init__(self, length: int | None = None) -> None:
        self.length = length
        self.calls = []

    def run(self, input_ids, attention_mask):
        ids, mask = np.asarray(input_ids), np.asarray(attention_mask)
        assert ids.shape[:-1] == (1,) * (ids.ndim - 1), "one row per call"
        if self.length is not None:
            assert ids.shape[-1] == self.length, "a static-shape model takes its own length only"
        self.calls.append(ids.shape)
        kept = (ids * mask).astype(np.float32)
        return {"scores": np.cumsum(kept, axis=-1) * mask, "total": kept.sum(axis=-1)}


def _padded_batch() -> tuple[np.ndarray, np.ndarray]:
    lengths = (5, 2, 6)
    ids = np.full((len(lengths), max(lengths)), PAD_ID, np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = np.arange(10 * row + 2, 10 * row + 2 + n)
        mask[row, :n] = 1
    return ids, mask


def test_rows_of_cuts_each_row_to_its_tokens_or_pads_it_to_the_static_length():
    ids, mask = _padded_batch()
    unpadded = rows_of(ids, mask)
    assert [row_ids.shape for row_ids, _ in unpadded] == [(1, 5), (1, 2), (1, 6)]
    assert all(row_mask.all() for _, row_mask in unpadded)
    padded = rows_of(ids, mask, LENGTH)
    assert [row_ids.shape for row_ids, _ in padded] == [(1, LENGTH)] * 3
    row_ids, row_mask = padded[1]
    assert row_ids[0, :2].tolist() == ids[1, :2].tolist() and (row_ids[0, 2:] == PAD_ID).all()
    assert row_mask[0].tolist() == [1, 1] + [0] * (LENGTH - 2)


@pytest.mark.parametrize("length", [None, LENGTH], ids=["unpadded", "static"])
def test_a_padded_batch_run_row_by_row_equals_each_row_run_alone(length):
    ids, mask = _padded_batch()
    inner = OneRowAtATime(length)
    batched = RowByRowSession(inner, ("scores",), length).run(ids, mask)
    assert len(inner.calls) == 3
    assert batched["scores"].shape == ids.shape and batched["total"].shape == (3,)
    for row in range(3):
        n = int(mask[row].sum())
        alone = OneRowAtATime().run(ids[row:row + 1, :n], mask[row:row + 1, :n])
        np.testing.assert_array_equal(batched["scores"][row, :n], alone["scores"][0])
        assert not batched["scores"][row, n:].any(), "padded positions carry no answer"
        assert batched["total"][row] == alone["total"][0]


def test_multiple_choice_runs_one_choice_at_a_time():
    ids, mask = _padded_batch()
    ids, mask = np.stack([ids, ids[::-1]]), np.stack([mask, mask[::-1]])  # (2 items, 3 choices, L)
    inner = OneRowAtATime(LENGTH)
    batched = RowByRowSession(inner, (), LENGTH).run(ids, mask)
    assert set(inner.calls) == {(1, 1, LENGTH)} and len(inner.calls) == 6
    assert batched["total"].shape == (2, 3)
    np.testing.assert_array_equal(batched["total"], (ids * mask).sum(-1))


def test_a_batch_longer_than_the_static_length_is_refused():
    ids = np.ones((1, LENGTH + 1), np.int64)
    with pytest.raises(UserError, match="do not fit this static-shape model"):
        RowByRowSession(OneRowAtATime(LENGTH), ("scores",), LENGTH).run(ids, ids)


def test_a_real_export_padded_to_a_static_length_answers_as_each_row_alone(exports):
    """The tiny token-classification ONNX export, each row right-padded to a longer length: the
    padded keys are masked out, so each row's real positions match that row run unpadded."""
    from prelnedge.runtime.rows import outputs_with_length
    from prelnedge.runtime.sessions import OnnxSession

    folder = exports("token-classification", "onnx", "torch")
    session = OnnxSession(next(folder.glob("*.onnx")))
    ids, mask = _padded_batch()
    ids[:, 0] = np.where(mask[:, 0], 0, ids[:, 0])  # <s> first, as the tokenizer writes it
    rows = RowByRowSession(session, outputs_with_length("token-classification"), 12).run(ids, mask)
    for row in range(3):
        n = int(mask[row].sum())
        alone = session.run(ids[row:row + 1, :n], mask[row:row + 1, :n])
        np.testing.assert_allclose(rows["logits"][row, :n], alone["logits"][0], rtol=0, atol=1e-5)

"""prelnedge.checkpoint.parked: a checkpoint's weights leave memory inside the block and come back bit for
bit, in order, also when the block fails; the parking folder is removed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from prelnedge.checkpoint.parked import weights_parked


def _checkpoint():
    rng = np.random.default_rng(0)
    state = {"b.weight": rng.normal(size=(3, 4)).astype(np.float32), "a/bias": rng.normal(size=5).astype(np.float32),
             "scalar": np.float32(2.5) * np.ones((), np.float32)}
    return SimpleNamespace(state=state), {k: v.copy() for k, v in state.items()}


def test_weights_leave_and_return_bit_for_bit(tmp_path):
    checkpoint, original = _checkpoint()
    state = checkpoint.state
    with weights_parked(checkpoint, tmp_path / "parked"):
        assert checkpoint.state == {} and len(list((tmp_path / "parked").iterdir())) == 3
    assert checkpoint.state is state and list(state) == list(original)
    for name, value in original.items():
        assert state[name].dtype == value.dtype and state[name].shape == value.shape
        assert np.array_equal(state[name], value)
    assert not (tmp_path / "parked").exists()


def test_weights_return_after_an_error(tmp_path):
    checkpoint, original = _checkpoint()
    with pytest.raises(RuntimeError, match="converter failed"):
        with weights_parked(checkpoint, tmp_path / "parked"):
            raise RuntimeError("converter failed")
    assert list(checkpoint.state) == list(original)
    assert all(np.array_equal(checkpoint.state[k], v) for k, v in original.items())
    assert not (tmp_path / "parked").exists()

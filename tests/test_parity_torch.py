"""The torch reference equals transformers' RobertaPreLayerNorm* classes for every task,
every layer's hidden state, padded batches and lengths from 1 to the model's maximum."""

from __future__ import annotations

import numpy as np
import pytest

import prelnedge
from conftest import config_for
from hf_factory import hf_outputs, random_batch
from prelnedge.verify.compare import compare_outputs
from prelnedge.tasks import TASKS
from prelnedge.verify.tolerances import tolerance

TOL = tolerance("fp32-reference").peak_rel


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("lengths", [[1], [3, 1, 8, 2], [5, 38, 17]], ids=["len1", "short-batch", "max-len"])
def test_matches_transformers(hf_checkpoints, task_name, lengths):
    folder, hf_model = hf_checkpoints[task_name]
    task = TASKS[task_name]
    config = config_for(task_name)
    assert max(lengths) <= config.max_tokens
    ours = prelnedge.load_reference(folder, task=task_name, output_hidden_states=True)
    rng = np.random.default_rng(sum(lengths))
    ids, mask = random_batch(config, lengths, rng, choices=3 if task_name == "multiple-choice" else None)
    got, want = ours(ids, mask), hf_outputs(hf_model, task, ids, mask)
    assert set(want) >= set(task.output_names)
    assert sum(k.startswith("hidden_states.") for k in want) == config.num_hidden_layers + 1
    stats = compare_outputs(got, want, TOL, label=f"torch vs transformers ({task_name})")
    # the comparison must be about real signal, not two arrays of zeros
    assert all(np.abs(want[name]).max() > 1e-2 for name in task.output_names)
    assert stats


def test_padding_does_not_change_real_positions(hf_checkpoints):
    """A sequence's outputs at real tokens are the same alone and right-padded in a batch."""
    folder, _ = hf_checkpoints["token-classification"]
    model = prelnedge.load_reference(folder, task="token-classification")
    config = config_for("token-classification")
    ids, mask = random_batch(config, [6, 20], np.random.default_rng(3))
    batched = model(ids, mask)["logits"]
    alone = model(ids[:1, :6], mask[:1, :6])["logits"]
    np.testing.assert_allclose(batched[0, :6], alone[0], rtol=0, atol=1e-5 * np.abs(alone).max())


def test_causal_mask_hides_the_future(hf_checkpoints):
    folder, _ = hf_checkpoints["causal-lm"]
    model = prelnedge.load_reference(folder, task="causal-lm")
    config = config_for("causal-lm")
    ids, mask = random_batch(config, [12], np.random.default_rng(4))
    changed = ids.copy()
    changed[0, 8] = (changed[0, 8] + 7) % config.vocab_size
    a, b = model(ids, mask)["logits"], model(changed, mask)["logits"]
    np.testing.assert_array_equal(a[0, :8], b[0, :8])
    assert not np.allclose(a[0, 8:], b[0, 8:])


def test_mismatch_names_first_diverging_layer(hf_checkpoints):
    folder, hf_model = hf_checkpoints["base"]
    ours = prelnedge.load_reference(folder, task="base", output_hidden_states=True)
    ids, mask = random_batch(config_for("base"), [7, 4], np.random.default_rng(5))
    got = ours(ids, mask)
    for i in (2, 3):
        got[f"hidden_states.{i}"] = got[f"hidden_states.{i}"] + 0.1
    with pytest.raises(prelnedge.errors.ValidationError, match=r"hidden_states\.2 differs"):
        compare_outputs(got, hf_outputs(hf_model, TASKS["base"], ids, mask), TOL)

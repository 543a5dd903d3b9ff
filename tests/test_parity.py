"""Every framework's reference (torch, tf, flax) equals transformers' RobertaPreLayerNorm* classes for
every task, every layer's hidden state, padded batches and lengths from 1 to the model's maximum.

One harness, parametrized over the framework and task registries. The exports of these references
(ONNX from torch, TFLite from TF, TFLite from Flax through jax2tf) are run by their runtimes and
compared with transformers in test_export.py, through the real exporters."""

from __future__ import annotations

import numpy as np
import pytest

import prelnedge
from conftest import config_for
from registry_coverage import uncovered
from hf_factory import hf_outputs, random_batch
from prelnedge.models import FRAMEWORKS
from prelnedge.tasks import TASKS
from prelnedge.verify.compare import compare_outputs
from prelnedge.verify.tolerances import tolerance

TOL = tolerance("fp32-reference").peak_rel
# one token, a padded batch of short rows, the model's maximum (TEST_CONFIG: 38 tokens)
LENGTHS = {"len1": [1], "short-batch": [3, 1, 8, 2], "max-len": [5, 38, 17]}


@pytest.fixture(scope="module")
def references(hf_checkpoints):
    """(framework, task name) -> reference with hidden states, loaded once: one tf.function trace and
    one jit cache per model for the whole module."""
    cache = {}

    def get(framework: str, task_name: str):
        if (framework, task_name) not in cache:
            folder, _ = hf_checkpoints[task_name]
            cache[framework, task_name] = prelnedge.load_reference(folder, task=task_name, framework=framework,
                                                                   output_hidden_states=True)
        return cache[framework, task_name]

    return get


@pytest.fixture(scope="module")
def transformers_outputs(hf_checkpoints):
    """(task name, lengths) -> (input_ids, attention_mask, transformers' outputs), computed once and
    shared by the three frameworks."""
    cache = {}

    def get(task_name: str, lengths: list[int]):
        key = (task_name, tuple(lengths))
        if key not in cache:
            _, hf_model = hf_checkpoints[task_name]
            task, config = TASKS[task_name], config_for(task_name)
            assert max(lengths) <= config.max_tokens
            rng = np.random.default_rng(sum(lengths))
            ids, mask = random_batch(config, lengths, rng, choices=3 if task.head_kind == "choice" else None)
            cache[key] = ids, mask, hf_outputs(hf_model, task, ids, mask)
        return cache[key]

    return get


@pytest.mark.parametrize("lengths", list(LENGTHS.values()), ids=list(LENGTHS))
@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_matches_transformers(references, transformers_outputs, framework, task_name, lengths):
    task, config = TASKS[task_name], config_for(task_name)
    ids, mask, want = transformers_outputs(task_name, lengths)
    got = references(framework, task_name)(ids, mask)
    assert sum(k.startswith("hidden_states.") for k in want) == config.num_hidden_layers + 1
    assert all(value.dtype == np.float32 for value in got.values())
    # names, shapes, then every hidden state in layer order: a failure names the first diverging layer
    compare_outputs(got, want, TOL, label=f"{framework} vs transformers ({task_name}, lengths {lengths})")
    # the comparison must be about real signal, not two arrays of zeros
    assert all(np.abs(want[name]).max() > 1e-2 for name in task.output_names)


def test_every_framework_and_task_is_covered():
    """Narrowing the parity test's lists (or skipping it) fails here."""
    assert uncovered(test_matches_transformers, "framework", FRAMEWORKS) == []
    assert uncovered(test_matches_transformers, "task_name", TASKS) == []


def test_coverage_check_can_fail():
    """The check above is not a tautology: a narrowed or a skipped test is reported."""
    @pytest.mark.parametrize("task_name", ["qa", "base"])
    def narrowed(task_name):
        pass

    @pytest.mark.skip(reason="a skipped test reaches nothing")
    @pytest.mark.parametrize("task_name", list(TASKS))
    def skipped(task_name):
        pass

    assert uncovered(narrowed, "task_name", TASKS) == [name for name in TASKS if name not in ("qa", "base")]
    with pytest.raises(AssertionError, match="marked"):
        uncovered(skipped, "task_name", TASKS)


def test_padding_does_not_change_real_positions(references):
    """A sequence's outputs at real tokens are the same alone and right-padded in a batch."""
    model = references("torch", "token-classification")
    config = config_for("token-classification")
    ids, mask = random_batch(config, [6, 20], np.random.default_rng(3))
    batched = model(ids, mask)["logits"]
    alone = model(ids[:1, :6], mask[:1, :6])["logits"]
    np.testing.assert_allclose(batched[0, :6], alone[0], rtol=0, atol=1e-5 * np.abs(alone).max())


def test_causal_mask_hides_the_future(references):
    model = references("torch", "causal-lm")
    config = config_for("causal-lm")
    ids, mask = random_batch(config, [12], np.random.default_rng(4))
    changed = ids.copy()
    changed[0, 8] = (changed[0, 8] + 7) % config.vocab_size
    a, b = model(ids, mask)["logits"], model(changed, mask)["logits"]
    np.testing.assert_array_equal(a[0, :8], b[0, :8])
    assert not np.allclose(a[0, 8:], b[0, 8:])


def test_mismatch_names_first_diverging_layer(hf_checkpoints, references):
    _, hf_model = hf_checkpoints["base"]
    ids, mask = random_batch(config_for("base"), [7, 4], np.random.default_rng(5))
    got = references("torch", "base")(ids, mask)
    for i in (2, 3):
        got[f"hidden_states.{i}"] = got[f"hidden_states.{i}"] + 0.1
    with pytest.raises(prelnedge.errors.ValidationError, match=r"hidden_states\.2 differs"):
        compare_outputs(got, hf_outputs(hf_model, TASKS["base"], ids, mask), TOL)

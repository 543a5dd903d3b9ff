"""The parameter table is what every framework's model holds: the same rows, under each framework's
path, with the checkpoint's values in that framework's layout, for every task's head."""

from __future__ import annotations

import numpy as np
import pytest

from prelnedge.checkpoint.load import load_checkpoint
from prelnedge.checkpoint.params import HEAD_PARAMS, convert, task_params
from prelnedge.errors import CheckpointError
from prelnedge.models import FRAMEWORKS
from prelnedge.tasks import HEAD_KINDS, TASKS
from registry_coverage import uncovered


def held_parameters(framework: str, checkpoint) -> dict[str, np.ndarray]:
    """{path: value} as the framework's built model holds them."""
    if framework == "torch":
        from prelnedge.models.torch import build_torch_model

        return {key: value.numpy() for key, value in build_torch_model(checkpoint).state_dict().items()}
    if framework == "tf":
        from prelnedge.models.tf import build_tf_model, variables_by_path

        model = build_tf_model(checkpoint)
        held = {path: variable.numpy() for path, variable in variables_by_path(model).items()}
        # nothing outside the attribute walk: the walk sees every variable the module tracks
        assert len(model.trainable_variables) + len(model.non_trainable_variables) == len(held)
        return held
    if framework == "flax":
        import jax

        from prelnedge.models.flax import build_flax_model

        _, params = build_flax_model(checkpoint)
        return {"/".join(key.key for key in path): np.asarray(value)
                for path, value in jax.tree_util.tree_leaves_with_path(params)}
    raise AssertionError(f"no parameter reader for framework {framework}")


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_model_holds_the_table(hf_checkpoints, framework, task_name):
    checkpoint = load_checkpoint(hf_checkpoints[task_name][0], task_name)
    rows = task_params(checkpoint.config, checkpoint.task)
    if framework == "torch":  # the canonical names are torch's
        want = {row.key: checkpoint.state[row.key] for row in rows}
    else:
        want = convert(checkpoint.state, checkpoint.config, checkpoint.task, framework)
        assert set(want) == {row.framework_path(framework) for row in rows}
    held = held_parameters(framework, checkpoint)
    assert sorted(held) == sorted(want)
    for path, value in want.items():
        np.testing.assert_array_equal(held[path], value, err_msg=path)


def test_framework_paths_follow_each_spelling():
    from conftest import config_for

    row = next(r for r in task_params(config_for("qa"), TASKS["qa"])
               if r.key == "roberta_prelayernorm.encoder.layer.2.attention.self.query.weight")
    assert row.framework_path("tf") == "roberta_prelayernorm/encoder/layer_._2/attention/self/query/kernel"
    assert row.framework_path("flax") == "roberta_prelayernorm/encoder/layer_2/attention/self/query/kernel"
    assert row.kind == "dense" and row.framework_value(np.zeros(row.shape)).shape == row.shape[::-1]


@pytest.mark.parametrize("framework", ["tf", "flax"])
def test_convert_refuses_a_wrong_shape_or_a_missing_key(framework):
    checkpoint = load_checkpoint(None, "qa")
    state = dict(checkpoint.state)
    state["qa_outputs.weight"] = state["qa_outputs.weight"][:1]
    with pytest.raises(CheckpointError, match=r"qa_outputs\.weight has shape \(1, \d+\), expected \(2, \d+\)"):
        convert(state, checkpoint.config, checkpoint.task, framework)
    del state["qa_outputs.weight"]
    with pytest.raises(CheckpointError, match=r"missing \['qa_outputs\.weight'\]"):
        convert(state, checkpoint.config, checkpoint.task, framework)


def test_every_head_kind_and_framework_is_covered():
    assert sorted(HEAD_PARAMS) == sorted(HEAD_KINDS)
    assert uncovered(test_model_holds_the_table, "framework", FRAMEWORKS) == []
    assert uncovered(test_model_holds_the_table, "task_name", TASKS) == []
    assert {task.head_kind for task in TASKS.values()} == set(HEAD_KINDS)

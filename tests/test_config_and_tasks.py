from __future__ import annotations

import json
import math

import numpy as np
import pytest

from prelnedge import config as cfg
from prelnedge.config import PreLNConfig
from prelnedge.errors import ConfigError, UserError
from prelnedge.examples import Example
from prelnedge.tasks import TASKS, all_task_names, get_task, task_with_head
from prelnedge.checkpoint.params import task_parameters


def test_round_trip_through_config_json(tmp_path):
    config = cfg.tiny(labels=("neg", "pos", "neutral"), extra=(("architectures", ["X"]),))
    config.save(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["model_type"] == "roberta-prelayernorm"
    assert data["id2label"] == {"0": "neg", "1": "pos", "2": "neutral"} and data["architectures"] == ["X"]
    again = PreLNConfig.from_json_file(tmp_path / "config.json")
    assert again == config and again.num_labels == 3 and again.extra == config.extra


def test_reads_transformers_config(tmp_path):
    from transformers import RobertaPreLayerNormConfig

    RobertaPreLayerNormConfig(hidden_size=64, num_attention_heads=4, layer_norm_eps=1e-5,
                              num_labels=4).save_pretrained(tmp_path)
    config = PreLNConfig.from_json_file(tmp_path / "config.json")
    assert (config.hidden_size, config.num_attention_heads, config.num_labels) == (64, 4, 4)
    assert config.layer_norm_eps == 1e-5


@pytest.mark.parametrize("field,value,allowed", [
    ("hidden_size", 30, "multiple of num_attention_heads"),
    ("hidden_act", "gelu_new", "exact erf GELU"),
    ("num_hidden_layers", 0, "positive integer"),
    ("layer_norm_eps", -1.0, r"\(0, 1\)"),
    ("pad_token_id", 5000, r"\[0, vocab_size=1000\)"),
    ("max_position_embeddings", 2, "more than pad_token_id"),
    ("position_embedding_type", "relative_key", "'absolute'"),
    ("hidden_dropout_prob", 1.5, r"\[0, 1\)"),
])
def test_invalid_fields_name_field_value_and_allowed(field, value, allowed):
    with pytest.raises(ConfigError, match=rf"config field {field}={value!r} is invalid; allowed: .*{allowed}"):
        cfg.tiny(**{field: value})


def test_model_type_checks():
    with pytest.raises(ConfigError, match="post-LayerNorm"):
        PreLNConfig.from_dict({"model_type": "roberta"})
    with pytest.raises(ConfigError, match="allowed: 'roberta-prelayernorm'"):
        PreLNConfig.from_dict({"model_type": "bert"})
    with pytest.raises(ConfigError, match="ids exactly 0..n-1"):
        PreLNConfig.from_dict({"model_type": "roberta-prelayernorm", "id2label": {"0": "a", "2": "b"}})


def test_bad_json_file(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        PreLNConfig.from_json_file(tmp_path / "config.json")


@pytest.mark.parametrize("preset,hf_kwargs", [
    ("base", {}),
    ("large", {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096}),
])
def test_preset_parameter_counts_match_transformers(preset, hf_kwargs):
    import torch
    from transformers import RobertaPreLayerNormConfig, RobertaPreLayerNormForMaskedLM

    with torch.device("meta"):
        hf = RobertaPreLayerNormForMaskedLM(RobertaPreLayerNormConfig(
            vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, **hf_kwargs))
    hf_count = sum(p.numel() for p in hf.parameters())  # tied decoder counted once
    ours = sum(math.prod(s) for s in task_parameters(cfg.PRESETS[preset](), TASKS["masked-lm"]).values())
    assert ours == hf_count


def test_registry_names_and_aliases():
    assert list(TASKS) == ["base", "masked-lm", "causal-lm", "sequence-classification",
                           "token-classification", "multiple-choice", "qa"]
    for alias, name in [("feature-extraction", "base"), ("fill-mask", "masked-lm"), ("text-generation", "causal-lm"),
                        ("text-classification", "sequence-classification"), ("question-answering", "qa")]:
        assert get_task(alias) is TASKS[name]
    assert set(all_task_names()) >= set(TASKS)
    with pytest.raises(UserError, match="unknown task 'translation'; allowed: base, masked-lm"):
        get_task("translation")


def test_registry_io_specs():
    for task in TASKS.values():
        assert task.input_names == ("input_ids", "attention_mask")
        assert task.metric
    assert TASKS["multiple-choice"].inputs[0].axes == ("B", "C", "L")
    assert TASKS["qa"].output_names == ("start_logits", "end_logits")
    assert TASKS["base"].output_names == ("last_hidden_state", "pooler_output")


# One labelled example per request kind, with the truth the task metric reads.
_LABELLED = {"text": Example("Marta Oyelaran kept the lighthouse.", label=1, entities=((0, 14, "PER"),)),
             "question-context": Example("Who kept the lighthouse?", "Marta Oyelaran kept the lighthouse.",
                                         answers=("Marta Oyelaran",)),
             "prompt-choices": Example("Bees carry", choices=("pollen", "granite"), label=0)}


@pytest.mark.parametrize("task", TASKS.values(), ids=lambda task: task.name)
def test_fidelity_reports_the_numbers_the_registry_names(task):
    """verify/fidelity.py computes exactly the agreement and metric numbers Task.judged names (the
    report, gates and bundles read them by these names)."""
    from prelnedge.checkpoint.load import default_model_dir
    from prelnedge.examples import calibration_batches
    from prelnedge.runtime.tokenizer import PreLNTokenizer
    from prelnedge.verify.fidelity import measure, task_metric

    tok = PreLNTokenizer.from_dir(default_model_dir(), 64)
    labels = ("O", "B-PER", "I-PER")
    rng = np.random.default_rng(0)

    def fake_model(ids, mask):  # random outputs shaped as the registry's io spec says
        sizes = dict(zip(task.inputs[0].axes, ids.shape), H=8, V=tok.vocab_size, N=len(labels))
        return {spec.name: rng.normal(size=[sizes[axis] for axis in spec.axes]).astype(np.float32)
                for spec in task.outputs}

    example = _LABELLED[task.request.kind]
    batches = calibration_batches(tok, task, [example])
    got = measure(task, fake_model, fake_model, batches, eos_id=tok.eos_id, mask_id=tok.mask_id,
                  max_tokens=tok.max_length)
    assert sorted(got["agreement"]) == sorted(task.judged.agreement)
    metric = task_metric(task, fake_model, tok, [example], labels)
    assert sorted(metric or {}) == sorted((*task.judged.metric, "examples") if task.judged.metric else ())


def test_task_with_head_finds_the_one_task_of_a_kind():
    assert [task_with_head(kind).name for kind in ("span", "choice", "token", "sequence", "features")] == [
        "qa", "multiple-choice", "token-classification", "sequence-classification", "base"]
    with pytest.raises(ValueError, match="2 tasks have head kind 'lm'"):
        task_with_head("lm")  # masked and causal LM share it: callers must pick by name

"""Every checkpoint format loads into the same canonical weights (checked by running the model
against the transformers model that wrote it), and bad checkpoints fail with errors that list
what is wrong."""

from __future__ import annotations

import argparse
import json
import shutil
import warnings

import numpy as np
import pytest
import torch

import prelnedge
from conftest import config_for
from hf_factory import hf_outputs, random_batch, save_hf_checkpoint
from prelnedge.checkpoint.load import HeadInitializedWarning, load_checkpoint
from prelnedge.errors import CheckpointError, UserError
from prelnedge.tasks import TASKS
from prelnedge.verify.compare import compare_outputs
from prelnedge.verify.tolerances import tolerance

TOL = tolerance("fp32-reference").peak_rel


def assert_same_as_hf(folder, hf_model, task_name):
    config = config_for(task_name)
    ids, mask = random_batch(config, [9, 3, 14], np.random.default_rng(11))
    got = prelnedge.load_reference(folder, task=task_name)(ids, mask)
    want = hf_outputs(hf_model, TASKS[task_name], ids, mask)
    names = TASKS[task_name].output_names
    compare_outputs({n: got[n] for n in names}, {n: want[n] for n in names}, TOL, label=f"{folder} vs transformers")


def write_bin(folder, state_dict, config_src):
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(config_src / "config.json", folder / "config.json")
    torch.save(state_dict, folder / "pytorch_model.bin")
    return folder


def test_safetensors_has_no_tied_decoder_and_loads(hf_checkpoints):
    folder, hf_model = hf_checkpoints["masked-lm"]
    loaded = load_checkpoint(folder, "masked-lm")
    assert "lm_head.decoder.weight" not in loaded.state and "lm_head.bias" in loaded.state
    assert loaded.source_format == "hf" and len(loaded.source_sha256) == 64
    assert_same_as_hf(folder, hf_model, "masked-lm")


def test_sharded_safetensors(tmp_path):
    model = save_hf_checkpoint(tmp_path, config_for("qa"), TASKS["qa"], seed=7, max_shard_size="40KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 1
    assert_same_as_hf(tmp_path, model, "qa")


def test_pytorch_bin_with_stale_position_ids_and_full_decoder(hf_checkpoints, tmp_path):
    src, hf_model = hf_checkpoints["masked-lm"]
    state = dict(hf_model.state_dict())  # includes the tied lm_head.decoder.{weight,bias}
    assert "lm_head.decoder.weight" in state
    state["roberta_prelayernorm.embeddings.position_ids"] = torch.arange(40)[None]
    folder = write_bin(tmp_path / "bin", state, src)
    assert_same_as_hf(folder, hf_model, "masked-lm")


def test_old_file_without_decoder_weights(hf_checkpoints, tmp_path):
    src, hf_model = hf_checkpoints["masked-lm"]
    state = {k: v for k, v in hf_model.state_dict().items() if not k.startswith("lm_head.decoder")}
    folder = write_bin(tmp_path / "old", state, src)
    assert_same_as_hf(folder, hf_model, "masked-lm")


def test_untied_decoder_is_refused(hf_checkpoints, tmp_path):
    src, hf_model = hf_checkpoints["masked-lm"]
    state = dict(hf_model.state_dict())
    state["lm_head.decoder.weight"] = state["lm_head.decoder.weight"] + 1
    folder = write_bin(tmp_path / "untied", state, src)
    with pytest.raises(CheckpointError, match="differs from the word embeddings"):
        load_checkpoint(folder, "masked-lm")


@pytest.mark.parametrize("model_type", ["roberta", "roberta-prelayernorm"])
def test_dinkytrain_layout(hf_checkpoints, tmp_path, model_type):
    src, hf_model = hf_checkpoints["masked-lm"]
    state = {}
    for key, value in hf_model.state_dict().items():
        state[key.replace("roberta_prelayernorm.", "roberta.")] = value
    for i in range(config_for("masked-lm").num_hidden_layers):  # DinkyTrain's unused LayerNorm
        state[f"roberta.encoder.layer.{i}.attention.self.LayerNorm.weight"] = torch.randn(48)
        state[f"roberta.encoder.layer.{i}.attention.self.LayerNorm.bias"] = torch.randn(48)
    folder = write_bin(tmp_path / "dinky", state, src)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = model_type
    (folder / "config.json").write_text(json.dumps(config))
    loaded = load_checkpoint(folder, "masked-lm")
    assert loaded.source_format == "hf-dinkytrain"
    assert any("attention.self.LayerNorm" in note for note in loaded.unused)
    assert_same_as_hf(folder, hf_model, "masked-lm")


def test_base_model_checkpoint_without_prefix(hf_checkpoints):
    folder, hf_model = hf_checkpoints["base"]
    assert not any(k.startswith("roberta_prelayernorm.") for k in hf_model.state_dict())
    assert_same_as_hf(folder, hf_model, "base")


def test_missing_head_is_initialised_loudly_and_recorded(hf_checkpoints):
    folder, _ = hf_checkpoints["masked-lm"]
    with pytest.warns(HeadInitializedWarning, match="qa_outputs"):
        loaded = load_checkpoint(folder, "qa")
    assert loaded.initialized == ["qa_outputs"]
    assert any("lm_head" in note for note in loaded.unused)  # the MLM head was set aside
    with pytest.warns(HeadInitializedWarning):
        again = load_checkpoint(folder, "qa")
    np.testing.assert_array_equal(loaded.state["qa_outputs.weight"], again.state["qa_outputs.weight"])
    assert loaded.state["qa_outputs.weight"].std() > 0


def test_mlm_checkpoint_as_base_initialises_the_pooler(hf_checkpoints):
    folder, _ = hf_checkpoints["masked-lm"]
    with pytest.warns(HeadInitializedWarning, match="pooler"):
        loaded = load_checkpoint(folder, "base")
    assert loaded.initialized == ["pooler"]


def test_unknown_and_missing_keys_are_listed(hf_checkpoints, tmp_path):
    src, hf_model = hf_checkpoints["qa"]
    state = dict(hf_model.state_dict())
    state["roberta_prelayernorm.encoder.layer.0.attention.output.bias_extra"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match=r"unexpected keys .*bias_extra"):
        load_checkpoint(write_bin(tmp_path / "extra", state, src), "qa")
    state = dict(hf_model.state_dict())
    del state["roberta_prelayernorm.encoder.layer.1.intermediate.LayerNorm.weight"]
    with pytest.raises(CheckpointError, match=r"lacks weights .*layer\.1\.intermediate\.LayerNorm\.weight"):
        load_checkpoint(write_bin(tmp_path / "missing", state, src), "qa")


def test_partial_head_is_an_error_not_an_init(hf_checkpoints, tmp_path):
    src, hf_model = hf_checkpoints["sequence-classification"]
    state = {k: v for k, v in hf_model.state_dict().items() if k != "classifier.out_proj.bias"}
    with pytest.raises(CheckpointError, match="classifier.out_proj.bias"):
        load_checkpoint(write_bin(tmp_path / "partial", state, src), "sequence-classification")


def test_shape_mismatch_is_listed(hf_checkpoints, tmp_path):
    src, _ = hf_checkpoints["token-classification"]
    folder = tmp_path / "mismatch"
    shutil.copytree(src, folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "A", "1": "B"}  # the checkpoint's classifier has 3 labels
    config.pop("label2id")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"classifier.weight \(3, 48\) \(expected \(2, 48\)\)"):
        load_checkpoint(folder, "token-classification")


def test_post_ln_roberta_is_refused(tmp_path):
    from transformers import RobertaConfig, RobertaForMaskedLM

    config = RobertaConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=20)
    RobertaForMaskedLM(config).save_pretrained(tmp_path)
    with pytest.raises(UserError, match="post-LayerNorm RoBERTa"):
        load_checkpoint(tmp_path, "masked-lm")
    # relabelled as pre-LN, the weights still give it away
    data = json.loads((tmp_path / "config.json").read_text())
    data["model_type"] = "roberta-prelayernorm"
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="post-LayerNorm RoBERTa"):
        load_checkpoint(tmp_path, "masked-lm")


def test_no_weights_and_no_config(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope", "base")
    (tmp_path / "config.json").write_text(json.dumps(config_for("base").to_dict()))
    with pytest.raises(CheckpointError, match="has no weights"):
        load_checkpoint(tmp_path, "base")


# ---- fairseq ---------------------------------------------------------------------------------------
_FAIRSEQ_LAYER = {
    "attention.LayerNorm": "self_attn_layer_norm", "attention.self.query": "self_attn.q_proj",
    "attention.self.key": "self_attn.k_proj", "attention.self.value": "self_attn.v_proj",
    "attention.output.dense": "self_attn.out_proj", "intermediate.LayerNorm": "final_layer_norm",
    "intermediate.dense": "fc1", "output.dense": "fc2",
}


def fairseq_state(hf_state, prefix="encoder."):
    """Write HF weights under fairseq's names (written from fairseq's module layout, independently
    of prelnedge's reader)."""
    se = prefix + "sentence_encoder."
    out = {}
    for key, value in hf_state.items():
        key = key.removeprefix("roberta_prelayernorm.")
        if key.startswith("embeddings.word_embeddings"):
            out[se + "embed_tokens.weight"] = value
        elif key.startswith("embeddings.position_embeddings"):
            out[se + "embed_positions.weight"] = value
        elif key.startswith("embeddings.LayerNorm"):
            out[se + "layernorm_embedding." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("LayerNorm."):
            out[se + "layer_norm." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("encoder.layer."):
            _, _, i, rest = key.split(".", 3)
            module, kind = rest.rsplit(".", 1)
            out[f"{se}layers.{i}.{_FAIRSEQ_LAYER[module]}.{kind}"] = value
        elif key == "lm_head.decoder.weight":
            out[prefix + "lm_head.weight"] = value
        elif key.startswith("lm_head.") and not key.startswith("lm_head.decoder"):
            out[prefix + key] = value
        elif key.startswith("classifier."):
            out["classification_heads.sentence_classification_head." + key.removeprefix("classifier.")] = value
    out[se + "version"] = torch.tensor([2.0])
    return out


def fairseq_args(config, normalize_before=True):
    return argparse.Namespace(encoder_layers=config.num_hidden_layers, encoder_embed_dim=config.hidden_size,
                              encoder_attention_heads=config.num_attention_heads,
                              encoder_ffn_embed_dim=config.intermediate_size, activation_fn="gelu",
                              encoder_normalize_before=normalize_before, max_positions=config.max_tokens)


@pytest.fixture(scope="module")
def fairseq_mlm(tmp_path_factory):
    """A HF MLM with zeroed token-type row (fairseq has no token types) and its fairseq twin."""
    from hf_factory import hf_model

    model = hf_model(config_for("masked-lm"), TASKS["masked-lm"], seed=21)
    with torch.no_grad():
        model.roberta_prelayernorm.embeddings.token_type_embeddings.weight.zero_()
    return model


@pytest.mark.parametrize("prefix", ["encoder.", "decoder."], ids=["fairseq-0.10+", "fairseq-old-names"])
def test_fairseq_checkpoint(fairseq_mlm, tmp_path, prefix):
    config = config_for("masked-lm")
    blob = {"args": fairseq_args(config), "model": fairseq_state(fairseq_mlm.state_dict(), prefix)}
    torch.save(blob, tmp_path / "model.pt")
    loaded = load_checkpoint(tmp_path / "model.pt", "masked-lm")
    assert loaded.source_format == "fairseq"
    assert_same_as_hf(tmp_path, fairseq_mlm, "masked-lm")  # the folder form finds model.pt too


def test_fairseq_cfg_dict_and_classification_head(hf_checkpoints, tmp_path):
    _, hf_model = hf_checkpoints["sequence-classification"]
    config = config_for("sequence-classification")
    state = fairseq_state(hf_model.state_dict())
    blob = {"cfg": {"model": vars(fairseq_args(config))}, "model": state}
    torch.save(blob, tmp_path / "model.pt")
    loaded = load_checkpoint(tmp_path / "model.pt", "sequence-classification")
    assert loaded.config.num_labels == 3
    for key in ("classifier.out_proj.weight", "roberta_prelayernorm.LayerNorm.bias"):
        np.testing.assert_array_equal(loaded.state[key], hf_model.state_dict()[key].numpy())


def test_fairseq_post_ln_is_refused(fairseq_mlm, tmp_path):
    config = config_for("masked-lm")
    state = fairseq_state(fairseq_mlm.state_dict())
    torch.save({"args": fairseq_args(config, normalize_before=False), "model": state}, tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="without --encoder-normalize-before"):
        load_checkpoint(tmp_path / "a.pt", "masked-lm")
    old = {k.replace("layernorm_embedding", "emb_layer_norm"): v for k, v in state.items()
           if ".layer_norm." not in k.replace("lm_head.layer_norm", "")}
    torch.save({"args": fairseq_args(config), "model": old}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="old fairseq TransformerSentenceEncoder"):
        load_checkpoint(tmp_path / "b.pt", "masked-lm")


def test_fairseq_without_args_needs_a_config(fairseq_mlm, tmp_path):
    torch.save({"model": fairseq_state(fairseq_mlm.state_dict())}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="no model args"):
        load_checkpoint(tmp_path / "model.pt", "masked-lm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_checkpoint(tmp_path / "model.pt", "masked-lm", config=config_for("masked-lm"))
    assert loaded.config.hidden_size == 48

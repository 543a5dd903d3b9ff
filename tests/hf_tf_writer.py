"""Runs INSIDE the hf4 venv (transformers 4.57 with TensorFlow and tf-keras), never under pytest.

Hugging Face's own TF classes write a real `tf_model.h5` (save_pretrained, Keras 2) for every task,
with every weight randomised (LayerNorms included), and their outputs for a padded batch:
  OUT/<task>/config.json, tf_model.h5, ids.npy, mask.npy, out_<field>.npy

usage: python hf_tf_writer.py OUT
"""

import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # HF's TF classes are Keras 2 (tf-keras) models

import numpy as np  # noqa: E402
import transformers  # noqa: E402

TF_CLASSES = {
    "base": "TFRobertaPreLayerNormModel",
    "masked-lm": "TFRobertaPreLayerNormForMaskedLM",
    "causal-lm": "TFRobertaPreLayerNormForCausalLM",
    "sequence-classification": "TFRobertaPreLayerNormForSequenceClassification",
    "token-classification": "TFRobertaPreLayerNormForTokenClassification",
    "qa": "TFRobertaPreLayerNormForQuestionAnswering",
    "multiple-choice": "TFRobertaPreLayerNormForMultipleChoice",
}
VOCAB, LENGTHS = 97, [9, 3, 14]


def batch(rng, choices):
    rows = [n - c for n in LENGTHS for c in range(choices or 1)]
    ids = np.full((len(rows), max(LENGTHS)), 1, np.int32)  # <pad> = 1
    mask = np.zeros_like(ids)
    for r, n in enumerate(rows):
        ids[r, :n] = rng.integers(4, VOCAB, n)
        ids[r, 0], ids[r, n - 1] = 0, 2
        mask[r, :n] = 1
    shape = (len(LENGTHS), choices, -1) if choices else ids.shape
    return ids.reshape(shape), mask.reshape(shape)


def main(out):
    rng = np.random.default_rng(0)
    for task, name in TF_CLASSES.items():
        config = transformers.RobertaPreLayerNormConfig(
            vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=24, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, num_labels=2 if task == "qa" else 3, is_decoder=task == "causal-lm")
        model = getattr(transformers, name)(config)
        model(model.dummy_inputs)  # builds the variables
        for weight in model.weights:
            noise = rng.standard_normal(weight.shape).astype(np.float32)
            if "LayerNorm" in weight.name or "layer_norm" in weight.name:
                weight.assign(1.0 + 0.3 * noise if "gamma" in weight.name else 0.2 * noise)
            else:
                weight.assign(0.2 * noise if len(weight.shape) > 1 else 0.1 * noise)
        folder = os.path.join(out, task)
        model.save_pretrained(folder)
        ids, mask = batch(rng, 2 if task == "multiple-choice" else None)
        np.save(os.path.join(folder, "ids.npy"), ids)
        np.save(os.path.join(folder, "mask.npy"), mask)
        for field, value in model(input_ids=ids, attention_mask=mask).items():
            if field in ("last_hidden_state", "pooler_output", "logits", "start_logits", "end_logits"):
                np.save(os.path.join(folder, f"out_{field}.npy"), value.numpy())


if __name__ == "__main__":
    main(sys.argv[1])

"""Build the embedded default model shipped in prelnedge/default_model/.

    python scripts/build_default_model.py [OUT_DIR]

Deterministic: the same corpus and seed give byte-identical files (a test rebuilds and compares).
The model is UNTRAINED: its weights are seeded random numbers, its tokenizer a byte-level BPE
trained on the small corpus beside this script. It exists so every command runs offline on a
real HF-format folder; its answers carry no meaning.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from prelnedge.config import PreLNConfig  # noqa: E402
from prelnedge.tasks import get_task  # noqa: E402
from prelnedge.weights import task_parameters  # noqa: E402

CORPUS = HERE.parent / "prelnedge" / "data" / "corpus.txt"  # also the default calibration text
TARGET = HERE.parent / "prelnedge" / "default_model"
SEED = 20261126
# Heads shipped in the checkpoint: QA (the demo task), masked/causal LM and sequence classification.
# Token classification and multiple choice share the name `classifier` with sequence
# classification, so they are absent and get initialised (loudly) when asked for.
SHIPPED_TASKS = ("base", "qa", "masked-lm", "sequence-classification")


def train_tokenizer(vocab_size: int = 1024):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],  # ids 0..3 as in RoBERTa
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS.read_text(encoding="utf-8").splitlines(), trainer=trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True)])  # last id, as in RoBERTa
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
        trim_offsets=True, add_prefix_space=False)
    return tok


def random_weights(config: PreLNConfig) -> dict[str, np.ndarray]:
    """Seeded weights with non-trivial LayerNorms, for every shipped head."""
    rng = np.random.default_rng(SEED)
    shapes: dict[str, tuple[int, ...]] = {}
    for task in SHIPPED_TASKS:
        shapes.update(task_parameters(config, get_task(task)))
    weights = {}
    for name in sorted(shapes):
        shape = shapes[name]
        if "LayerNorm" in name or "layer_norm" in name:
            value = 1.0 + 0.1 * rng.standard_normal(shape) if name.endswith("weight") else 0.05 * rng.standard_normal(shape)
        elif len(shape) == 2:
            value = 0.08 * rng.standard_normal(shape)
        else:
            value = 0.02 * rng.standard_normal(shape)
        weights[name] = value.astype(np.float32)
    return weights


def build(out_dir: Path) -> Path:
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer()
    tok.save(str(out_dir / "tokenizer.json"))
    tok.model.save(str(out_dir))  # vocab.json + merges.txt for runtimes without `tokenizers`
    config = PreLNConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=256, max_position_embeddings=130,  # 128 tokens
        labels=("negative", "positive"),
        extra=(("architectures", ["RobertaPreLayerNormForQuestionAnswering"]),))
    config.save(out_dir)
    save_file(random_weights(config), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "RobertaTokenizer", "model_max_length": config.max_tokens,
         "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
         "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}, indent=2) + "\n")
    return out_dir


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET
    print(f"wrote {build(target)}")

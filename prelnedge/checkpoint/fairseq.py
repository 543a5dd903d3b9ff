"""fairseq RoBERTa checkpoints (`model.pt`) trained with --encoder-normalize-before.

Only the modern `TransformerEncoder` layout is this model: it has `layernorm_embedding` and a
final `layer_norm`, and its layers normalise before attention and FFN. Old fairseq
(`TransformerSentenceEncoder`, keys `emb_layer_norm`) kept post-LN layers under the same flag, and a
checkpoint without normalize_before is plain post-LN RoBERTa: both are refused.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np

from prelnedge.config import PreLNConfig
from prelnedge.errors import CheckpointError
from prelnedge.hashing import sha256_files
from prelnedge.checkpoint.params import ENCODER_PREFIX

# fairseq name (after `sentence_encoder.`) -> canonical name (after `roberta_prelayernorm.`)
_ENCODER_MAP = {
    "embed_tokens.weight": "embeddings.word_embeddings.weight",
    "embed_positions.weight": "embeddings.position_embeddings.weight",
    "layernorm_embedding": "embeddings.LayerNorm",
    "layer_norm": "LayerNorm",  # the final LayerNorm
}
_LAYER_MAP = {
    "self_attn_layer_norm": "attention.LayerNorm",
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "final_layer_norm": "intermediate.LayerNorm",  # the pre-FFN LayerNorm, despite its name
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
}
_LM_HEAD_MAP = {"dense": "lm_head.dense", "layer_norm": "lm_head.layer_norm", "bias": "lm_head.bias"}
_LAYER_KEY = re.compile(r"layers\.(\d+)\.(.+)\.(weight|bias)$")
# fairseq 0.12 registers, beside each encoder layer's real weights, fused copies for PyTorch's
# BetterTransformer fast path (TransformerEncoderLayerBase.__init__): in_proj = cat(q, k, v), the
# rest one to one. They are zeros in a model trained from scratch; fairseq overwrites them from the
# real weights in _load_from_state_dict on every load, so a fine-tuned model (--restore-file) saves
# them as they were at load, stale once training has moved the real weights. What a file stores
# there never reaches fairseq's computation, so prelnedge sets them aside too.
_FAST_PATH_KEY = re.compile(r"layers\.(\d+)\.(in_proj|out_proj|fc1|fc2)_(weight|bias)$")
_FAST_PATH_SOURCES = {"in_proj": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
                      "out_proj": ("self_attn.out_proj",), "fc1": ("fc1",), "fc2": ("fc2",)}


def read_fairseq(file: Path, classification_head: str | None = None, notes: list[str] | None = None
                 ) -> tuple[dict[str, np.ndarray], PreLNConfig | None, str]:
    """Return (canonical-named weights, config from the saved args or None, sha256 of the file);
    what was set aside is said in `notes`."""
    blob = _load(file)
    model = blob.get("model")
    if not isinstance(model, dict):
        raise CheckpointError(f"{file} has no 'model' state dict; is it a fairseq checkpoint?")
    weights = {k: v.float().numpy() for k, v in model.items() if hasattr(v, "float") and v.is_floating_point()}
    args = _model_args(blob)
    prefix = _encoder_prefix(weights, file)
    _refuse_post_ln(weights, prefix, args, file)

    heads = sorted({k.split(".")[1] for k in weights if k.startswith("classification_heads.")})
    if len(heads) > 1 and classification_head is None:
        raise CheckpointError(f"{file} has several classification heads ({', '.join(heads)}); choose one")
    note = _fast_path_note(weights, prefix)
    if note and notes is not None:
        notes.append(note)
    state: dict[str, np.ndarray] = {}
    for key, value in weights.items():
        if key.startswith(prefix) and _FAST_PATH_KEY.match(key.removeprefix(prefix)):
            continue  # fairseq rebuilds them from the real weights on load
        name = _canonical_name(key, prefix, classification_head)
        if name is not None:
            state[name] = value
        elif not key.endswith(("version", "_float_tensor")):
            raise CheckpointError(f"{file}: unrecognised fairseq key {key}")
    state["embeddings.token_type_embeddings.weight"] = np.zeros(
        (1, state["embeddings.word_embeddings.weight"].shape[1]), np.float32)  # fairseq has none
    state = {(k if k.startswith(("lm_head.", "classifier.")) else ENCODER_PREFIX + k): v
             for k, v in state.items()}
    return state, _config_from_args(args, state, file), sha256_files([file])


def _load(file: Path) -> dict[str, Any]:
    from prelnedge.checkpoint.safe_load import torch_load

    # fairseq pickles its argparse Namespace; allow exactly that and nothing executable.
    blob = torch_load(file, "a fairseq checkpoint", allowed=(argparse.Namespace,))
    if not isinstance(blob, dict):
        raise CheckpointError(f"{file} holds a {type(blob).__name__}, not a fairseq checkpoint")
    return blob


def _model_args(blob: dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(blob.get("cfg"), dict) and isinstance(blob["cfg"].get("model"), (dict, argparse.Namespace)):
        model = blob["cfg"]["model"]
        return dict(vars(model)) if isinstance(model, argparse.Namespace) else dict(model)
    if isinstance(blob.get("args"), argparse.Namespace):
        return dict(vars(blob["args"]))
    return None


def _encoder_prefix(weights: dict[str, np.ndarray], file: Path) -> str:
    # fairseq >= 0.10 names the RoBERTa encoder `encoder`; older releases called it `decoder`.
    for prefix in ("encoder.sentence_encoder.", "decoder.sentence_encoder."):
        if prefix + "embed_tokens.weight" in weights:
            return prefix
    raise CheckpointError(f"{file} has no sentence_encoder.embed_tokens; not a fairseq RoBERTa checkpoint")


def _refuse_post_ln(weights: dict[str, np.ndarray], prefix: str, args: dict | None, file: Path) -> None:
    if prefix + "emb_layer_norm.weight" in weights:
        raise CheckpointError(
            f"{file} is an old fairseq TransformerSentenceEncoder checkpoint (emb_layer_norm): its layers "
            "are post-LayerNorm even with --encoder-normalize-before; not a pre-LN model")
    if args is not None and not args.get("encoder_normalize_before", False):
        raise CheckpointError(f"{file} was trained without --encoder-normalize-before (post-LN RoBERTa)")
    for required in ("layernorm_embedding.weight", "layer_norm.weight"):
        if prefix + required not in weights:
            raise CheckpointError(
                f"{file} lacks sentence_encoder.{required}: not a pre-LN RoBERTa trained with "
                "--encoder-normalize-before and layernorm_embedding")


def _fast_path_note(weights: dict[str, np.ndarray], prefix: str) -> str | None:
    """What `info` says about the BetterTransformer copies set aside: nothing when they are all
    zeros (trained from scratch), else how many differ from the real weights they mirror."""
    filled = stale = 0
    for key, value in weights.items():
        match = _FAST_PATH_KEY.match(key.removeprefix(prefix)) if key.startswith(prefix) else None
        if match is None or not value.any():
            continue
        filled += 1
        layer, fused, kind = match.groups()
        parts = [weights.get(f"{prefix}layers.{layer}.{source}.{kind}") for source in _FAST_PATH_SOURCES[fused]]
        real = np.concatenate(parts, axis=0) if all(part is not None for part in parts) else None
        stale += real is None or real.shape != value.shape or not np.array_equal(real, value)
    if not filled:
        return None
    return (f"set aside {filled} fairseq fast-path copies (in_proj/out_proj/fc1/fc2_*), as fairseq does: it "
            f"rebuilds them from the real weights on load" + (f"; {stale} were stale (saved after fine-tuning)"
                                                             if stale else ""))


def _canonical_name(key: str, prefix: str, classification_head: str | None) -> str | None:
    head = prefix.split(".")[0] + ".lm_head."
    if key.startswith(prefix):
        rest = key[len(prefix):]
        if rest in _ENCODER_MAP:
            return _ENCODER_MAP[rest]
        stem, _, kind = rest.rpartition(".")
        if stem in _ENCODER_MAP:
            return f"{_ENCODER_MAP[stem]}.{kind}"
        match = _LAYER_KEY.match(rest)
        if match and match.group(2) in _LAYER_MAP:
            return f"encoder.layer.{match.group(1)}.{_LAYER_MAP[match.group(2)]}.{match.group(3)}"
        return None
    if key.startswith(head):
        rest = key[len(head):]
        if rest == "weight":
            return "lm_head.decoder.weight"  # tied to embed_tokens; dropped after the tie check
        stem = rest.split(".")[0]
        return _LM_HEAD_MAP[stem] + rest[len(stem):] if stem in _LM_HEAD_MAP else None
    if key.startswith("classification_heads."):
        _, name, rest = key.split(".", 2)
        if classification_head is not None and name != classification_head:
            return "classifier.unused." + name + "." + rest
        return "classifier." + rest
    return None


def _config_from_args(args: dict | None, state: dict[str, np.ndarray], file: Path) -> PreLNConfig | None:
    if args is None:
        return None
    activation = args.get("activation_fn", "gelu")
    vocab, hidden = state[ENCODER_PREFIX + "embeddings.word_embeddings.weight"].shape
    positions = state[ENCODER_PREFIX + "embeddings.position_embeddings.weight"].shape[0]
    out_proj = state.get("classifier.out_proj.weight")
    labels = tuple(f"LABEL_{i}" for i in range(out_proj.shape[0])) if out_proj is not None else ("LABEL_0", "LABEL_1")
    try:
        return PreLNConfig(
            vocab_size=vocab, hidden_size=hidden,
            num_hidden_layers=int(args["encoder_layers"]),
            num_attention_heads=int(args["encoder_attention_heads"]),
            intermediate_size=int(args["encoder_ffn_embed_dim"]),
            hidden_act=activation, max_position_embeddings=positions, type_vocab_size=1,
            layer_norm_eps=1e-5,  # fairseq's LayerNorm default
            labels=labels)
    except KeyError as exc:
        raise CheckpointError(f"{file}: model args lack {exc}; pass a config for it") from None

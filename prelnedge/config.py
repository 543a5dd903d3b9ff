"""PreLNConfig: the model's hyper-parameters, read from and written to Hugging Face `config.json`.

Never assume library defaults when a config file exists: `transformers` defaults (768/12/12/3072,
eps 1e-12, type_vocab_size 2) differ from the published pre-LN checkpoints (eps 1e-5,
type_vocab_size 1). Fields absent from a file therefore fall back to the *pre-LN checkpoint* values
below, and `from_dict` records which ones it had to fill in.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prelnedge.errors import ConfigError

MODEL_TYPE = "roberta-prelayernorm"

# Activations we implement. The reference uses the exact erf GELU everywhere (FFN and LM head);
# the tanh approximation ("gelu_new") would silently change every output, so it is refused.
SUPPORTED_ACTIVATIONS = ("gelu",)


# Far above any RoBERTa-PreLayerNorm checkpoint (XLM-R XXL: hidden 4096, 48 layers, vocabulary 250,002)
# and far below what would exhaust memory while a config is turned into shapes: a config beyond them
# is refused before anything is built from it.
SIZE_LIMITS = {"vocab_size": 2**24, "hidden_size": 2**16, "num_hidden_layers": 1024, "num_attention_heads": 1024,
               "intermediate_size": 2**18, "max_position_embeddings": 2**20, "type_vocab_size": 2**10}


@dataclass(frozen=True)
class PreLNConfig:
    vocab_size: int = 50265
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    # 512 real tokens + the padding offset: position ids start at pad_token_id + 1 = 2.
    max_position_embeddings: int = 514
    type_vocab_size: int = 1
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    classifier_dropout: float | None = None
    is_decoder: bool = False
    position_embedding_type: str = "absolute"
    tie_word_embeddings: bool = True
    # Label names in id order; HF stores them as id2label/label2id.
    labels: tuple[str, ...] = ("LABEL_0", "LABEL_1")
    # Keys of config.json we do not interpret (architectures, torch_dtype, ...), kept for round trips.
    extra: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        positive_ints = (
            "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "max_position_embeddings", "type_vocab_size",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                _bad(name, value, "a positive integer")
            if value > SIZE_LIMITS[name]:
                _bad(name, value, f"a positive integer up to {SIZE_LIMITS[name]:,} (a damaged or hostile config: "
                                  "no RoBERTa-PreLayerNorm model comes near)")
        if self.hidden_size % self.num_attention_heads:
            _bad("hidden_size", self.hidden_size,
                 f"a multiple of num_attention_heads ({self.num_attention_heads})")
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            _bad("hidden_act", self.hidden_act, f"one of {list(SUPPORTED_ACTIVATIONS)} (exact erf GELU)")
        if self.position_embedding_type != "absolute":
            _bad("position_embedding_type", self.position_embedding_type, "'absolute'")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            _check_probability(name, getattr(self, name))
        if self.classifier_dropout is not None:
            _check_probability("classifier_dropout", self.classifier_dropout)
        if not isinstance(self.layer_norm_eps, (int, float)) or not 0 < self.layer_norm_eps < 1:
            _bad("layer_norm_eps", self.layer_norm_eps, "a number in (0, 1)")
        if not isinstance(self.initializer_range, (int, float)) or self.initializer_range <= 0:
            _bad("initializer_range", self.initializer_range, "a positive number")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.vocab_size:
                _bad(name, value, f"an integer in [0, vocab_size={self.vocab_size})")
        if self.max_position_embeddings <= self.pad_token_id + 1:
            _bad("max_position_embeddings", self.max_position_embeddings,
                 f"more than pad_token_id + 1 = {self.pad_token_id + 1} (positions start after the pad id)")
        if not self.labels or not all(isinstance(label, str) and label for label in self.labels):
            _bad("id2label", self.labels, "a non-empty mapping of ids 0..n-1 to non-empty names")
        if len(set(self.labels)) != len(self.labels):
            _bad("id2label", self.labels, "distinct label names")

    # ---- derived sizes -------------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def max_tokens(self) -> int:
        """Longest input (special tokens included): positions run pad_token_id+1 .. max_position_embeddings-1."""
        return self.max_position_embeddings - self.pad_token_id - 1

    def replace(self, **changes: Any) -> "PreLNConfig":
        return dataclasses.replace(self, **changes)

    # ---- HF config.json ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PreLNConfig":
        model_type = data.get("model_type")
        if model_type == "roberta":
            raise ConfigError(
                "config.json has model_type 'roberta' (post-LayerNorm RoBERTa); prelnedge handles only "
                f"'{MODEL_TYPE}' (pre-LayerNorm) models")
        if model_type != MODEL_TYPE:
            raise ConfigError(f"config.json model_type is {model_type!r}; allowed: '{MODEL_TYPE}'")
        names = {f.name for f in dataclasses.fields(cls)} - {"labels", "extra"}
        kwargs = {name: data[name] for name in names if name in data}
        kwargs["labels"] = _labels_from(data)
        skip = names | {"model_type", "id2label", "label2id", "num_labels"}
        kwargs["extra"] = tuple(sorted((k, v) for k, v in data.items() if k not in skip))
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data["model_type"] = MODEL_TYPE
        for f in dataclasses.fields(self):
            if f.name not in ("labels", "extra"):
                data[f.name] = getattr(self, f.name)
        data["id2label"] = {str(i): label for i, label in enumerate(self.labels)}
        data["label2id"] = {label: i for i, label in enumerate(self.labels)}
        return data

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "PreLNConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no config file at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object, found {type(data).__name__}")
        return cls.from_dict(data)

    def save(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / "config.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path


def _labels_from(data: dict[str, Any]) -> tuple[str, ...]:
    id2label = data.get("id2label")
    if id2label is None:
        count = data.get("num_labels", 2)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            _bad("num_labels", count, "a positive integer")
        return tuple(f"LABEL_{i}" for i in range(count))
    if not isinstance(id2label, dict):
        _bad("id2label", id2label, "a mapping of ids 0..n-1 to names")
    try:
        by_id = {int(k): v for k, v in id2label.items()}
    except (TypeError, ValueError):
        _bad("id2label", id2label, "integer ids as keys")
    if sorted(by_id) != list(range(len(by_id))):
        _bad("id2label", id2label, "ids exactly 0..n-1")
    return tuple(by_id[i] for i in range(len(by_id)))


def _check_probability(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        _bad(name, value, "a number in [0, 1)")


def _bad(name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"config field {name}={value!r} is invalid; allowed: {allowed}")


# ---- presets: plain functions returning configs ----------------------------------------------------
def tiny(**overrides: Any) -> PreLNConfig:
    """A few-KB model for tests: every structural feature, nothing big."""
    return PreLNConfig(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=64, max_position_embeddings=66).replace(**overrides)


def base(**overrides: Any) -> PreLNConfig:
    """RoBERTa-base shape (125M parameters)."""
    return PreLNConfig().replace(**overrides)


def large(**overrides: Any) -> PreLNConfig:
    """The andreasmadsen/efficient_mlm_m0.xx shape (RoBERTa-large, 355M parameters)."""
    return PreLNConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                       intermediate_size=4096).replace(**overrides)


PRESETS = {"tiny": tiny, "base": base, "large": large}

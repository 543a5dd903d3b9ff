"""RoBERTa-PreLayerNorm in TensorFlow: the base encoder and all six task heads.

Mirrors `prelnedge.models.torch` class by class, attribute by attribute. Shapes are written
`# (B, L, H)`: B batch, L sequence length, H hidden size, nh heads, hd head size, V vocabulary,
N labels, C choices.

Why plain `tf.Module` and not Keras 3 layers:
- variable paths are explicit: they are the attribute path (`roberta_prelayernorm/encoder/
  layer_._0/attention/self/query/kernel`), exactly the paths `params.convert(..., "tf")` gives,
  so loading is a dictionary match with no name scopes, build() calls or Keras-3 path rules;
- `__call__` is a plain function of tensors, so a `tf.function` around it traces to an ordinary graph
  that the TFLite converter turns into TFLITE_BUILTINS only (export and quantization go through a
  SavedModel, `from_saved_model`: prelnedge.export.tflite.convert_tf_reference). Keras 3's
  export path produced a model needing Flex ops, which the LiteRT Python interpreter cannot run.
TFLite-driven choices: no `x[:, None]` on dynamic shapes (reshape instead), position ids by int
arithmetic and an int32 cumsum, LayerNorm by mean/subtract/multiply + `tf.math.rsqrt`, exact erf GELU,
the causal triangle by `tf.range`
comparisons. Dropout is omitted: this is an inference reference.
"""

from __future__ import annotations

import collections.abc
import math
from typing import Callable

import numpy as np
import tensorflow as tf

from prelnedge.config import PreLNConfig
from prelnedge.errors import CheckpointError
from prelnedge.tasks import Task
from prelnedge.checkpoint.params import LAYER_SPELLING, convert


def _zeros(*shape: int) -> tf.Variable:
    return tf.Variable(tf.zeros(shape, tf.float32), trainable=False)


# ---- building blocks (torch.nn.Linear / LayerNorm / Embedding) ------------------------------------
class Dense(tf.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.kernel, self.bias = _zeros(n_in, n_out), _zeros(n_out)  # kernel is (in, out)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:  # (..., in) -> (..., out)
        lead = tf.shape(x)[:-1]
        flat = tf.reshape(x, [-1, self.kernel.shape[0]])  # 2-D matmul: FULLY_CONNECTED in TFLite
        y = tf.matmul(flat, self.kernel) + self.bias
        return tf.reshape(y, tf.concat([lead, [self.kernel.shape[1]]], axis=0))


class LayerNorm(tf.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.gamma, self.beta = _zeros(size), _zeros(size)
        self.eps = eps

    def __call__(self, x: tf.Tensor) -> tf.Tensor:  # biased variance over the last axis, as torch
        # Mean, Sub, Mul and Rsqrt only: every one has int8 and int16 kernels in LiteRT, so the
        # full-integer modes quantize it (a DIV, or moments' SQUARED_DIFFERENCE, would not run).
        centered = x - tf.reduce_mean(x, axis=-1, keepdims=True)
        variance = tf.reduce_mean(centered * centered, axis=-1, keepdims=True)
        return centered * tf.math.rsqrt(variance + self.eps) * self.gamma + self.beta


class Embedding(tf.Module):
    def __init__(self, rows: int, size: int) -> None:
        super().__init__()
        self.embeddings = _zeros(rows, size)

    def __call__(self, ids: tf.Tensor) -> tf.Tensor:  # (B, L) int -> (B, L, H)
        return tf.gather(self.embeddings, ids)


def gelu(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.gelu(x, approximate=False)  # exact erf form, as torch's F.gelu


# ---- the encoder ------------------------------------------------------------------------------------
def position_ids_from_input_ids(input_ids: tf.Tensor, pad_token_id: int) -> tf.Tensor:
    """Real tokens get pad_token_id+1, +2, ...; pads get pad_token_id. int32 throughout."""
    # 0 for pads, 1 otherwise, by arithmetic: TFLite's 16x8 quantizer wants float ranges for the
    # inputs of a comparison op, and token ids have none
    not_pad = tf.minimum(tf.abs(input_ids - pad_token_id), 1)  # (B, L)
    return tf.cumsum(not_pad, axis=1) * not_pad + pad_token_id


class PreLNEmbeddings(tf.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.word_embeddings = Embedding(config.vocab_size, h)
        self.position_embeddings = Embedding(config.max_position_embeddings, h)
        self.token_type_embeddings = Embedding(config.type_vocab_size, h)
        self.LayerNorm = LayerNorm(h, config.layer_norm_eps)
        self.pad_token_id = config.pad_token_id

    def __call__(self, input_ids: tf.Tensor) -> tf.Tensor:  # (B, L) int32 -> (B, L, H)
        positions = position_ids_from_input_ids(input_ids, self.pad_token_id)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings.embeddings[0]  # token_type_ids are always zeros
        return self.LayerNorm(x)


class PreLNSelfAttention(tf.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.num_heads, self.head_dim = config.num_attention_heads, config.head_dim
        self.query, self.key, self.value = Dense(h, h), Dense(h, h), Dense(h, h)

    def __call__(self, x: tf.Tensor, mask_bias: tf.Tensor) -> tf.Tensor:  # (B, L, H), (B, 1, 1|L, L)
        shape = tf.shape(x)
        b, length = shape[0], shape[1]

        def heads(t: tf.Tensor) -> tf.Tensor:  # (B, L, H) -> (B, nh, L, hd)
            return tf.transpose(tf.reshape(t, [b, length, self.num_heads, self.head_dim]), [0, 2, 1, 3])

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(self.head_dim) + mask_bias  # (B, nh, L, L)
        context = tf.matmul(tf.nn.softmax(scores, axis=-1), v)  # (B, nh, L, hd)
        return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [b, length, self.num_heads * self.head_dim])


class PreLNAttentionOutput(tf.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = Dense(config.hidden_size, config.hidden_size)


class PreLNAttention(tf.Module):
    """Self-attention -> output projection. Its LayerNorm and the residual add are applied by PreLNLayer."""

    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.LayerNorm = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.self = PreLNSelfAttention(config)
        self.output = PreLNAttentionOutput(config)

    def __call__(self, x: tf.Tensor, mask_bias: tf.Tensor) -> tf.Tensor:  # (B, L, H) -> (B, L, H)
        return self.output.dense(self.self(x, mask_bias))


class PreLNIntermediate(tf.Module):
    """Dense -> exact (erf) GELU. Its LayerNorm is applied by PreLNLayer."""

    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.LayerNorm = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.dense = Dense(config.hidden_size, config.intermediate_size)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:  # (B, L, H) -> (B, L, I)
        return gelu(self.dense(x))


class PreLNOutput(tf.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = Dense(config.intermediate_size, config.hidden_size)


class PreLNLayer(tf.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.attention = PreLNAttention(config)
        self.intermediate = PreLNIntermediate(config)
        self.output = PreLNOutput(config)

    def __call__(self, x: tf.Tensor, mask_bias: tf.Tensor) -> tf.Tensor:  # (B, L, H) -> (B, L, H)
        # pre-LN: each branch sees a normalised copy; the residual stream is normalised only after the
        # last layer (PreLNModel.LayerNorm)
        ln_attn, ln_ffn = self.attention.LayerNorm, self.intermediate.LayerNorm
        x = x + self.attention(ln_attn(x), mask_bias)
        x = x + self.feed_forward(ln_ffn(x))
        return x

    def feed_forward(self, x: tf.Tensor) -> tf.Tensor:  # (B, L, H) -> (B, L, I) -> (B, L, H)
        return self.output.dense(self.intermediate(x))


class PreLNEncoder(tf.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.layer = [PreLNLayer(config) for _ in range(config.num_hidden_layers)]


class PreLNPooler(tf.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = Dense(config.hidden_size, config.hidden_size)

    def __call__(self, last_hidden_state: tf.Tensor) -> tf.Tensor:  # (B, L, H) -> (B, H)
        return tf.tanh(self.dense(last_hidden_state[:, 0]))


def attention_bias(attention_mask: tf.Tensor, causal: bool) -> tf.Tensor:
    """0 where a query may attend a key, float32's lowest value elsewhere (as torch / HF).
    (B, L) -> (B, 1, 1, L), or (B, 1, L, L) with the causal triangle.

    The mask turns float at once and every reshape acts on floats: TFLite's 16x8 quantizer wants
    calibrated ranges for every tensor an op like Reshape touches, and an int input has none."""
    lowest = tf.constant(tf.float32.min, tf.float32)
    bias = (1.0 - tf.cast(attention_mask, tf.float32)) * lowest  # (B, L): the mask is 0 or 1
    bias = tf.expand_dims(tf.expand_dims(bias, 1), 1)  # (B, 1, 1, L)
    if causal:
        positions = tf.range(tf.shape(attention_mask)[1])
        lower = tf.reshape(positions, [1, -1]) <= tf.reshape(positions, [-1, 1])  # (L, L): key <= query
        # lowest + lowest overflows to -inf; clamp back so a bias is never below float32's lowest
        bias = tf.maximum(bias + tf.where(lower, tf.constant(0.0, tf.float32), lowest), lowest)  # (B, 1, L, L)
    return bias


class PreLNModel(tf.Module):
    """The encoder. Returns last_hidden_state (after the final LayerNorm), the pooled output when it
    has a pooler, and the per-layer hidden states taken BEFORE the final LayerNorm (as HF does)."""

    def __init__(self, config: PreLNConfig, with_pooler: bool) -> None:
        super().__init__()
        self.config = config
        self.embeddings = PreLNEmbeddings(config)
        self.encoder = PreLNEncoder(config)
        self.LayerNorm = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.pooler = PreLNPooler(config) if with_pooler else None

    def __call__(self, input_ids: tf.Tensor, attention_mask: tf.Tensor, causal: bool) -> dict:
        x = self.embeddings(input_ids)  # (B, L, H)
        mask_bias = attention_bias(attention_mask, causal)
        hidden_states = [x]
        for layer in self.encoder.layer:
            x = layer(x, mask_bias)
            hidden_states.append(x)
        out = {"last_hidden_state": self.LayerNorm(x), "hidden_states": hidden_states}
        if self.pooler is not None:
            out["pooler_output"] = self.pooler(out["last_hidden_state"])
        return out


# ---- heads --------------------------------------------------------------------------------------------
class PreLNLMHead(tf.Module):
    """dense -> GELU -> LayerNorm -> decoder tied to the word embeddings, plus its own bias."""

    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = Dense(config.hidden_size, config.hidden_size)
        self.layer_norm = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.bias = _zeros(config.vocab_size)

    def __call__(self, x: tf.Tensor, word_embeddings: tf.Variable) -> tf.Tensor:  # (B, L, H) -> (B, L, V)
        shape = tf.shape(x)
        h = self.layer_norm(gelu(self.dense(x)))
        flat = tf.reshape(h, [-1, word_embeddings.shape[1]])  # (B*L, H)
        logits = tf.matmul(flat, word_embeddings, transpose_b=True) + self.bias  # (B*L, V)
        return tf.reshape(logits, [shape[0], shape[1], word_embeddings.shape[0]])


class PreLNClassificationHead(tf.Module):
    """Sequence classification: token 0 of last_hidden_state -> dense -> tanh -> out_proj."""

    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = Dense(config.hidden_size, config.hidden_size)
        self.out_proj = Dense(config.hidden_size, config.num_labels)

    def __call__(self, last_hidden_state: tf.Tensor) -> tf.Tensor:  # (B, L, H) -> (B, N)
        return self.out_proj(tf.tanh(self.dense(last_hidden_state[:, 0])))


# head kind (prelnedge.tasks) -> the head module, stored under the task's HF prefix (`task.head`);
# its parameters are the rows of prelnedge.checkpoint.params.HEAD_PARAMS for the same kind
HEADS: dict[str, Callable[[PreLNConfig], tf.Module] | None] = {
    "features": None,  # the encoder's own outputs
    "lm": PreLNLMHead,
    "sequence": PreLNClassificationHead,
    "token": lambda config: Dense(config.hidden_size, config.num_labels),
    "choice": lambda config: Dense(config.hidden_size, 1),  # a score per candidate
    "span": lambda config: Dense(config.hidden_size, 2),  # start and end per token
}


class PreLNForTask(tf.Module):
    """The encoder (under `roberta_prelayernorm`) and the head the task names (`lm_head`,
    `classifier` or `qa_outputs`). __call__ returns the registry's output names."""

    def __init__(self, config: PreLNConfig, task: Task) -> None:
        super().__init__()
        self.config, self.task = config, task
        self.roberta_prelayernorm = PreLNModel(config, with_pooler=task.uses_pooler)
        head = HEADS[task.head_kind]
        if head is not None:
            setattr(self, task.head, head(config))

    def __call__(self, input_ids: tf.Tensor, attention_mask: tf.Tensor,
                 output_hidden_states: bool = False) -> dict[str, tf.Tensor]:
        task, kind = self.task, self.task.head_kind
        input_ids = tf.cast(input_ids, tf.int32)  # int32 inside: TFLite gather / cumsum
        attention_mask = tf.cast(attention_mask, tf.int32)
        if kind == "choice":  # (B, C, L) -> (B*C, L)
            shape = tf.shape(input_ids)
            batch, choices = shape[0], shape[1]
            input_ids = tf.reshape(input_ids, [-1, shape[2]])
            attention_mask = tf.reshape(attention_mask, [-1, shape[2]])
        enc = self.roberta_prelayernorm(input_ids, attention_mask, causal=task.causal)
        last = enc["last_hidden_state"]  # (B, L, H)
        head = getattr(self, task.head, None)
        if kind == "features":
            out = {"last_hidden_state": last, "pooler_output": enc["pooler_output"]}
        elif kind == "lm":
            out = {"logits": head(last, self.roberta_prelayernorm.embeddings.word_embeddings.embeddings)}
        elif kind == "choice":
            out = {"logits": tf.reshape(head(enc["pooler_output"]), [batch, choices])}
        elif kind == "span":
            start, end = tf.unstack(head(last), num=2, axis=-1)  # (B, L) each
            out = {"start_logits": start, "end_logits": end}
        else:  # sequence, token: the head maps last_hidden_state to logits
            out = {"logits": head(last)}
        if output_hidden_states:
            out.update({f"hidden_states.{i}": h for i, h in enumerate(enc["hidden_states"])})
        return out


# ---- loading ------------------------------------------------------------------------------------------
def variables_by_path(module: tf.Module, prefix: str = "") -> dict[str, tf.Variable]:
    """{attribute path: variable}, spelled as the parameter table's "tf" paths (list items as layer_._i)."""
    found: dict[str, tf.Variable] = {}
    for name, value in sorted(vars(module).items()):
        if name.startswith("_"):
            continue
        path = f"{prefix}{name}"
        if isinstance(value, tf.Variable):
            found[path] = value
        elif isinstance(value, tf.Module):
            found.update(variables_by_path(value, path + "/"))
        elif isinstance(value, collections.abc.Sequence) and not isinstance(value, str):
            for i, item in enumerate(value):
                if isinstance(item, tf.Module):
                    spelled = LAYER_SPELLING["tf"].format(i) if name == "layer" else f"{name}_{i}"
                    found.update(variables_by_path(item, f"{prefix}{spelled}/"))
    return found


def build_tf_model(checkpoint) -> PreLNForTask:
    """A PreLNForTask holding the checkpoint's weights; every variable assigned, every weight used."""
    model = PreLNForTask(checkpoint.config, checkpoint.task)
    weights = convert(checkpoint.state, checkpoint.config, checkpoint.task, "tf")
    variables = variables_by_path(model)
    missing, extra = sorted(set(variables) - set(weights)), sorted(set(weights) - set(variables))
    if missing or extra:
        raise CheckpointError(f"TF model and weight table disagree: unassigned {missing}, unused {extra}")
    for path, variable in variables.items():
        value = weights[path]
        if tuple(variable.shape) != value.shape:
            raise CheckpointError(f"{path} has shape {value.shape}, the TF model wants {tuple(variable.shape)}")
        variable.assign(value)
    return model


def build_forward(checkpoint):
    """numpy in, numpy out: the contract every framework module offers to prelnedge.models.reference."""
    model = build_tf_model(checkpoint)
    rank = len(checkpoint.task.inputs[0].axes)
    spec = tf.TensorSpec([None] * rank, tf.int64)
    traced = {}  # output_hidden_states -> tf.function with dynamic shapes (one trace each)

    def forward(input_ids, attention_mask, output_hidden_states: bool):
        flag = bool(output_hidden_states)
        if flag not in traced:
            traced[flag] = tf.function(lambda ids, mask: model(ids, mask, flag), input_signature=[spec, spec])
        out = traced[flag](tf.constant(input_ids, tf.int64), tf.constant(attention_mask, tf.int64))
        return {name: np.asarray(value.numpy()) for name, value in out.items()}

    return forward

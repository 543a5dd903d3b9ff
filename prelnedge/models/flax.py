"""RoBERTa-PreLayerNorm in Flax (linen): the base encoder and all six task heads.

Mirrors `prelnedge.models.torch` class for class and attribute for attribute; shapes are written
`# (B, L, H)` with the same legend (B batch, L length, H hidden, nh heads, hd head size,
V vocabulary, N labels, C choices). Dropout is omitted: this is an inference reference.

Why linen and not NNX: a linen module is a stateless description and `module.apply({"params":
params}, ...)` is a pure function of a plain nested dict. That is exactly what `jax2tf.convert`
and `jax.jit` take, and the plain dict is what `params.convert(..., "flax")` + `to_nested`
produce, so the weight table *is* the parameter tree (checked against `jax.eval_shape(init)`).
NNX keeps state inside objects, which would need a split/merge step before both jit and jax2tf.

Numerics (flax vs transformers, fp32, XLA CPU default precision: worst peak-relative error
~1.7e-6 over all tasks and hidden states on the 3-layer test models, so no precision override):
- LayerNorm uses `use_fast_variance=False`, i.e. torch's E[(x - mean)^2]. Flax's default
  E[x^2] - E[x]^2 cancels when |mean| >> std; on the random test models both gave ~1e-6, so this
  is a precaution for trained checkpoints, not a measured fix.
- GELU is the exact erf form; the attention bias is 0 / float32 min, as HF does.
- Position ids are int32 (x64 stays off). Ops are chosen so jax2tf with symbolic shapes gives a
  builtins-only TFLite model: see position_ids_from_input_ids, lower_triangle, first_token.
"""

from __future__ import annotations

import math
import os
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from prelnedge.checkpoint.params import convert, to_nested
from prelnedge.config import PreLNConfig
from prelnedge.tasks import Task

Array = jax.Array


def _cpu_unless_chosen() -> None:
    """Run the reference on CPU unless the caller chose a platform: a GPU build of jaxlib would
    otherwise give other numerics and make jax2tf lower for CUDA, which TFLite cannot take. JAX reads
    JAX_PLATFORMS when it first initialises its backends (the first computation), not at import, so
    setting it here, before this module's first computation, is in time and leaves importing this
    module free of side effects. (Once JAX has initialised, this has no effect.)"""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def position_ids_from_input_ids(input_ids: Array, pad_token_id: int) -> Array:
    """Real tokens get pad_token_id+1, +2, ...; pad tokens get pad_token_id (fairseq/HF).

    The running count is a sum against a lower triangle, not `jnp.cumsum`: with a symbolic length
    jax2tf lowers cumsum to a custom call the TFLite converter rejects. Exact in int32."""
    not_pad = (input_ids != pad_token_id).astype(jnp.int32)  # (B, L)
    count = jnp.sum(not_pad[:, None, :] * lower_triangle(input_ids.shape[1]).astype(jnp.int32), axis=-1)
    return count * not_pad + pad_token_id  # (B, L), count = cumsum(not_pad)


def lower_triangle(length) -> Array:  # (L, L) bool, [i, j] = j <= i
    """From two aranges: `jnp.tril`/`broadcasted_iota` of a symbolic length do not convert to TFLite
    (an index_cast of the shape fails), `jnp.arange` does."""
    position = jnp.arange(length)
    return position[:, None] >= position[None, :]


def first_token(x: Array) -> Array:  # (B, L, H) -> (B, H)
    """x[:, 0] as a static slice: plain indexing becomes a dynamic gather under jax2tf's symbolic
    shapes, which TFLite does not support."""
    return jax.lax.index_in_dim(x, 0, axis=1, keepdims=False)


def _layer_norm(config: PreLNConfig, **kwargs) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=config.layer_norm_eps, use_fast_variance=False, **kwargs)


class PreLNEmbeddings(nn.Module):
    config: PreLNConfig

    def setup(self) -> None:
        c = self.config
        self.word_embeddings = nn.Embed(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embed(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embed(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = _layer_norm(c)  # the embedding sum is normalised (unlike fairseq's prenorm)

    def __call__(self, input_ids: Array) -> Array:  # (B, L) -> (B, L, H)
        positions = position_ids_from_input_ids(input_ids, self.config.pad_token_id)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings.embedding[0]  # token_type_ids are always zeros
        return self.LayerNorm(x)


class PreLNSelfAttention(nn.Module):
    config: PreLNConfig

    def setup(self) -> None:
        h = self.config.hidden_size
        self.query, self.key, self.value = nn.Dense(h), nn.Dense(h), nn.Dense(h)

    def __call__(self, x: Array, mask_bias: Array) -> Array:  # (B, L, H), (B, 1, 1|L, L)
        b, length, h = x.shape
        nh, hd = self.config.num_attention_heads, self.config.head_dim

        def heads(t: Array) -> Array:  # (B, L, H) -> (B, nh, L, hd)
            return t.reshape(b, length, nh, hd).transpose(0, 2, 1, 3)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + mask_bias  # (B, nh, L, L)
        context = jax.nn.softmax(scores, axis=-1) @ v  # (B, nh, L, hd)
        return context.transpose(0, 2, 1, 3).reshape(b, length, h)


class PreLNAttentionOutput(nn.Module):
    config: PreLNConfig

    def setup(self) -> None:
        self.dense = nn.Dense(self.config.hidden_size)


class PreLNAttention(nn.Module):
    """Self-attention -> output projection. Its LayerNorm and the residual add are applied by PreLNLayer."""
    config: PreLNConfig

    def setup(self) -> None:
        self.LayerNorm = _layer_norm(self.config)
        self.self = PreLNSelfAttention(self.config)
        self.output = PreLNAttentionOutput(self.config)

    def __call__(self, x: Array, mask_bias: Array) -> Array:  # (B, L, H) -> (B, L, H)
        return self.output.dense(self.self(x, mask_bias))


class PreLNIntermediate(nn.Module):
    """Dense -> exact (erf) GELU. Its LayerNorm is applied by PreLNLayer."""
    config: PreLNConfig

    def setup(self) -> None:
        self.LayerNorm = _layer_norm(self.config)
        self.dense = nn.Dense(self.config.intermediate_size)

    def __call__(self, x: Array) -> Array:  # (B, L, H) -> (B, L, I)
        return jax.nn.gelu(self.dense(x), approximate=False)


class PreLNOutput(nn.Module):
    config: PreLNConfig

    def setup(self) -> None:
        self.dense = nn.Dense(self.config.hidden_size)


class PreLNLayer(nn.Module):
    config: PreLNConfig

    def setup(self) -> None:
        self.attention = PreLNAttention(self.config)
        self.intermediate = PreLNIntermediate(self.config)
        self.output = PreLNOutput(self.config)

    def __call__(self, x: Array, mask_bias: Array) -> Array:  # (B, L, H) -> (B, L, H)
        # pre-LN: each branch sees a normalised copy; the residual stream is normalised only after the
        # last layer (PreLNModel.LayerNorm)
        ln_attn, ln_ffn = self.attention.LayerNorm, self.intermediate.LayerNorm
        x = x + self.attention(ln_attn(x), mask_bias)
        x = x + self.feed_forward(ln_ffn(x))
        return x

    def feed_forward(self, x: Array) -> Array:  # (B, L, H) -> (B, L, I) -> (B, L, H)
        return self.output.dense(self.intermediate(x))


class PreLNEncoder(nn.Module):
    config: PreLNConfig

    def setup(self) -> None:  # linen names list elements layer_0, layer_1, ...
        self.layer = [PreLNLayer(self.config) for _ in range(self.config.num_hidden_layers)]


class PreLNPooler(nn.Module):
    config: PreLNConfig

    def setup(self) -> None:
        self.dense = nn.Dense(self.config.hidden_size)

    def __call__(self, last_hidden_state: Array) -> Array:  # (B, L, H) -> (B, H)
        return jnp.tanh(self.dense(first_token(last_hidden_state)))


def attention_bias(attention_mask: Array, causal: bool, dtype=jnp.float32) -> Array:
    """0 where a query may attend a key, the dtype's lowest value elsewhere (as HF does).
    (B, L) -> (B, 1, 1, L), or (B, 1, L, L) with the causal triangle."""
    allowed = (attention_mask != 0)[:, None, None, :]
    if causal:
        length = attention_mask.shape[1]
        allowed = allowed & lower_triangle(length)
    return jnp.where(allowed, jnp.zeros((), dtype), jnp.finfo(dtype).min)


class PreLNModel(nn.Module):
    """The encoder. Returns last_hidden_state (after the final LayerNorm), the pooled output when it
    has a pooler, and the per-layer hidden states taken BEFORE the final LayerNorm (as HF does)."""
    config: PreLNConfig
    with_pooler: bool

    def setup(self) -> None:
        self.embeddings = PreLNEmbeddings(self.config)
        self.encoder = PreLNEncoder(self.config)
        self.LayerNorm = _layer_norm(self.config)
        self.pooler = PreLNPooler(self.config) if self.with_pooler else None

    def __call__(self, input_ids: Array, attention_mask: Array, causal: bool) -> dict:
        x = self.embeddings(input_ids)  # (B, L, H)
        mask_bias = attention_bias(attention_mask, causal, x.dtype)
        hidden_states = [x]
        for layer in self.encoder.layer:
            x = layer(x, mask_bias)
            hidden_states.append(x)
        out = {"last_hidden_state": self.LayerNorm(x), "hidden_states": hidden_states}
        if self.pooler is not None:
            out["pooler_output"] = self.pooler(out["last_hidden_state"])
        return out


class PreLNLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> decoder tied to the word embeddings, plus its own bias."""
    config: PreLNConfig

    def setup(self) -> None:
        c = self.config
        self.dense = nn.Dense(c.hidden_size)
        self.layer_norm = _layer_norm(c)
        self.bias = self.param("bias", nn.initializers.zeros, (c.vocab_size,))

    def __call__(self, x: Array, word_embeddings: nn.Embed) -> Array:  # (B, L, H) -> (B, L, V)
        x = self.layer_norm(jax.nn.gelu(self.dense(x), approximate=False))
        return word_embeddings.attend(x) + self.bias  # x @ E.T: the tied decoder


class PreLNClassificationHead(nn.Module):
    """Sequence classification: token 0 of last_hidden_state -> dense -> tanh -> out_proj."""
    config: PreLNConfig

    def setup(self) -> None:
        self.dense = nn.Dense(self.config.hidden_size)
        self.out_proj = nn.Dense(self.config.num_labels)

    def __call__(self, last_hidden_state: Array) -> Array:  # (B, L, H) -> (B, N)
        return self.out_proj(jnp.tanh(self.dense(first_token(last_hidden_state))))


# head kind (prelnedge.tasks) -> the head module, stored under the task's HF prefix (`task.head`);
# its parameters are the rows of prelnedge.checkpoint.params.HEAD_PARAMS for the same kind
HEADS: dict[str, Callable[[PreLNConfig], nn.Module] | None] = {
    "features": None,  # the encoder's own outputs
    "lm": PreLNLMHead,
    "sequence": PreLNClassificationHead,
    "token": lambda config: nn.Dense(config.num_labels),
    "choice": lambda config: nn.Dense(1),  # a score per candidate
    "span": lambda config: nn.Dense(2),  # start and end per token
}


class PreLNForTask(nn.Module):
    """The encoder (under `roberta_prelayernorm`) and the head the task names (`lm_head`,
    `classifier` or `qa_outputs`). __call__ returns the registry's output names."""
    config: PreLNConfig
    task: Task

    def setup(self) -> None:
        self.roberta_prelayernorm = PreLNModel(self.config, with_pooler=self.task.uses_pooler)
        head = HEADS[self.task.head_kind]
        if head is not None:
            setattr(self, self.task.head, head(self.config))

    def __call__(self, input_ids: Array, attention_mask: Array,
                 output_hidden_states: bool = False) -> dict[str, Array]:
        task, kind = self.task, self.task.head_kind
        if kind == "choice":  # (B, C, L) -> (B*C, L)
            batch, choices = input_ids.shape[:2]
            input_ids = input_ids.reshape(batch * choices, -1)
            attention_mask = attention_mask.reshape(batch * choices, -1)
        enc = self.roberta_prelayernorm(input_ids, attention_mask, causal=task.causal)
        last = enc["last_hidden_state"]  # (B, L, H)
        head = getattr(self, task.head, None)
        if kind == "features":
            out = {"last_hidden_state": last, "pooler_output": enc["pooler_output"]}
        elif kind == "lm":
            out = {"logits": head(last, self.roberta_prelayernorm.embeddings.word_embeddings)}
        elif kind == "choice":
            out = {"logits": head(enc["pooler_output"]).reshape(batch, choices)}
        elif kind == "span":
            logits = head(last)  # (B, L, 2)
            start, end = (jax.lax.index_in_dim(logits, i, axis=-1, keepdims=False) for i in (0, 1))
            out = {"start_logits": start, "end_logits": end}  # static slices (see first_token)
        else:  # sequence, token: the head maps last_hidden_state to logits
            out = {"logits": head(last)}
        if output_hidden_states:
            out.update({f"hidden_states.{i}": h for i, h in enumerate(enc["hidden_states"])})
        return out


def _dummy_inputs(task: Task) -> tuple[np.ndarray, np.ndarray]:
    shape = (1, 2, 3) if len(task.inputs[0].axes) == 3 else (1, 3)
    return np.zeros(shape, np.int32), np.ones(shape, np.int32)


def build_flax_model(checkpoint) -> tuple[PreLNForTask, dict]:
    """(module, params) holding the checkpoint's canonical weights; every path and shape is
    checked against the tree `module.init` would create."""
    _cpu_unless_chosen()
    config, task = checkpoint.config, checkpoint.task
    module = PreLNForTask(config, task)
    params = to_nested(convert(checkpoint.state, config, task, "flax"))
    expected = jax.eval_shape(module.init, jax.random.PRNGKey(0), *_dummy_inputs(task))["params"]
    want = {jax.tree_util.keystr(p): tuple(v.shape) for p, v in jax.tree_util.tree_leaves_with_path(expected)}
    got = {jax.tree_util.keystr(p): tuple(v.shape) for p, v in jax.tree_util.tree_leaves_with_path(params)}
    if want != got:
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        shapes = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        raise AssertionError(f"flax params differ from the module's tree: missing {missing}, "
                             f"extra {extra}, shape mismatches {[(k, got[k], want[k]) for k in shapes]}")
    return module, jax.tree_util.tree_map(jnp.asarray, params)


def build_forward(checkpoint):
    """numpy in, numpy out: the contract every framework module offers to prelnedge.models.reference."""
    module, params = build_flax_model(checkpoint)

    @partial(jax.jit, static_argnums=3)  # one compiled graph per (shape, output_hidden_states)
    def apply(params, input_ids, attention_mask, output_hidden_states: bool):
        return module.apply({"params": params}, input_ids, attention_mask, output_hidden_states)

    def forward(input_ids, attention_mask, output_hidden_states: bool):
        # int32 at the boundary: x64 stays off, and ids < vocab_size fit.
        ids, mask = np.asarray(input_ids, np.int32), np.asarray(attention_mask, np.int32)
        out = apply(params, ids, mask, bool(output_hidden_states))
        return {name: np.asarray(value) for name, value in out.items()}

    return forward


def to_tf_module(module: PreLNForTask, params: dict, task: Task):
    """A tf.Module whose `serve` tf.function (int32 `input_ids`/`attention_mask`, every axis dynamic)
    returns a dict with the registry's output names, made by jax2tf with polymorphic batch (and
    choice) and length. The weights are the module's tf.Variables (`weights`), passed to the
    converted function as arguments.

    Why variables and not closed-over constants: a closed-over weight is embedded in the serialized
    StableHLO module as a dense attribute, and the graph, the converter's MLIR and each of its
    passes then hold copies of it (base size peaked at 21.9 GiB, issue 13). As arguments, the
    module holds only the computation; the TFLite converter freezes each variable once.

    For TFLite: `TFLiteConverter.from_concrete_functions([m.serve.get_concrete_function()], m)`.
    Passing the tf.function itself (or nothing) as the trackable object skips the SavedModel path:
    the model then has NO signature and outputs named Identity_*."""
    import tensorflow as tf
    from jax.experimental import jax2tf

    _cpu_unless_chosen()
    rank = len(task.inputs[0].axes)
    poly = "(b, c, s)" if rank == 3 else "(b, s)"

    def apply(weights, input_ids, attention_mask):
        return module.apply({"params": weights}, input_ids, attention_mask)

    # the weights' shapes are fixed (None: not polymorphic); only batch (choice) and length vary
    converted = jax2tf.convert(apply, polymorphic_shapes=[None, poly, poly], with_gradient=False)
    spec = [None] * rank
    leaves, tree = jax.tree_util.tree_flatten(params)
    holder = tf.Module()
    # a flat list (tracked by the Module, so a SavedModel keeps it); the tree is rebuilt per call
    holder.weights = [tf.Variable(np.asarray(leaf), trainable=False) for leaf in leaves]
    del leaves

    @tf.function(autograph=False, input_signature=[tf.TensorSpec(spec, tf.int32, name="input_ids"),
                                                   tf.TensorSpec(spec, tf.int32, name="attention_mask")])
    def serve(input_ids, attention_mask):
        out = converted(tree.unflatten(list(holder.weights)), input_ids, attention_mask)
        return {name: out[name] for name in task.output_names}

    holder.serve = serve
    return holder

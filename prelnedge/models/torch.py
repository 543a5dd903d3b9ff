"""RoBERTa-PreLayerNorm in PyTorch: the base encoder and all six task heads.

Shapes are written `# (B, L, H)`: B batch, L sequence length, H hidden size, nh attention heads,
hd head size, V vocabulary, N labels, C choices, P cached (past) length.

The causal LM also runs as a cached decoder (`PreLNForTask.forward(..., past=...)`): each layer's keys
and values for the P earlier tokens come in, the current L tokens attend to them and to themselves,
and the keys/values of all P + L tokens go out. P may be 0, so one graph serves prompt and steps.

Parameter paths equal the canonical state dict (`prelnedge.checkpoint.params`), which equals Hugging Face's
RobertaPreLayerNorm* naming, so `load_state_dict(..., strict=True)` is the name check. Hugging Face keeps
each block's LayerNorm inside the branch it normalises (`attention.LayerNorm`, `intermediate.LayerNorm`);
PreLNLayer applies them, so the pre-LN order reads in two lines there.
Dropout is omitted: this is an inference reference.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from prelnedge.config import PreLNConfig
from prelnedge.tasks import Task

KeyValue = tuple[Tensor, Tensor]  # one layer's cached keys and values, each (B, nh, P, hd)


def position_ids_from_input_ids(input_ids: Tensor, pad_token_id: int, past_real: Tensor | None = None) -> Tensor:
    """Real tokens get pad_token_id+1, +2, ...; pad tokens get pad_token_id (fairseq's convention,
    which HF kept). Derived from the ids, not from the attention mask.

    past_real (B,): real tokens already in the cache; positions continue after them. Hugging Face adds
    the cache's length instead (`cache_length`, pads included): the same for an unpadded past, while
    counting real tokens is what makes a right-padded prompt continue exactly as full recomputation
    of the padded row does (the pads hold no position there either)."""
    not_pad = (input_ids != pad_token_id).to(torch.int64)
    counted = torch.cumsum(not_pad, dim=1)
    if past_real is not None:
        counted = counted + past_real[:, None]
    return counted * not_pad + pad_token_id


class PreLNEmbeddings(nn.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, h)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, h)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, h)
        # Unlike fairseq's `roberta_prenorm`, this model normalises the embedding sum.
        self.LayerNorm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.pad_token_id = config.pad_token_id

    def forward(self, input_ids: Tensor, past_real: Tensor | None = None) -> Tensor:  # (B, L) -> (B, L, H)
        positions = position_ids_from_input_ids(input_ids, self.pad_token_id, past_real)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings.weight[0]  # token_type_ids are always zeros
        return self.LayerNorm(x)


class PreLNSelfAttention(nn.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.num_heads, self.head_dim = config.num_attention_heads, config.head_dim
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)

    def forward(self, x: Tensor, mask_bias: Tensor, past: KeyValue | None = None) -> tuple[Tensor, KeyValue]:
        """(B, L, H), (B, 1, 1|L, P+L) [, ((B, nh, P, hd), (B, nh, P, hd))] -> (B, L, H) and the keys and
        values of all P + L tokens (the cache the next step takes)."""
        b, length, h = x.shape

        def heads(t: Tensor) -> Tensor:  # (B, L, H) -> (B, nh, L, hd)
            return t.view(b, length, self.num_heads, self.head_dim).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # (B, nh, P+L, hd)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_bias  # (B, nh, L, P+L)
        context = scores.softmax(dim=-1) @ v  # (B, nh, L, hd)
        return context.transpose(1, 2).reshape(b, length, h), (k, v)


class PreLNAttentionOutput(nn.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)


class PreLNAttention(nn.Module):
    """Self-attention -> output projection. Its LayerNorm and the residual add are applied by PreLNLayer."""

    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self = PreLNSelfAttention(config)
        self.output = PreLNAttentionOutput(config)

    def forward(self, x: Tensor, mask_bias: Tensor, past: KeyValue | None = None) -> tuple[Tensor, KeyValue]:
        context, present = self.self(x, mask_bias, past)  # (B, L, H)
        return self.output.dense(context), present


class PreLNIntermediate(nn.Module):
    """Dense -> exact (erf) GELU. Its LayerNorm is applied by PreLNLayer."""

    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, x: Tensor) -> Tensor:  # (B, L, H) -> (B, L, I)
        return F.gelu(self.dense(x))


class PreLNOutput(nn.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)


class PreLNLayer(nn.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.attention = PreLNAttention(config)
        self.intermediate = PreLNIntermediate(config)
        self.output = PreLNOutput(config)

    def forward(self, x: Tensor, mask_bias: Tensor, past: KeyValue | None = None) -> tuple[Tensor, KeyValue]:
        # (B, L, H) -> (B, L, H) and this layer's keys/values
        # pre-LN: each branch sees a normalised copy; the residual stream is normalised only after the
        # last layer (PreLNModel.LayerNorm)
        ln_attn, ln_ffn = self.attention.LayerNorm, self.intermediate.LayerNorm
        attended, present = self.attention(ln_attn(x), mask_bias, past)
        x = x + attended
        x = x + self.feed_forward(ln_ffn(x))
        return x, present

    def feed_forward(self, x: Tensor) -> Tensor:  # (B, L, H) -> (B, L, I) -> (B, L, H)
        return self.output.dense(self.intermediate(x))


class PreLNEncoder(nn.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(PreLNLayer(config) for _ in range(config.num_hidden_layers))


class PreLNPooler(nn.Module):
    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, last_hidden_state: Tensor) -> Tensor:  # (B, L, H) -> (B, H)
        return torch.tanh(self.dense(last_hidden_state[:, 0]))


class PreLNModel(nn.Module):
    """The encoder. Returns last_hidden_state (after the final LayerNorm), the pooled output when it
    has a pooler, and the per-layer hidden states taken BEFORE the final LayerNorm (as HF does)."""

    def __init__(self, config: PreLNConfig, with_pooler: bool) -> None:
        super().__init__()
        self.config = config
        self.embeddings = PreLNEmbeddings(config)
        self.encoder = PreLNEncoder(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = PreLNPooler(config) if with_pooler else None

    def forward(self, input_ids: Tensor, attention_mask: Tensor, causal: bool,
                past: list[KeyValue] | None = None) -> dict[str, Tensor]:
        """With `past` (one (key, value) per layer, P tokens each), attention_mask covers the P past
        tokens and the L current ones, (B, P+L); the output adds `present`, the cache after this call."""
        past_real = None
        if past is not None:
            past_length = past[0][0].shape[2]
            past_real = attention_mask[:, :past_length].sum(dim=1)  # (B,) real tokens in the cache
        x = self.embeddings(input_ids, past_real)
        mask_bias = attention_bias(attention_mask, causal, x.dtype, query_length=input_ids.shape[1])
        hidden_states = [x]
        present = []
        for i, layer in enumerate(self.encoder.layer):
            x, layer_present = layer(x, mask_bias, None if past is None else past[i])
            hidden_states.append(x)
            present.append(layer_present)
        out = {"last_hidden_state": self.LayerNorm(x), "hidden_states": hidden_states}
        if past is not None:
            out["present"] = present
        if self.pooler is not None:
            out["pooler_output"] = self.pooler(out["last_hidden_state"])
        return out


def attention_bias(attention_mask: Tensor, causal: bool, dtype: torch.dtype,
                   query_length: int | None = None) -> Tensor:
    """0 where a query may attend a key, the dtype's lowest value elsewhere (as HF does).
    (B, K) -> (B, 1, 1, K), or (B, 1, Lq, K) with the causal triangle, where the Lq queries are the
    last Lq of the K keys (K = P + L with a cache): query q sees keys up to K - Lq + q."""
    allowed = attention_mask[:, None, None, :].bool()
    if causal:
        keys = attention_mask.shape[1]
        queries = keys if query_length is None else query_length
        device = attention_mask.device
        key_index = torch.arange(keys, device=device)[None, :]
        query_index = torch.arange(queries, device=device)[:, None] + (keys - queries)
        allowed = allowed & (key_index <= query_index)
    zero = torch.zeros((), dtype=dtype, device=attention_mask.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


class PreLNLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> decoder tied to the word embeddings, plus its own bias."""

    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, x: Tensor, word_embeddings: Tensor) -> Tensor:  # (B, L, H) -> (B, L, V)
        return F.linear(self.layer_norm(F.gelu(self.dense(x))), word_embeddings, self.bias)


class PreLNClassificationHead(nn.Module):
    """Sequence classification: token 0 of last_hidden_state -> dense -> tanh -> out_proj."""

    def __init__(self, config: PreLNConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, last_hidden_state: Tensor) -> Tensor:  # (B, L, H) -> (B, N)
        return self.out_proj(torch.tanh(self.dense(last_hidden_state[:, 0])))


# head kind (prelnedge.tasks) -> the head module, stored under the task's HF prefix (`task.head`);
# its parameters are the rows of prelnedge.checkpoint.params.HEAD_PARAMS for the same kind
HEADS: dict[str, Callable[[PreLNConfig], nn.Module] | None] = {
    "features": None,  # the encoder's own outputs
    "lm": PreLNLMHead,
    "sequence": PreLNClassificationHead,
    "token": lambda config: nn.Linear(config.hidden_size, config.num_labels),
    "choice": lambda config: nn.Linear(config.hidden_size, 1),  # a score per candidate
    "span": lambda config: nn.Linear(config.hidden_size, 2),  # start and end per token
}


class PreLNForTask(nn.Module):
    """The encoder (under `roberta_prelayernorm`) and the head the task names (`lm_head`,
    `classifier` or `qa_outputs`). forward returns the registry's output names."""

    def __init__(self, config: PreLNConfig, task: Task) -> None:
        super().__init__()
        self.config, self.task = config, task
        self.roberta_prelayernorm = PreLNModel(config, with_pooler=task.uses_pooler)
        head = HEADS[task.head_kind]
        if head is not None:
            setattr(self, task.head, head(config))

    def forward(self, input_ids: Tensor, attention_mask: Tensor, output_hidden_states: bool = False,
                past: list[KeyValue] | None = None) -> dict[str, Tensor]:
        """`past` (causal LM only): the cached decoder's call; outputs add present.{i}.key/value."""
        task, kind = self.task, self.task.head_kind
        if kind == "choice":  # (B, C, L) -> (B*C, L)
            batch, choices = input_ids.shape[:2]
            input_ids = input_ids.reshape(batch * choices, -1)
            attention_mask = attention_mask.reshape(batch * choices, -1)
        enc = self.roberta_prelayernorm(input_ids, attention_mask, causal=task.causal, past=past)
        last = enc["last_hidden_state"]
        head = getattr(self, task.head, None)
        if kind == "features":
            out = {"last_hidden_state": last, "pooler_output": enc["pooler_output"]}
        elif kind == "lm":
            out = {"logits": head(last, self.roberta_prelayernorm.embeddings.word_embeddings.weight)}
        elif kind == "choice":
            out = {"logits": head(enc["pooler_output"]).reshape(batch, choices)}
        elif kind == "span":
            start, end = head(last).unbind(dim=-1)
            out = {"start_logits": start, "end_logits": end}
        else:  # sequence, token: the head maps last_hidden_state to logits
            out = {"logits": head(last)}
        if output_hidden_states:
            out.update({f"hidden_states.{i}": h for i, h in enumerate(enc["hidden_states"])})
        for i, (key, value) in enumerate(enc.get("present", ())):
            out[f"present.{i}.key"], out[f"present.{i}.value"] = key, value  # tasks.cache_output_names
        return out


def build_torch_model(checkpoint) -> PreLNForTask:
    """A PreLNForTask in eval mode holding the checkpoint's canonical weights (strict: every name)."""
    model = PreLNForTask(checkpoint.config, checkpoint.task).eval()
    tensors = {name: torch.from_numpy(value) for name, value in checkpoint.state.items()}
    model.load_state_dict(tensors, strict=True)
    return model


def build_forward(checkpoint):
    """numpy in, numpy out: the contract every framework module offers to prelnedge.models.reference."""
    model = build_torch_model(checkpoint)

    def forward(input_ids, attention_mask, output_hidden_states: bool):
        with torch.inference_mode():
            out = model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask), output_hidden_states)
        return {name: value.numpy() for name, value in out.items()}

    return forward


def build_cached_step(checkpoint):
    """The causal LM as a cached decoder, numpy in and out, with the ONNX export's names:
    step(input_ids (B, L), attention_mask (B, P+L), past {past_key_values.{i}.key|value: (B, nh, P, hd)} or
    None) -> (logits (B, L, V), the next past under the same names)."""
    model = build_torch_model(checkpoint)
    layers = checkpoint.config.num_hidden_layers

    def step(input_ids, attention_mask, past):
        with torch.inference_mode():
            ids = torch.from_numpy(input_ids)
            if past is None:
                shape = (len(ids), checkpoint.config.num_attention_heads, 0, checkpoint.config.head_dim)
                cache = [(torch.zeros(shape), torch.zeros(shape)) for _ in range(layers)]
            else:
                cache = [(torch.from_numpy(past[f"past_key_values.{i}.key"]),
                          torch.from_numpy(past[f"past_key_values.{i}.value"])) for i in range(layers)]
            out = model(ids, torch.from_numpy(attention_mask), past=cache)
        present = {f"past_key_values.{i}.{kind}": out[f"present.{i}.{kind}"].numpy()
                   for i in range(layers) for kind in ("key", "value")}
        return out["logits"].numpy(), present

    return step

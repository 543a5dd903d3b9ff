"""One shared pre-LN encoder (prelnedge's own PyTorch reference) with every task head.

Parameter names follow the canonical/HF layout, so the encoder, pooler, `lm_head`, `qa_outputs`
and the sequence-classification `classifier` save straight into one HF checkpoint. The token-
classification and multiple-choice heads would also be called `classifier` in HF; here they live
as `token_classifier` and `choice_classifier` and are saved as separate head files (see save.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from prelnedge.config import PreLNConfig
from prelnedge.models.torch import PreLNClassificationHead, PreLNLMHead, PreLNModel
from prelnedge.runtime.postprocess import MAX_ANSWER_TOKENS


class MultiTaskModel(nn.Module):
    def __init__(self, config: PreLNConfig, num_tags: int, dropout: float = 0.1, hidden_dropout: float = 0.0) -> None:
        super().__init__()
        self.config = config
        self.roberta_prelayernorm = PreLNModel(config, with_pooler=True)
        self.lm_head = PreLNLMHead(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.classifier = PreLNClassificationHead(config)
        self.token_classifier = nn.Linear(config.hidden_size, num_tags)
        self.choice_classifier = nn.Linear(config.hidden_size, 1)
        self.dropout = nn.Dropout(dropout)  # on head inputs
        self.hidden_dropout = hidden_dropout
        if hidden_dropout:
            # RoBERTa's hidden dropout, in training only: on the embeddings and on each residual branch's
            # output before it is added. The reference encoder has no dropout modules (it is the
            # inference model every export traces), so forward hooks add it here; no parameters change.
            encoder = self.roberta_prelayernorm
            for module in [encoder.embeddings, *(m for layer in encoder.encoder.layer
                                                 for m in (layer.attention.output.dense, layer.output.dense))]:
                module.register_forward_hook(self._drop_hidden)
        self.apply(self._init)

    def _drop_hidden(self, module: nn.Module, inputs, output: Tensor) -> Tensor:
        return F.dropout(output, self.hidden_dropout, self.training)

    def _init(self, module: nn.Module) -> None:
        """HF's _init_weights: normal(0, initializer_range), zero biases, unit LayerNorms."""
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def encode(self, ids: Tensor, mask: Tensor, causal: bool = False) -> dict[str, Tensor]:
        return self.roberta_prelayernorm(ids, mask, causal=causal)

    def lm_logits(self, hidden: Tensor) -> Tensor:  # (N, H) -> (N, V)
        return self.lm_head(hidden, self.roberta_prelayernorm.embeddings.word_embeddings.weight)

    # ---- losses, one per task; each returns (loss, number of correct decisions, decisions) ----------
    def mlm_loss(self, ids: Tensor, mask: Tensor, labels: Tensor) -> Tensor:
        hidden = self.encode(ids, mask)["last_hidden_state"]
        picked = labels != -100  # only masked positions reach the (large) vocabulary projection
        return F.cross_entropy(self.lm_logits(hidden[picked]), labels[picked])

    def clm_loss(self, ids: Tensor, mask: Tensor) -> Tensor:
        hidden = self.encode(ids, mask, causal=True)["last_hidden_state"][:, :-1]
        targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        picked = targets != -100
        return F.cross_entropy(self.lm_logits(hidden[picked]), targets[picked])

    def qa_logits(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.dropout(self.encode(ids, mask)["last_hidden_state"])
        start, end = self.qa_outputs(hidden).unbind(-1)
        return start, end

    def qa_loss(self, ids: Tensor, mask: Tensor, start: Tensor, end: Tensor) -> Tensor:
        """Start and end cross entropy (the usual), plus cross entropy over every span the decoder
        may pick (end >= start, at most MAX_ANSWER_TOKENS, score start + end logit): that is what
        `best_span` maximizes in every runtime, so training it directly stops a right start from
        pairing with a high end logit further on ("1806. The old road ... is 213")."""
        return span_loss(*self.qa_logits(ids, mask), mask, start, end)

    def sentiment_logits(self, ids: Tensor, mask: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.encode(ids, mask)["last_hidden_state"]))

    def tag_logits(self, ids: Tensor, mask: Tensor) -> Tensor:
        return self.token_classifier(self.dropout(self.encode(ids, mask)["last_hidden_state"]))

    def choice_logits(self, ids: Tensor, mask: Tensor) -> Tensor:  # (B, C, L) -> (B, C)
        return self.choice_logits_and_hidden(ids, mask)[0]

    def choice_logits_and_hidden(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C) choice logits and the (B * C, L, H) last hidden states they came from."""
        b, c, length = ids.shape
        out = self.encode(ids.reshape(b * c, length), mask.reshape(b * c, length))
        return self.choice_classifier(self.dropout(out["pooler_output"])).reshape(b, c), out["last_hidden_state"]

    def choice_span_loss(self, hidden: Tensor, mask: Tensor, start: Tensor, end: Tensor) -> Tensor:
        """Training aid for reading items: the QA head, on each choice row, points at the answer in
        the passage. The multiple-choice head alone gets one bit per item and learns to judge a
        choice by its form; this makes the shared encoder locate the asked fact in that layout too."""
        s, e = self.qa_outputs(self.dropout(hidden)).unbind(-1)
        return span_loss(s, e, mask, start, end)


def span_loss(s: Tensor, e: Tensor, mask: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """See `MultiTaskModel.qa_loss`: start/end cross entropy plus cross entropy over allowed spans."""
    s, e = s.masked_fill(mask == 0, -1e4), e.masked_fill(mask == 0, -1e4)
    length = s.shape[1]
    offset = torch.arange(length)
    allowed = (offset[None, :] >= offset[:, None]) & (offset[None, :] - offset[:, None] < MAX_ANSWER_TOKENS)
    pairs = (s[:, :, None] + e[:, None, :]).masked_fill(~allowed, -1e4).reshape(len(s), -1)
    span = F.cross_entropy(pairs, start * length + end)
    return (F.cross_entropy(s, start) + F.cross_entropy(e, end)) / 2 + span


def masked_choice_loss(logits: Tensor, valid: Tensor, labels: Tensor) -> Tensor:
    """Cross entropy over the real choices of items padded to the batch's largest choice count."""
    return F.cross_entropy(logits.masked_fill(~valid, -1e4), labels)


def set_determinism(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)

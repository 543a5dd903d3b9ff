"""Text generation with a causal LM: one decoder interface over the cached ONNX export, the cached
PyTorch reference and full recomputation (any forward: TFLite, TF, Flax), and the loop that picks tokens.

A decoder step takes input_ids (B, L), attention_mask (B, P+L) covering the P tokens it has seen and the
L new ones, and its past (None at the start); it returns logits (B, L, V) and the past after the step.
The loop stops at `</s>`, at --max-new-tokens, or when the sequence fills the model's position table
(`max_tokens`): the stop reason says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from prelnedge.errors import UserError

Past = Any  # whatever the decoder keeps between steps (the cache, or the tokens seen for recomputation)
STOP_REASONS = ("eos", "max-new-tokens", "limit")
# New tokens per press of Generate on the web page and in the Android app (the bundle's spec carries it as
# decode.generate_tokens; the runtimes keep no number of their own).
DEMO_NEW_TOKENS = 40


class Decoder(Protocol):
    cached: bool  # True: each step computes the new tokens only

    def step(self, input_ids: np.ndarray, attention_mask: np.ndarray, past: Past | None) -> tuple[np.ndarray, Past]: ...


class CachedDecoder:
    """A step function with a key/value cache (OnnxSession.run_cached, models.torch.build_cached_step)."""

    cached = True

    def __init__(self, step: Callable) -> None:
        self.step = step


class RecomputeDecoder:
    """Full recomputation: every step runs the whole sequence so far (quadratic work). The reference that
    validation compares the cache with, and the path for exports without a cache (TFLite)."""

    cached = False

    def __init__(self, forward: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]) -> None:
        self.forward = forward

    def step(self, input_ids: np.ndarray, attention_mask: np.ndarray, past: np.ndarray | None):
        ids = input_ids if past is None else np.concatenate([past, input_ids], axis=1)
        logits = self.forward(ids, attention_mask)["logits"]
        return logits[:, -input_ids.shape[1]:], ids


@dataclass(frozen=True)
class Sampling:
    """Greedy unless `sample`; then softmax(logits / temperature), cut to the top_k tokens and to the
    smallest set whose probability reaches top_p, drawn with a generator seeded by `seed`."""
    sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.sample and (self.temperature != 1.0 or self.top_k is not None or self.top_p is not None
                                or self.seed is not None):
            raise UserError("--temperature, --top-k, --top-p and --seed apply with --sample only "
                            "(generation is greedy by default)")
        if not self.temperature > 0:
            raise UserError(f"--temperature must be positive; got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise UserError(f"--top-k must be at least 1; got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must lie in (0, 1]; got {self.top_p}")


@dataclass
class Generation:
    prompt_ids: list[int]
    new_ids: list[int] = field(default_factory=list)
    stop: str = ""  # one of STOP_REASONS


class TokenPicker:
    def __init__(self, sampling: Sampling) -> None:
        self.sampling = sampling
        self.rng = np.random.default_rng(sampling.seed)

    def __call__(self, logits: np.ndarray) -> int:  # (V,) -> a token id
        if not self.sampling.sample:
            return int(np.argmax(logits))
        s = self.sampling
        scaled = np.asarray(logits, np.float64) / s.temperature
        order = np.argsort(-scaled, kind="stable")
        if s.top_k is not None:
            order = order[: s.top_k]
        probs = np.exp(scaled[order] - scaled[order[0]])
        probs /= probs.sum()
        if s.top_p is not None:  # keep the smallest head of the sorted list whose mass reaches top_p
            keep = int(np.searchsorted(np.cumsum(probs), s.top_p) + 1)
            order, probs = order[:keep], probs[:keep] / probs[:keep].sum()
        return int(order[self.rng.choice(len(order), p=probs)])


def generate(decoder: Decoder, prompt_ids: list[int], max_new_tokens: int, eos_id: int, max_tokens: int,
             sampling: Sampling = Sampling(), on_token: Callable[[int], None] | None = None) -> Generation:
    """Generate after `prompt_ids` (one sequence). A prompt that leaves no room for a new token in the
    model's `max_tokens` is an error, never cut short silently."""
    if max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be at least 1; got {max_new_tokens}")
    if not prompt_ids:
        raise UserError("the prompt is empty; give at least one token")
    if len(prompt_ids) >= max_tokens:
        raise UserError(f"the prompt is {len(prompt_ids)} tokens and the model's limit is {max_tokens} "
                        f"(max_position_embeddings - 2): no room for a new token; shorten the prompt")
    pick = TokenPicker(sampling)
    result = Generation(list(prompt_ids))
    ids = np.asarray([prompt_ids], np.int64)
    mask = np.ones_like(ids)
    past = None
    while True:
        logits, past = decoder.step(ids, mask, past)
        token = pick(logits[0, -1])
        result.new_ids.append(token)
        if on_token is not None:
            on_token(token)
        total = len(result.prompt_ids) + len(result.new_ids)
        result.stop = ("eos" if token == eos_id else "max-new-tokens" if len(result.new_ids) >= max_new_tokens
                       else "limit" if total >= max_tokens else "")
        if result.stop:
            return result
        ids = np.asarray([[token]], np.int64)
        mask = np.ones((1, total), np.int64)


def cached_step_of(session) -> Callable | None:
    """The session's cached decoding step (runtime.sessions.OnnxSession of a causal-lm export), or None."""
    return session.run_cached if getattr(session, "cache_inputs", ()) else None


class TextStream:
    """Turns generated ids into text pieces as they come. Byte-level BPE can split a character over
    tokens: text ending in an incomplete character (U+FFFD) is held back until the next token completes it."""

    def __init__(self, tok) -> None:
        self.tok, self.ids, self.shown = tok, [], ""

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tok.decode(self.ids)
        if text.endswith("\ufffd") or not text.startswith(self.shown):
            return ""
        piece, self.shown = text[len(self.shown):], text
        return piece

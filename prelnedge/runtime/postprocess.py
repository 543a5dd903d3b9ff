"""Task pre- and post-processing on numpy arrays: text in, model inputs; model outputs, answers out.

Shared by the reference CLI and the runtime sessions over exported models, so a float
reference and an exported artifact are always decoded the same way.
"""

from __future__ import annotations

import unicodedata
import warnings
from typing import Any, Callable

import numpy as np

from prelnedge.errors import UserError
from prelnedge.tasks import TOP_K, Example, Task
from prelnedge.runtime.tokenizer import MASK_TOKEN, Encoding, PreLNTokenizer

Model = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]
DEFAULT_TOP_K = TOP_K  # the registry's: golden.json's decoded answers and the bundle's spec keep as many


class TruncationWarning(UserWarning):
    """A text was longer than the model's limit: its tail was not read."""


def _encode_all(tok: PreLNTokenizer, texts: list[str], what: str = "its first") -> list[Encoding]:
    """Encode each text; say on stderr which ones lost their tail to the model's limit."""
    encodings = [tok.encode(text) for text in texts]
    names = [f"text {i + 1}" if len(texts) > 1 else "the text" for i, e in enumerate(encodings) if e.truncated]
    _warn_truncated(tok, names, what)
    return encodings


def _warn_truncated(tok: PreLNTokenizer, names: list[str], what: str) -> None:
    for name in names:
        warnings.warn(f"{name} is longer than the model's limit of {tok.max_length} tokens; the answer is "
                      f"based on {what} {tok.max_length} tokens only", TruncationWarning, stacklevel=3)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


# The longest answer the decoders consider, in tokens (the web and Android decoders use the same
# number, and QA training scores exactly these spans).
MAX_ANSWER_TOKENS = 30


def is_word_char(ch: str) -> bool:
    """A letter, mark or digit (Unicode categories L*, M*, N*): the characters a word is made of.
    The web (postprocess.js) and Android (Postprocess.java) decoders use the same three classes."""
    return unicodedata.category(ch)[0] in "LMN"


def word_edges(text: str, offsets: list[tuple[int, int]], allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which tokens may start and end an answer: a span never starts or ends between two word
    characters of `text`, so a user never sees "Hanna Kow" or "rta Lindqvist". Token k may start a
    span when its first character does not continue a word (k's offsets, not the 'Ġ' marker, so that
    "(Kraków)" and "12,500" start where the word does), and end one when its last character is not
    followed by one. `offsets` index `text` (the context); tokens outside `allowed` get False."""
    def inside_word(i: int) -> bool:  # is character boundary i between two word characters?
        return 0 < i < len(text) and is_word_char(text[i - 1]) and is_word_char(text[i])

    can_start = np.zeros(len(offsets), bool)
    can_end = np.zeros(len(offsets), bool)
    for k in np.flatnonzero(allowed):
        a, b = offsets[k]
        can_start[k] = b > a and not inside_word(a)
        can_end[k] = b > a and not inside_word(b)
    return can_start, can_end


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, allowed: np.ndarray,
              max_answer_tokens: int = MAX_ANSWER_TOKENS, can_start: np.ndarray | None = None,
              can_end: np.ndarray | None = None) -> tuple[int, int, float]:
    """The (start, end) token pair with the highest start+end logit, end >= start, span at most
    `max_answer_tokens`, both inside `allowed` (the context's tokens), the start among `can_start`
    and the end among `can_end` when given (see word_edges; when no pair meets those, the best pair
    without them). Returns (start, end, score) where score is the pair's probability under
    independent start/end softmaxes over the allowed tokens."""
    idx = np.flatnonzero(allowed)
    if idx.size == 0:
        raise UserError("the context is empty after truncation; give a shorter question")
    s, e = start_logits[idx], end_logits[idx]
    pair = s[:, None] + e[None, :]  # (n, n)
    offset = np.arange(idx.size)
    valid = (offset[None, :] >= offset[:, None]) & (idx[None, :] - idx[:, None] < max_answer_tokens)
    if can_start is not None and can_end is not None:
        whole = valid & can_start[idx][:, None] & can_end[idx][None, :]
        valid = whole if whole.any() else valid  # only a word longer than the limit has no whole pair
    pair = np.where(valid, pair, -np.inf)
    i, j = np.unravel_index(int(np.argmax(pair)), pair.shape)
    p_start = softmax(start_logits[idx])[i]
    p_end = softmax(end_logits[idx])[j]
    return int(idx[i]), int(idx[j]), float(p_start * p_end)


def answer_question(model: Model, tok: PreLNTokenizer, question: str, context: str,
                    stride: int | None = None) -> dict[str, Any]:
    """The best whole-word answer span over every window of the context (one window when it fits)."""
    if not question.strip() or not context.strip():
        raise UserError("qa needs a non-empty --question and --context")
    windows = tok.encode_windows(question, context, stride)
    ids, mask = tok.batch(windows)
    out = model(ids, mask)
    best = None
    for row, enc in enumerate(windows):
        length = len(enc.ids)
        in_context = np.array([sid == 1 for sid in enc.sequence_ids])
        starts, ends = word_edges(context, enc.offsets, in_context)
        start, end, score = best_span(out["start_logits"][row, :length], out["end_logits"][row, :length], in_context,
                                      can_start=starts, can_end=ends)
        if best is None or score > best[2]:
            best = (start, end, score, row)
    start, end, score, row = best
    char_start, char_end = windows[row].offsets[start][0], windows[row].offsets[end][1]
    return {"answer": context[char_start:char_end], "score": score, "start": char_start, "end": char_end,
            "start_token": start, "end_token": end, "window": row, "windows": len(windows)}


def classify(model: Model, tok: PreLNTokenizer, texts: list[str], labels: tuple[str, ...]) -> list[dict[str, Any]]:
    ids, mask = tok.batch(_encode_all(tok, texts))
    probs = softmax(model(ids, mask)["logits"])
    return [{"text": text, "label": labels[int(p.argmax())], "score": float(p.max())}
            for text, p in zip(texts, probs)]


def tag_tokens(model: Model, tok: PreLNTokenizer, text: str, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    enc, = _encode_all(tok, [text], what="tags for its first")
    ids, mask = tok.batch([enc])
    probs = softmax(model(ids, mask)["logits"][0])
    return [{"token": text[a:b], "start": a, "end": b, "label": labels[int(p.argmax())], "score": float(p.max())}
            for (a, b), sid, p in zip(enc.offsets, enc.sequence_ids, probs) if sid is not None]


def fill_mask(model: Model, tok: PreLNTokenizer, text: str, top_k: int) -> list[dict[str, Any]]:
    if tok.mask_id is None or MASK_TOKEN not in text:
        raise UserError("masked-lm needs a --text containing <mask>")
    enc = tok.encode(text)
    if enc.ids.count(tok.mask_id) < text.count(MASK_TOKEN):
        raise UserError(f"a <mask> lies past the model's limit of {tok.max_length} tokens; shorten the text "
                        "before it")
    _warn_truncated(tok, ["the text"] if enc.truncated else [], "its first")
    ids, mask = tok.batch([enc])
    probs = softmax(model(ids, mask)["logits"][0])
    results = []
    for position in np.flatnonzero(ids[0] == tok.mask_id):
        top = np.argsort(-probs[position])[:top_k]
        results.append({"position": int(position), "candidates": [
            {"token": tok.readable_token(t), "id": int(t), "score": float(probs[position, t])} for t in top]})
    return results


def next_tokens(model: Model, tok: PreLNTokenizer, text: str, top_k: int) -> list[dict[str, Any]]:
    """Causal LM: `<s> text` without `</s>`, and the distribution after its last token."""
    enc = tok.encode_causal(text)
    _warn_truncated(tok, ["the text"] if enc.truncated else [], "what follows its first")
    ids, _ = tok.batch([enc])
    probs = softmax(model(ids, np.ones_like(ids))["logits"][0, -1])
    return [{"token": tok.readable_token(t), "id": int(t), "score": float(probs[t])} for t in np.argsort(-probs)[:top_k]]


def choose(model: Model, tok: PreLNTokenizer, prompt: str, choices: list[str]) -> dict[str, Any]:
    if len(choices) < 2:
        raise UserError("multiple-choice needs at least two --choice options")
    encodings = [tok.encode(prompt, choice) for choice in choices]
    _warn_truncated(tok, [f"the prompt with choice {i + 1}" for i, enc in enumerate(encodings) if enc.truncated],
                    "its first")
    ids, mask = tok.batch(encodings)
    probs = softmax(model(ids[None], mask[None])["logits"][0])
    best = int(probs.argmax())
    return {"choice": choices[best], "index": best, "scores": [float(p) for p in probs]}


def features(model: Model, tok: PreLNTokenizer, texts: list[str]) -> list[dict[str, Any]]:
    ids, mask = tok.batch(_encode_all(tok, texts, what="the features of its first"))
    out = model(ids, mask)
    return [{"text": t, "tokens": int(m.sum()), "pooler_output_head": [round(float(v), 6) for v in pooled[:4]],
             "pooler_output_norm": float(np.linalg.norm(pooled))}
            for t, m, pooled in zip(texts, mask, out["pooler_output"])]


# The CLI option that gives each request field a runtime asks for (Task.request.required).
OPTIONS = {"text": "--text", "prompt": "--text", "question": "--question", "context": "--context",
           "choices": "--choice"}


def check_request(task: Task, *, texts: list[str], question: str | None, context: str | None,
                  choices: list[str], top_k: int | None = None, stride: int | None = None) -> None:
    """Say which inputs a task needs, and refuse inputs it would ignore, before any model is loaded."""
    reads = {OPTIONS[field.name] for field in task.request.required}
    unused = [option for option, given in (("--text", bool(texts)), ("--question", question is not None),
                                           ("--context", context is not None), ("--choice", bool(choices)))
              if given and option not in reads]
    if unused:  # input the task would never read: refuse rather than answer without it
        raise UserError(f"task {task.name} does not read {', '.join(unused)}; leave "
                        f"{'it' if len(unused) == 1 else 'them'} out")
    for option, given, used_by in (("--stride", stride is not None, task.head_kind == "span"),
                                   ("--top-k", top_k is not None, task.head_kind == "lm")):
        if given and not used_by:  # a setting with nothing to act on: say so, answer anyway
            warnings.warn(f"{option} has no effect on task {task.name}", UserWarning, stacklevel=2)
    second = task.request.role("second")
    if second and not second.optional:  # a question and its context
        if not question or not context or not question.strip() or not context.strip():
            raise UserError(f"task {task.name} needs --question and --context (both non-empty)")
        return
    if not texts:
        raise UserError(f"task {task.name} needs --text")
    if task.request.needs_mask and not all(MASK_TOKEN in text for text in texts):
        raise UserError(f"{task.name} needs a --text containing <mask>")
    if task.request.role("rows"):
        if len(texts) > 1:
            raise UserError(f"{task.name} takes one --text (the prompt); got {len(texts)}")
        if len(choices) < 2:
            raise UserError(f"{task.name} needs at least two --choice options")


def run_task(task: Task, model: Model, tok: PreLNTokenizer, labels: tuple[str, ...], *, texts: list[str],
             question: str | None, context: str | None, choices: list[str], top_k: int | None = None,
             stride: int | None = None) -> Any:
    """Dispatch one prediction request on the task's head kind (see check_request for what each
    task needs)."""
    check_request(task, texts=texts, question=question, context=context, choices=choices, top_k=top_k,
                  stride=stride)
    top_k = DEFAULT_TOP_K if top_k is None else top_k
    kind = task.head_kind
    if kind == "span":
        return answer_question(model, tok, question, context, stride)
    if kind == "choice":
        return choose(model, tok, texts[0], choices)
    if kind == "features":
        return features(model, tok, texts)
    if kind == "sequence":
        return classify(model, tok, texts, labels)
    if kind == "token":
        return [tag_tokens(model, tok, text, labels) for text in texts]
    decode = next_tokens if task.causal else fill_mask  # lm: the next token, or the <mask> positions
    return [decode(model, tok, text, top_k) for text in texts]


def run_example(task: Task, model: Model, tok: PreLNTokenizer, labels: tuple[str, ...], example: Example,
                top_k: int | None = None) -> Any:
    """One Example (a golden.json example's request) through run_task, answered once: the CLI options
    are filled from the request's roles (a first text paired with a required second one is a question)."""
    second = task.request.role("second")
    if second and not second.optional:
        return run_task(task, model, tok, labels, texts=[], question=example.text, context=example.pair,
                        choices=[], top_k=top_k)
    answer = run_task(task, model, tok, labels, texts=[example.text], question=None, context=None,
                      choices=list(example.choices), top_k=top_k)
    return answer[0] if isinstance(answer, list) and not task.request.role("rows") else answer

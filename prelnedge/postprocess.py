"""Task pre- and post-processing on numpy arrays: text in, model inputs; model outputs, answers out.

Shared by the reference CLI and (later) the runtime sessions over exported models, so a float
reference and an exported artifact are always decoded the same way.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from prelnedge.errors import UserError
from prelnedge.tasks import Task
from prelnedge.tokenizer import PreLNTokenizer

Model = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, allowed: np.ndarray,
              max_answer_tokens: int = 30) -> tuple[int, int, float]:
    """The (start, end) token pair with the highest start+end logit, end >= start, span at most
    `max_answer_tokens`, both inside `allowed` (the context's tokens). Returns (start, end, score)
    where score is the pair's probability under independent start/end softmaxes."""
    idx = np.flatnonzero(allowed)
    if idx.size == 0:
        raise UserError("the context is empty after truncation; give a shorter question")
    s, e = start_logits[idx], end_logits[idx]
    pair = s[:, None] + e[None, :]  # (n, n)
    offset = np.arange(idx.size)
    valid = (offset[None, :] >= offset[:, None]) & (idx[None, :] - idx[:, None] < max_answer_tokens)
    pair = np.where(valid, pair, -np.inf)
    i, j = np.unravel_index(int(np.argmax(pair)), pair.shape)
    p_start = softmax(start_logits[idx])[i]
    p_end = softmax(end_logits[idx])[j]
    return int(idx[i]), int(idx[j]), float(p_start * p_end)


def answer_question(model: Model, tok: PreLNTokenizer, question: str, context: str,
                    stride: int | None = None) -> dict[str, Any]:
    """The best answer span over every window of the context (one window when it fits)."""
    if not question.strip() or not context.strip():
        raise UserError("qa needs a non-empty --question and --context")
    windows = tok.encode_windows(question, context, stride)
    ids, mask = tok.batch(windows)
    out = model(ids, mask)
    best = None
    for row, enc in enumerate(windows):
        length = len(enc.ids)
        in_context = np.array([sid == 1 for sid in enc.sequence_ids])
        start, end, score = best_span(out["start_logits"][row, :length], out["end_logits"][row, :length], in_context)
        if best is None or score > best[2]:
            best = (start, end, score, row)
    start, end, score, row = best
    char_start, char_end = windows[row].offsets[start][0], windows[row].offsets[end][1]
    return {"answer": context[char_start:char_end], "score": score, "start": char_start, "end": char_end,
            "start_token": start, "end_token": end, "window": row, "windows": len(windows)}


def classify(model: Model, tok: PreLNTokenizer, texts: list[str], labels: tuple[str, ...]) -> list[dict[str, Any]]:
    ids, mask = tok.encode_batch(texts)
    probs = softmax(model(ids, mask)["logits"])
    return [{"text": text, "label": labels[int(p.argmax())], "score": float(p.max())}
            for text, p in zip(texts, probs)]


def tag_tokens(model: Model, tok: PreLNTokenizer, text: str, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    enc = tok.encode(text)
    ids, mask = tok.batch([enc])
    probs = softmax(model(ids, mask)["logits"][0])
    return [{"token": text[a:b], "start": a, "end": b, "label": labels[int(p.argmax())], "score": float(p.max())}
            for (a, b), sid, p in zip(enc.offsets, enc.sequence_ids, probs) if sid is not None]


def fill_mask(model: Model, tok: PreLNTokenizer, text: str, top_k: int) -> list[dict[str, Any]]:
    if tok.mask_id is None or "<mask>" not in text:
        raise UserError("masked-lm needs a --text containing <mask>")
    enc = tok.encode(text)
    ids, mask = tok.batch([enc])
    probs = softmax(model(ids, mask)["logits"][0])
    results = []
    for position in np.flatnonzero(ids[0] == tok.mask_id):
        top = np.argsort(-probs[position])[:top_k]
        results.append({"position": int(position), "candidates": [
            {"token": tok.decode([t]), "id": int(t), "score": float(probs[position, t])} for t in top]})
    return results


def next_tokens(model: Model, tok: PreLNTokenizer, text: str, top_k: int) -> list[dict[str, Any]]:
    """Causal LM: `<s> text` without `</s>`, and the distribution after its last token."""
    ids, _ = tok.batch([tok.encode_causal(text)])
    probs = softmax(model(ids, np.ones_like(ids))["logits"][0, -1])
    return [{"token": tok.decode([t]), "id": int(t), "score": float(probs[t])} for t in np.argsort(-probs)[:top_k]]


def choose(model: Model, tok: PreLNTokenizer, prompt: str, choices: list[str]) -> dict[str, Any]:
    if len(choices) < 2:
        raise UserError("multiple-choice needs at least two --choice options")
    ids, mask = tok.batch([tok.encode(prompt, choice) for choice in choices])
    probs = softmax(model(ids[None], mask[None])["logits"][0])
    best = int(probs.argmax())
    return {"choice": choices[best], "index": best, "scores": [float(p) for p in probs]}


def features(model: Model, tok: PreLNTokenizer, texts: list[str]) -> list[dict[str, Any]]:
    ids, mask = tok.encode_batch(texts)
    out = model(ids, mask)
    return [{"text": t, "tokens": int(m.sum()), "pooler_output_head": [round(float(v), 6) for v in pooled[:4]],
             "pooler_output_norm": float(np.linalg.norm(pooled))}
            for t, m, pooled in zip(texts, mask, out["pooler_output"])]


def check_request(task: Task, *, texts: list[str], question: str | None, context: str | None,
                  choices: list[str]) -> None:
    """Say which inputs a task needs before any model is loaded."""
    if task.name == "qa":
        if not question or not context or not question.strip() or not context.strip():
            raise UserError("task qa needs --question and --context (both non-empty)")
        return
    if not texts:
        raise UserError(f"task {task.name} needs --text")
    if task.name == "masked-lm" and not all("<mask>" in text for text in texts):
        raise UserError("masked-lm needs a --text containing <mask>")
    if task.name == "multiple-choice" and len(choices) < 2:
        raise UserError("multiple-choice needs at least two --choice options")


def run_task(task: Task, model: Model, tok: PreLNTokenizer, labels: tuple[str, ...], *, texts: list[str],
             question: str | None, context: str | None, choices: list[str], top_k: int,
             stride: int | None = None) -> Any:
    """Dispatch one prediction request (see check_request for what each task needs)."""
    check_request(task, texts=texts, question=question, context=context, choices=choices)
    if task.name == "qa":
        return answer_question(model, tok, question, context, stride)
    if task.name == "base":
        return features(model, tok, texts)
    if task.name == "masked-lm":
        return [fill_mask(model, tok, text, top_k) for text in texts]
    if task.name == "causal-lm":
        return [next_tokens(model, tok, text, top_k) for text in texts]
    if task.name == "sequence-classification":
        return classify(model, tok, texts, labels)
    if task.name == "token-classification":
        return [tag_tokens(model, tok, text, labels) for text in texts]
    return choose(model, tok, texts[0], choices)


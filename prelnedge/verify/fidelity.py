"""How far a quantized artifact is from the float reference, per task head.

Two kinds of numbers: the outputs' error statistics (max/mean abs, cosine, SQNR over every example's
outputs together) and the task's own agreement (does the artifact give the same answer?). With a
labelled evaluation set, the task metric itself is measured for both models. Every example runs at
batch 1 without padding, the way an app calls an on-device model.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Callable

import numpy as np

from prelnedge.verify.compare import error_stats
from prelnedge.tasks import TOP_K, Task

Forward = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]


def qa_context_mask(ids: np.ndarray, eos_id: int) -> np.ndarray:
    """Token positions of the context in `<s> question </s></s> context </s>` (one row)."""
    eos = np.flatnonzero(ids == eos_id)
    allowed = np.zeros(ids.shape, bool)
    if eos.size >= 3:
        allowed[eos[1] + 1: eos[-1]] = True
    return allowed


def _agreement(task: Task, got: dict, want: dict, ids: np.ndarray, eos_id: int, mask_id: int | None) -> dict:
    """Per-example agreement numbers (averaged by the caller), named in the registry (task.judged.agreement)."""
    from prelnedge.runtime.postprocess import best_span

    kind = task.head_kind
    if kind in ("sequence", "choice"):
        return {"argmax_agreement": float(got["logits"].argmax(-1)[0] == want["logits"].argmax(-1)[0])}
    if kind == "token":
        return {"argmax_agreement": float(np.mean(got["logits"][0].argmax(-1) == want["logits"][0].argmax(-1)))}
    if kind == "span":
        allowed = qa_context_mask(ids[0], eos_id)
        if not allowed.any():
            return {}
        s1, e1, _ = best_span(got["start_logits"][0], got["end_logits"][0], allowed)
        s0, e0, _ = best_span(want["start_logits"][0], want["end_logits"][0], allowed)
        overlap = max(0, min(e0, e1) - max(s0, s1) + 1)
        f1 = 0.0 if overlap == 0 else 2 * overlap / ((e0 - s0 + 1) + (e1 - s1 + 1))
        idx = np.flatnonzero(allowed)
        return {"start_agreement": float(got["start_logits"][0][idx].argmax() == want["start_logits"][0][idx].argmax()),
                "end_agreement": float(got["end_logits"][0][idx].argmax() == want["end_logits"][0][idx].argmax()),
                "span_exact_match": float((s0, e0) == (s1, e1)), "span_f1": f1}
    if kind == "lm":
        logits_a, logits_b = got["logits"][0], want["logits"][0]
        if task.request.needs_mask:
            positions = np.flatnonzero(ids[0] == mask_id) if mask_id is not None else np.array([], int)
            positions = positions if positions.size else np.arange(ids.shape[1])
        else:
            positions = np.arange(ids.shape[1])
        top_a = np.argsort(-logits_a[positions], axis=-1)[:, :TOP_K]
        top_b = np.argsort(-logits_b[positions], axis=-1)[:, :TOP_K]
        overlap = np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(top_a, top_b)])
        return {f"top{TOP_K}_overlap": float(overlap), "top1_agreement": float(np.mean(top_a[:, 0] == top_b[:, 0]))}
    # features: no decision to agree on; the cosine of the pooled features says it
    a, b = got["pooler_output"][0], want["pooler_output"][0]
    return {"pooler_cosine": float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))}


# Causal LM: tokens of the float model's greedy continuation over which the artifact's next-token
# choice is compared (greedy_agreement), per evaluation example.
GREEDY_TOKENS = 8


def greedy_agreement(run_artifact: Forward, run_reference: Forward, ids: np.ndarray, eos_id: int,
                     max_tokens: int, first: tuple[dict, dict] | None = None) -> float | None:
    """The share of the float model's greedy continuation of `ids` (1, L), up to GREEDY_TOKENS tokens, </s>
    or the model's limit, at which the artifact picks the same next token. Teacher-forced: both models
    see the float model's continuation, so one flip does not decide every later step. None when the
    prompt leaves no room. `first`: both models' outputs on `ids` when the caller has them."""
    steps = min(GREEDY_TOKENS, max_tokens - ids.shape[1] + 1)
    if steps < 1:
        return None
    same = []
    for k in range(steps):
        got, want = first if (k == 0 and first) else (run_artifact(ids, np.ones_like(ids)),
                                                      run_reference(ids, np.ones_like(ids)))
        token = int(want["logits"][0, -1].argmax())
        same.append(int(got["logits"][0, -1].argmax()) == token)
        if token == eos_id or ids.shape[1] >= max_tokens:
            break
        ids = np.concatenate([ids, [[token]]], axis=1)
    return float(np.mean(same))


def measure(task: Task, run_artifact: Forward, run_reference: Forward, batches: list,
            eos_id: int = 2, mask_id: int | None = None, max_tokens: int | None = None) -> dict:
    """Error statistics per output and mean agreement per measure over `batches` (batch-1 inputs).
    max_tokens: the model's limit, which a causal LM's greedy continuation (greedy_agreement) stops at;
    every caller that judges a causal LM gives it (without it the continuation is not measured)."""
    got_all: dict[str, list] = {name: [] for name in task.output_names}
    want_all: dict[str, list] = {name: [] for name in task.output_names}
    agreements: dict[str, list] = {}
    for ids, mask in batches:
        got, want = run_artifact(ids, mask), run_reference(ids, mask)
        for name in task.output_names:
            got_all[name].append(np.asarray(got[name], np.float64).ravel())
            want_all[name].append(np.asarray(want[name], np.float64).ravel())
        for key, value in _agreement(task, got, want, ids, eos_id, mask_id).items():
            agreements.setdefault(key, []).append(value)
        if task.causal and max_tokens:
            value = greedy_agreement(run_artifact, run_reference, ids, eos_id, max_tokens, first=(got, want))
            if value is not None:
                agreements.setdefault("greedy_agreement", []).append(value)
    outputs = {name: error_stats(np.concatenate(got_all[name]), np.concatenate(want_all[name])).as_dict()
               for name in task.output_names}
    return {"examples": len(batches), "outputs": outputs,
            "agreement": {key: float(np.mean(values)) for key, values in agreements.items()}}


# ---- task metrics with a labelled evaluation set ---------------------------------------------------
def _normalize(text: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def qa_scores(prediction: str, answers: tuple[str, ...]) -> tuple[float, float]:
    """(exact match, F1) of one predicted answer against the best of the true answers."""
    best_em, best_f1 = 0.0, 0.0
    pred = _normalize(prediction)
    for answer in answers:
        truth = _normalize(answer)
        best_em = max(best_em, float(pred == truth))
        common = sum((Counter(pred) & Counter(truth)).values())
        if common:
            p, r = common / len(pred), common / len(truth)
            best_f1 = max(best_f1, 2 * p * r / (p + r))
    return best_em, best_f1


def task_metric(task: Task, model: Forward, tok, examples: list, labels: tuple[str, ...]) -> dict | None:
    """The task's own metric on labelled examples (the numbers task.judged.metric names, and
    "examples"), or None when the task/examples have no truth."""
    from prelnedge.runtime import postprocess

    kind = task.head_kind
    if kind == "span":
        scored = [qa_scores(postprocess.answer_question(model, tok, e.text, e.pair)["answer"], e.answers)
                  for e in examples if e.answers]
        if not scored:
            return None
        return {"exact_match": float(np.mean([s[0] for s in scored])), "f1": float(np.mean([s[1] for s in scored])),
                "examples": len(scored)}
    if kind in ("sequence", "choice"):
        labelled = [e for e in examples if e.label is not None]
        if not labelled:
            return None
        hits = []
        for e in labelled:
            if kind == "choice":
                hits.append(postprocess.choose(model, tok, e.text, list(e.choices))["index"] == int(e.label))
            else:
                truth = labels[e.label] if isinstance(e.label, int) else e.label
                hits.append(postprocess.classify(model, tok, [e.text], labels)[0]["label"] == truth)
        return {"accuracy": float(np.mean(hits)), "examples": len(hits)}
    if kind == "token":
        labelled = [e for e in examples if e.entities]
        if not labelled:
            return None
        correct = predicted = gold = 0
        for e in labelled:
            spans = entity_spans(postprocess.tag_tokens(model, tok, e.text, labels))
            truth = {tuple(entity) for entity in e.entities}
            correct, predicted, gold = correct + len(spans & truth), predicted + len(spans), gold + len(truth)
        precision, recall = correct / max(predicted, 1), correct / gold
        f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
        return {"entity_f1": float(f1), "precision": float(precision), "recall": float(recall),
                "examples": len(labelled)}
    return None


def entity_spans(tokens: list[dict]) -> set[tuple[int, int, str]]:
    """BIO-tagged tokens ({"start", "end", "label"}) -> {(first char, last char + 1, type)}: an entity
    starts at B-type (or at an I-type that does not continue one) and runs over the I-type after it."""
    spans: set[tuple[int, int, str]] = set()
    current: list | None = None
    for token in tokens:
        prefix, _, kind = token["label"].partition("-")
        if prefix == "I" and current is not None and current[2] == kind:
            current[1] = token["end"]
            continue
        if current is not None:
            spans.add(tuple(current))
        current = [token["start"], token["end"], kind] if prefix in ("B", "I") and kind else None
    if current is not None:
        spans.add(tuple(current))
    return spans


def evaluation_batches(task, tok, config, eval_examples):
    """Batch-1 unpadded inputs: the evaluation texts, or (no tokenizer) the validation ids row by row."""
    from prelnedge.examples import calibration_batches
    from prelnedge.runtime.rows import rows_of
    from prelnedge.verify.validate import validation_batches

    if tok is not None:
        return calibration_batches(tok, task, eval_examples)
    rows = []
    for ids, mask in validation_batches(config, task):
        if task.per_choice:  # (B, C, L): one item of C choices per row
            rows.extend((ids[i:i + 1], mask[i:i + 1]) for i in range(ids.shape[0]))
            continue
        rows.extend(rows_of(ids, mask))
    return rows

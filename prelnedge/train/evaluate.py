"""Held-out metrics straight from the training model (the per-epoch log). The shipped figures in
metrics.json are measured again on the saved folder through prelnedge's own reference and
post-processing (see scripts/train_default_model.py), so they describe what users run."""

from __future__ import annotations

import numpy as np
import torch

from prelnedge.verify.fidelity import qa_scores
from prelnedge.runtime.postprocess import best_span, word_edges
from prelnedge.runtime.tokenizer import PreLNTokenizer
from prelnedge.train import features as F


def _chunks(items: list, size: int = 64):
    for i in range(0, len(items), size):
        yield items[i:i + size]


@torch.no_grad()
def quick_metrics(model, tok: PreLNTokenizer, test: F.Split) -> dict:
    model.eval()
    out: dict[str, float] = {}
    em, f1 = [], []
    for chunk in _chunks(test.qa):
        encs = [tok.encode(ex["question"], ex["context"]) for ex in chunk]
        ids, mask = F.ids_and_mask(tok, [e.ids for e in encs])
        start, end = (t.numpy() for t in model.qa_logits(ids, mask))
        for row, (ex, enc) in enumerate(zip(chunk, encs)):
            allowed = np.array([sid == 1 for sid in enc.sequence_ids] + [False] * (ids.shape[1] - len(enc.ids)))
            padded = list(enc.offsets) + [(0, 0)] * (len(allowed) - len(enc.offsets))
            starts, ends = word_edges(ex["context"], padded, allowed)  # whole words, as users decode
            s, e, _ = best_span(start[row], end[row], allowed, can_start=starts, can_end=ends)
            answer = ex["context"][enc.offsets[s][0]:enc.offsets[e][1]]
            scores = qa_scores(answer, tuple(ex["answers"]))
            em.append(scores[0])
            f1.append(scores[1])
    out["qa_exact_match"], out["qa_f1"] = float(np.mean(em)), float(np.mean(f1))
    hits = []
    for chunk in _chunks(test.sentiment):
        ids, mask = F.ids_and_mask(tok, [tok.encode(ex["text"]).ids for ex in chunk])
        pred = model.sentiment_logits(ids, mask).argmax(-1).tolist()
        hits += [p == ex["label"] for p, ex in zip(pred, chunk)]
    out["sentiment_accuracy"] = float(np.mean(hits))
    out["entity_f1"] = entity_f1(lambda ids, mask: model.tag_logits(ids, mask).numpy(), tok, test.tagged)
    hits = []
    for chunk in _chunks(test.choice, 16):
        ids, mask, valid, labels = F.choice_tensors(tok, chunk)
        pred = model.choice_logits(ids, mask).masked_fill(~valid, -1e4).argmax(-1)
        hits += (pred == labels).tolist()
    out["choice_accuracy"] = float(np.mean(hits))
    return {k: round(v, 4) for k, v in out.items()}


def entity_f1(tag_logits, tok: PreLNTokenizer, tagged: list[dict]) -> float:
    """Entity-level F1 (exact token span and type) over BIO tags; `tag_logits(ids, mask)` -> (B, L, N)."""
    feats = F.tag_features(tok, tagged)
    correct = predicted = gold = 0
    for chunk in _chunks(feats):
        ids, mask = F.ids_and_mask(tok, [r[0] for r in chunk])
        pred = np.asarray(tag_logits(ids, mask)).argmax(-1)
        for row, (_, tags) in enumerate(chunk):
            p = [int(t) if g != F.IGNORE else F.IGNORE for t, g in zip(pred[row], tags)]
            ps, gs = F.entity_spans(p), F.entity_spans(tags)
            correct, predicted, gold = correct + len(ps & gs), predicted + len(ps), gold + len(gs)
    if not predicted or not gold:
        return 0.0
    precision, recall = correct / predicted, correct / gold
    return 0.0 if not correct else 2 * precision * recall / (precision + recall)


def shipped_metrics(folder, test: F.Split) -> dict:
    """The held-out metrics of a saved folder, through prelnedge's float reference and the same
    post-processing and metric code `prelnedge predict` and `prelnedge report` use."""
    from prelnedge.verify.fidelity import task_metric
    from prelnedge.examples import Example
    from prelnedge.models.reference import load_reference
    from prelnedge.tasks import task_with_head
    from prelnedge.train.data import SENTIMENT_LABELS

    examples = {  # head kind -> the held-out split, as the task metric reads it
        "span": [Example(e["question"], e["context"], answers=tuple(e["answers"])) for e in test.qa],
        "sequence": [Example(e["text"], label=SENTIMENT_LABELS[e["label"]]) for e in test.sentiment],
        "token": [Example(e["text"], entities=tuple(map(tuple, e["entities"]))) for e in test.tagged],
        "choice": [Example(e["prompt"], choices=tuple(e["choices"]), label=e["label"]) for e in test.choice],
    }
    result = {}
    for kind, rows in examples.items():
        task = task_with_head(kind)
        model = load_reference(folder, task.name)
        tok = PreLNTokenizer.from_dir(folder, model.config.max_tokens)
        metric = task_metric(task, model, tok, rows, model.config.labels)
        result[task.name] = {k: round(v, 4) if isinstance(v, float) else v for k, v in metric.items()}
    return result

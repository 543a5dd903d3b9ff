"""Generated examples -> token ids and targets, through the same tokenizer wrapper prelnedge uses
at run time (so offsets, pair layout and truncation match what `predict` does)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from prelnedge.runtime.tokenizer import PreLNTokenizer
from prelnedge.train.data import TAGS

IGNORE = -100


@dataclass
class Split:
    """The examples of one split, generated once (texts kept for evaluation files and metrics)."""
    qa: list[dict]  # {"question", "context", "answers", "start", "end"} (character span)
    sentiment: list[dict]  # {"text", "label"}
    tagged: list[dict]  # {"text", "entities": [[start, end, type], ...]}
    choice: list[dict]  # {"prompt", "choices", "label"}
    text: list[str]  # plain text for the language-model heads


def qa_features(tok: PreLNTokenizer, examples: list[dict]) -> list[tuple]:
    """(ids, start_token, end_token); examples whose answer does not survive truncation are dropped."""
    out = []
    for ex in examples:
        enc = tok.encode(ex["question"], ex["context"])
        span = token_span(enc, ex["start"], ex["end"], segment=1)
        if span is not None:
            out.append((enc.ids, *span))
    return out


def token_span(enc, start: int, end: int, segment: int) -> tuple[int, int] | None:
    """First and last token of `segment` (0: the pair's first text, 1: its second) that cover the
    characters [start, end) of that text, or None when truncation cut them off."""
    first = last = None
    for i, ((a, b), sid) in enumerate(zip(enc.offsets, enc.sequence_ids)):
        if sid != segment:
            continue
        if first is None and a <= start < b:
            first = i
        if a < end <= b:
            last = i
    return (first, last) if first is not None and last is not None else None


def choice_answer_span(tok: PreLNTokenizer, item: dict) -> tuple[int, int] | None:
    """Token positions of the right choice inside the prompt (a reading item's answer in its passage),
    or None when the prompt does not hold it exactly once (association items, repeated values). The
    prompt is the first segment of every choice row and is never truncated (the tokenizer cuts only the
    second text of a pair), so the positions are the same in each row."""
    right = item["choices"][item["label"]]
    if item["prompt"].count(right) != 1:
        return None
    at = item["prompt"].find(right)
    return token_span(tok.encode(item["prompt"], right), at, at + len(right), segment=0)


def tag_features(tok: PreLNTokenizer, examples: list[dict]) -> list[tuple]:
    """(ids, tag ids) with BIO tags on every sub-word token, IGNORE on special tokens."""
    index = {t: i for i, t in enumerate(TAGS)}
    out = []
    for ex in examples:
        enc = tok.encode(ex["text"])
        tags = []
        for (a, b), sid in zip(enc.offsets, enc.sequence_ids):
            if sid is None:
                tags.append(IGNORE)
                continue
            label = "O"
            for start, end, etype in ex["entities"]:
                if start <= a < end:
                    label = ("B-" if a == start or not tags or tags[-1] == index["O"] else "I-") + etype
                    break
            tags.append(index[label])
        out.append((enc.ids, tags))
    return out


def pad(rows: list, value: int) -> torch.Tensor:
    length = max(len(r) for r in rows)
    return torch.tensor([list(r) + [value] * (length - len(r)) for r in rows], dtype=torch.int64)


def ids_and_mask(tok: PreLNTokenizer, rows: list) -> tuple[torch.Tensor, torch.Tensor]:
    ids = pad(rows, tok.pad_id)
    return ids, (ids != tok.pad_id).to(torch.int64)


def choice_tensors(tok: PreLNTokenizer, items: list[dict]):
    """(B, C, L) ids and mask, (B, C) valid-choice mask, (B,) labels; short items padded with empty rows."""
    most = max(len(it["choices"]) for it in items)
    rows, valid = [], []
    for it in items:
        encs = [tok.encode(it["prompt"], c).ids for c in it["choices"]]
        rows.extend(encs + [[tok.pad_id]] * (most - len(encs)))
        valid.append([True] * len(encs) + [False] * (most - len(encs)))
    ids = pad(rows, tok.pad_id).reshape(len(items), most, -1)
    mask = (ids != tok.pad_id).to(torch.int64)
    mask[..., 0] = 1  # an all-pad row still needs one attended key (its logit is masked anyway)
    return ids, mask, torch.tensor(valid), torch.tensor([it["label"] for it in items])


def mask_tokens(ids: torch.Tensor, tok: PreLNTokenizer, generator: torch.Generator,
                rate: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: 15% of real tokens are targets; of those 80% <mask>, 10% random, 10% kept."""
    special = (ids == tok.pad_id) | (ids == tok.bos_id) | (ids == tok.eos_id)
    chosen = (torch.rand(ids.shape, generator=generator) < rate) & ~special
    labels = ids.masked_fill(~chosen, IGNORE)
    roll = torch.rand(ids.shape, generator=generator)
    masked = ids.clone()
    masked[chosen & (roll < 0.8)] = tok.mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[swap] = torch.randint(4, tok.vocab_size - 1, ids.shape, generator=generator)[swap]
    return masked, labels


def causal_rows(tok: PreLNTokenizer, texts: list[str]) -> list[list[int]]:
    """`<s> text </s>` truncated to the limit: the model learns what follows, and where text ends."""
    rows = []
    for text in texts:
        enc = tok.encode(text, add_special_tokens=False, max_length=tok.max_length - 2)
        rows.append([tok.bos_id, *enc.ids, tok.eos_id])
    return rows


def batches(n: int, size: int, rng: random.Random, lengths: list[int] | None = None, pool: int = 50):
    """Endless shuffled index batches over n examples. With `lengths`, each run of `pool` batches is
    sorted by length before it is cut into batches (then the batches are shuffled), so a batch pads
    to a length near its rows' own: CPU time goes into real tokens, not padding."""
    order = list(range(n))
    while True:
        rng.shuffle(order)
        cut = [order[i:i + size] for i in range(0, n - size + 1, size)]
        if lengths is not None:
            cut = []
            for i in range(0, n - size + 1, size * pool):
                run = sorted(order[i:i + size * pool], key=lambda k: lengths[k])
                cut += [run[j:j + size] for j in range(0, len(run) - size + 1, size)]
            rng.shuffle(cut)
        yield from cut


def entity_spans(tags: list[int]) -> set[tuple[int, int, str]]:
    """BIO tag ids (IGNORE skipped) -> {(first token, last token, type)}."""
    spans, start, kind = set(), None, None
    seq = list(tags) + [0]
    for i, t in enumerate(seq):
        name = TAGS[t] if t != IGNORE else "O"
        inside = name.startswith("I-") and kind == name[2:]
        if start is not None and not inside:
            spans.add((start, i - 1, kind))
            start, kind = None, None
        if name.startswith("B-") or (name.startswith("I-") and start is None):
            start, kind = i, name[2:]
    return spans

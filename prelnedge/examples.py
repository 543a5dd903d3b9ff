"""Calibration (and evaluation) text: files in, tokenized examples out.

Accepted files:
- JSONL, one example per line: a JSON string, or an object with "text" (and "pair" for a second
  text), "question" + "context" for qa, "prompt" + "choices" for multiple-choice. Evaluation files
  add the truth: "label" (classification, multiple-choice index), "answers" (qa, list of strings),
  "entities" (token classification: [[start, end, type], ...] character spans, BIO tags B-type/I-type).
- SQuAD-style JSON for qa: {"data": [{"paragraphs": [{"context": ..., "qas": [{"question": ...,
  "answers": [{"text": ...}]}]}]}]}.
Without a file, calibration uses the package's own corpus (prelnedge/data/corpus.txt, 40 English
sentences): single sentences, and for pair tasks each sentence against the passage around it.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

from prelnedge.errors import UserError
from prelnedge.tasks import Example, RequestError, Task, control_character  # Example: re-exported

DEFAULT_SOURCE = "prelnedge/data/corpus.txt"
MAX_EXAMPLES = 200


def default_examples(task: Task) -> list[Example]:
    lines = [line.strip() for line in resources.files("prelnedge").joinpath("data/corpus.txt")
             .read_text(encoding="utf-8").splitlines() if line.strip()]
    request = task.request
    if request.role("rows"):  # each sentence against two others as its choices
        return [request.example({request.role("first").name: line, request.role("rows").name:
                                 [lines[(i + 1) % len(lines)], lines[(i + 7) % len(lines)]]})
                for i, line in enumerate(lines)]
    second = request.role("second")
    if second and not second.optional:  # each sentence against the passage around it
        return [request.example({request.role("first").name: line, second.name: " ".join(lines[i:i + 4])})
                for i, line in enumerate(lines)]
    return [request.example({request.role("first").name: line}) for line in lines]


def packaged_eval_file(task: Task) -> Path | None:
    """The held-out evaluation set shipped for the embedded default model (written by
    scripts/train_default_model.py), or None when the package has none for this task."""
    file = Path(str(resources.files("prelnedge").joinpath(f"data/eval-{task.name}.jsonl")))
    return file if file.is_file() else None


def load_examples(path: Path, task: Task, what: str = "calibration") -> list[Example]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{what} file {path} is not UTF-8 text") from None
    try:
        whole = json.loads(raw)
    except json.JSONDecodeError:
        whole = None  # JSONL (or broken): read line by line below
    if isinstance(whole, dict) and "data" in whole:
        examples = _squad(path, whole, task, what)
    else:
        examples = [_example(path, number, line, task, what)
                    for number, line in enumerate(raw.splitlines(), 1) if line.strip()]
    if not examples:
        raise UserError(f"{what} file {path} holds no examples; expected JSONL lines or SQuAD-style JSON")
    return examples


def _bad(path: Path, where: str, problem: str, task: Task, what: str) -> UserError:
    return UserError(f"{what} file {path}{where}: {problem}; for task {task.name} use {task.request.line_format}")


def _example(path: Path, number: int, line: str, task: Task, what: str) -> Example:
    where = f" line {number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        found = control_character(line[exc.pos:exc.pos + 1], start=exc.colno)
        problem = (f"holds {found} (binary data? the file must be text)" if found
                   else f"not JSON ({exc.msg}, column {exc.colno})")
        raise _bad(path, where, problem, task, what) from None
    try:
        return task.request.parse(item)
    except RequestError as exc:
        raise _bad(path, where, str(exc), task, what) from None


def _squad(path: Path, whole: dict, task: Task, what: str) -> list[Example]:
    if not task.request.squad_json:
        raise _bad(path, "", "SQuAD-style JSON is for qa only", task, what)
    try:
        data = whole["data"]
        examples = [Example(qa["question"], paragraph["context"],
                            answers=tuple(a["text"] for a in qa.get("answers", [])))
                    for article in data for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise _bad(path, "", f"not SQuAD-style JSON ({type(exc).__name__}: {exc})", task, what) from None
    for number, example in enumerate(examples, 1):
        if not all(isinstance(value, str) for value in (example.text, example.pair, *example.answers)):
            raise _bad(path, f" question {number}", "question, context and answer texts must be strings", task, what)
        found = control_character(example.text) or control_character(example.pair)
        if found:
            raise _bad(path, f" question {number}", f"holds {found}, which no text holds (binary data?)", task, what)
    return examples


def encode_example(tok, task: Task, example: Example) -> tuple[np.ndarray, np.ndarray]:
    """One example -> (input_ids, attention_mask) of batch 1 with no padding (multiple-choice:
    (1, choices, L), padded only to its longest choice)."""
    ids, mask = tok.batch(task.request.encodings(tok, example, task.causal))
    return (ids[None], mask[None]) if task.per_choice else (ids, mask)


def calibration_batches(tok, task: Task, examples: list[Example], limit: int = MAX_EXAMPLES):
    return [encode_example(tok, task, example) for example in examples[:limit]]

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
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from prelnedge.errors import UserError
from prelnedge.tasks import Task

DEFAULT_SOURCE = "prelnedge/data/corpus.txt"
MAX_EXAMPLES = 200


@dataclass(frozen=True)
class Example:
    text: str  # the text, the question (qa) or the prompt (multiple-choice)
    pair: str | None = None  # second text, the context (qa)
    choices: tuple[str, ...] = ()
    label: int | str | None = None
    answers: tuple[str, ...] = field(default=())
    entities: tuple[tuple[int, int, str], ...] = field(default=())  # token-classification: char spans + type


def default_examples(task: Task) -> list[Example]:
    lines = [line.strip() for line in resources.files("prelnedge").joinpath("data/corpus.txt")
             .read_text(encoding="utf-8").splitlines() if line.strip()]
    if task.request.kind == "question-context":  # each sentence against the passage around it
        return [Example(line, " ".join(lines[i:i + 4])) for i, line in enumerate(lines)]
    if task.request.kind == "prompt-choices":
        return [Example(line, choices=(lines[(i + 1) % len(lines)], lines[(i + 7) % len(lines)]))
                for i, line in enumerate(lines)]
    return [Example(line) for line in lines]


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
        found = _control_character(line[exc.pos:exc.pos + 1], start=exc.colno)
        problem = (f"holds {found} (binary data? the file must be text)" if found
                   else f"not JSON ({exc.msg}, column {exc.colno})")
        raise _bad(path, where, problem, task, what) from None
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, dict):
        raise _bad(path, where, f"expected a string or an object, got {type(item).__name__}", task, what)

    def text(key: str) -> str:
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise _bad(path, where, f"needs a non-empty string {key!r}", task, what)
        found = _control_character(value)
        if found:
            raise _bad(path, where, f"{key!r} holds {found}, which no text holds (binary data?)", task, what)
        return value

    label = item.get("label")
    if label is not None and (isinstance(label, bool) or not isinstance(label, (int, str))):
        raise _bad(path, where, f"'label' must be a label name or an integer, got {type(label).__name__}", task, what)
    if task.request.kind == "question-context":
        answers = item.get("answers", [])
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise _bad(path, where, f"'answers' must be a list of strings, got {json.dumps(answers)[:40]}",
                       task, what)
        return Example(text("question"), text("context"), answers=tuple(answers))
    if task.request.kind == "prompt-choices":
        choices = item.get("choices")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
            raise _bad(path, where, "'choices' must list at least two non-empty strings", task, what)
        return Example(text("prompt"), choices=tuple(choices), label=label)
    pair = item.get("pair")
    if pair is not None and not isinstance(pair, str):
        raise _bad(path, where, "'pair' must be a string", task, what)
    entities = item.get("entities", ())
    if not isinstance(entities, list | tuple) or not all(
            isinstance(e, list) and len(e) == 3 and isinstance(e[0], int) and isinstance(e[1], int)
            and isinstance(e[2], str) for e in entities):
        raise _bad(path, where, "'entities' must list [start, end, type] character spans", task, what)
    return Example(text("text"), pair, label=label, entities=tuple(tuple(e) for e in entities))


def _control_character(text: str | None, start: int = 1) -> str | None:
    """The first control character in `text` other than tab and line breaks, named with its column
    (counted from `start`), or None: a NUL from a binary file would otherwise surface later as a
    tokenizer's length error."""
    for position, char in enumerate(text or "", start):
        if (ord(char) < 32 and char not in "\t\n\r") or ord(char) == 127:
            name = "a NUL byte" if char == "\x00" else "a control character"
            return f"{name} (U+{ord(char):04X}) at column {position}"
    return None


def _squad(path: Path, whole: dict, task: Task, what: str) -> list[Example]:
    if task.request.kind != "question-context":
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
        found = _control_character(example.text) or _control_character(example.pair)
        if found:
            raise _bad(path, f" question {number}", f"holds {found}, which no text holds (binary data?)", task, what)
    return examples


def encode_example(tok, task: Task, example: Example) -> tuple[np.ndarray, np.ndarray]:
    """One example -> (input_ids, attention_mask) of batch 1 with no padding (multiple-choice:
    (1, choices, L), padded only to its longest choice)."""
    if task.per_choice:
        ids, mask = tok.batch([tok.encode(example.text, choice) for choice in example.choices])
        return ids[None], mask[None]
    if task.causal:
        return tok.batch([tok.encode_causal(example.text)])
    return tok.batch([tok.encode(example.text, example.pair)])


def calibration_batches(tok, task: Task, examples: list[Example], limit: int = MAX_EXAMPLES):
    return [encode_example(tok, task, example) for example in examples[:limit]]

"""THE task registry. Every stage (loading, models, CLI, export, validation, reports, tests) reads
the seven tasks from here; nothing else keeps its own list or compares task names. Per task: its io
spec, its head kind (which head class the model files build and how outputs are decoded), the
request a caller gives (fields, <mask>), whether labels apply, and how it is judged (agreement with
the float reference, the metric on labelled data). Modules dispatch on `head_kind`, `causal` and
`per_choice`; the request does its own work (parse a line, give field values, encode: `Request`), its
fields carry roles, so no caller branches on the request's kind or spells a field's name.

Axis legend used in io specs: B batch, C choices, L sequence length, H hidden size,
V vocabulary size, N number of labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from prelnedge.errors import UserError


@dataclass(frozen=True)
class TensorSpec:
    name: str
    axes: tuple[str, ...]  # symbolic axes, e.g. ("B", "L")
    dtype: str  # numpy dtype name at the model boundary (exporters may narrow int64 to int32)


# What a request field is to the tokenizer, so that nothing outside this file needs its name:
#   first   the text an encoding starts with (a text, a question, a prompt)
#   second  the text paired with the first in one encoding (a context, a classification pair)
#   rows    several texts, each paired with the first in an encoding of its own (multiple-choice
#           choices: one item is one row per choice)
ROLES = ("first", "second", "rows")
# The keys of an evaluation line that give the truth rather than the request (Example's fields).
TRUTH_FIELDS = ("label", "answers", "entities")


class RequestError(ValueError):
    """A request line or a request's values that do not fit the task's fields; the message says what
    is wrong (callers add where: the file and line, or the CLI option)."""


@dataclass(frozen=True)
class Example:
    """One request with its truth (when labelled): the texts by role, so every task has the same three
    slots. `Request.example` builds one from a request's field values, `Request.values` gives them back."""
    text: str  # the first text: the text, the question (qa) or the prompt (multiple-choice)
    pair: str | None = None  # the second text: the context (qa), a classification pair
    choices: tuple[str, ...] = ()  # the rows (multiple-choice)
    label: int | str | None = None
    answers: tuple[str, ...] = field(default=())
    entities: tuple[tuple[int, int, str], ...] = field(default=())  # token-classification: char spans + type


@dataclass(frozen=True)
class Field:
    """One field of a request: its name (the key of a golden.json example and of a JSONL line) and its role."""
    name: str
    role: str  # one of ROLES
    optional: bool = False  # a line may leave it out; runtimes and the bundle's spec never ask for it

    @property
    def type(self) -> str:
        return "strings" if self.role == "rows" else "string"


@dataclass(frozen=True)
class Request:
    """What a caller gives for one prediction, and the work done on it: `parse` reads a request line,
    `example` and `values` turn field values into an Example and back, `encodings` tokenizes one. Callers
    (examples.py, verify/golden.py, runtime/postprocess.py, the bundle's spec) never branch on `kind`."""
    kind: str  # a name for the request (one of REQUEST_KINDS), for people and tests
    fields: tuple[Field, ...]
    line_format: str  # how a calibration/evaluation JSONL line gives it (quoted in error messages)
    needs_mask: bool = False  # each text must hold <mask>: the positions the model fills
    truth: tuple[str, ...] = ()  # the TRUTH_FIELDS an evaluation line of this request may add
    squad_json: bool = False  # files may also be SQuAD-style JSON (question-context requests)

    @property
    def required(self) -> tuple[Field, ...]:
        """The fields a runtime asks for (a bundle's spec lists these)."""
        return tuple(f for f in self.fields if not f.optional)

    def role(self, role: str) -> Field | None:
        return next((f for f in self.fields if f.role == role), None)

    @property
    def lists(self) -> tuple[str, ...]:
        """The fields that hold several strings (the rest hold one)."""
        return tuple(f.name for f in self.fields if f.type == "strings")

    def example(self, values: dict[str, Any], **truth: Any) -> Example:
        """The Example of a request's field values (already checked: see `parse`)."""
        slots: dict[str, Any] = {"first": "text", "second": "pair", "rows": "choices"}
        given = {slots[f.role]: values[f.name] for f in self.fields if values.get(f.name) is not None}
        if "choices" in given:
            given["choices"] = tuple(given["choices"])
        return Example(**given, **truth)

    def values(self, example: Example) -> dict[str, Any]:
        """The example's field values by field name (optional fields only when given): a golden.json
        example's request, or a JSONL line without its truth."""
        by_role = {"first": example.text, "second": example.pair, "rows": list(example.choices)}
        return {f.name: by_role[f.role] for f in self.fields if not (f.optional and by_role[f.role] is None)}

    def parse(self, item: Any) -> Example:
        """A request line's JSON value -> Example, or RequestError naming what is missing or wrong and
        what the request allows. A bare string is the first field of a one-text request."""
        first = self.role("first")
        if isinstance(item, str) and len(self.required) == 1:
            item = {first.name: item}
        if not isinstance(item, dict):
            raise RequestError(f"expected {'a string or ' if len(self.required) == 1 else ''}an object, "
                               f"got {type(item).__name__}")
        allowed = [f.name for f in self.fields] + list(self.truth)
        unknown = [key for key in item if key not in allowed]
        hint = (f" (unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(allowed)})") if unknown else ""
        values = {}
        for f in self.fields:
            value = item.get(f.name)
            if value is None and f.optional:
                continue
            if f.role == "rows":
                if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, str) and v for v in value):
                    raise RequestError(f"{f.name!r} must list at least two non-empty strings{hint}")
                values[f.name] = value
            elif f.optional:
                if not isinstance(value, str):
                    raise RequestError(f"{f.name!r} must be a string{hint}")
                values[f.name] = value
            else:
                if not isinstance(value, str) or not value.strip():
                    raise RequestError(f"needs a non-empty string {f.name!r}{hint}")
                values[f.name] = value
        for f in self.fields:
            found = control_character(values.get(f.name) if f.type == "string" else None)
            if found:
                raise RequestError(f"{f.name!r} holds {found}, which no text holds (binary data?)")
        return self.example(values, **self._truth(item))

    def _truth(self, item: dict) -> dict[str, Any]:
        truth: dict[str, Any] = {}
        if "label" in self.truth:
            label = item.get("label")
            if label is not None and (isinstance(label, bool) or not isinstance(label, (int, str))):
                raise RequestError(f"'label' must be a label name or an integer, got {type(label).__name__}")
            truth["label"] = label
        if "answers" in self.truth:
            answers = item.get("answers", [])
            if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
                raise RequestError(f"'answers' must be a list of strings, got {json.dumps(answers)[:40]}")
            truth["answers"] = tuple(answers)
        if "entities" in self.truth:
            entities = item.get("entities", ())
            if not isinstance(entities, list | tuple) or not all(
                    isinstance(e, list) and len(e) == 3 and isinstance(e[0], int) and isinstance(e[1], int)
                    and isinstance(e[2], str) for e in entities):
                raise RequestError("'entities' must list [start, end, type] character spans")
            truth["entities"] = tuple(tuple(e) for e in entities)
        return truth

    def encodings(self, tok: Any, example: Example, causal: bool = False) -> list:
        """The example's encodings: one per row (rows), else one; `causal`: `<s> text` without `</s>`."""
        if self.role("rows"):
            return [tok.encode(example.text, row) for row in example.choices]
        if causal:
            return [tok.encode_causal(example.text)]
        return [tok.encode(example.text, example.pair)]


def control_character(text: str | None, start: int = 1) -> str | None:
    """The first control character in `text` other than tab and line breaks, named with its column
    (counted from `start`), or None: a NUL from a binary file would otherwise surface later as a
    tokenizer's length error."""
    for position, char in enumerate(text or "", start):
        if (ord(char) < 32 and char not in "\t\n\r") or ord(char) == 127:
            name = "a NUL byte" if char == "\x00" else "a control character"
            return f"{name} (U+{ord(char):04X}) at column {position}"
    return None


_TEXT_FIELDS = (Field("text", "first"), Field("pair", "second", optional=True))
TEXT = Request("text", _TEXT_FIELDS, '"a string" or {"text": ..., "pair": ...} lines', truth=("label", "entities"))
MASKED_TEXT = Request("text", _TEXT_FIELDS, TEXT.line_format, needs_mask=True, truth=TEXT.truth)
QUESTION_CONTEXT = Request("question-context", (Field("question", "first"), Field("context", "second")),
                           '{"question": ..., "context": ...} lines, or SQuAD-style JSON', truth=("answers",),
                           squad_json=True)
PROMPT_CHOICES = Request("prompt-choices", (Field("prompt", "first"), Field("choices", "rows")),
                         '{"prompt": ..., "choices": [...]} lines', truth=("label",))
REQUEST_KINDS = ("text", "question-context", "prompt-choices")


@dataclass(frozen=True)
class Judged:
    """How an artifact is judged against its float reference, and what the task scores on labelled data."""
    description: str
    agreement: tuple[str, ...]  # the per-example numbers verify/fidelity.py averages, each in [0, 1]
    metric: tuple[str, ...] = ()  # the labelled-set metric's numbers (verify/fidelity.task_metric); () = none


ARGMAX = Judged("argmax agreement", ("argmax_agreement",), ("accuracy",))
TOP_K = 5  # candidates compared per position by the LM agreement, and kept in golden.json's decoded answers
LM_AGREEMENT = (f"top{TOP_K}_overlap", "top1_agreement")


@dataclass(frozen=True)
class Task:
    name: str
    aliases: tuple[str, ...]
    description: str
    # Head parameter prefix in the canonical (HF) state dict; "" for the base model.
    head: str
    # Which HF class this mirrors (used by tests and when writing `architectures` in config.json).
    hf_class: str
    uses_pooler: bool
    causal: bool
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # What the head computes, which decides the head class each model file builds and how outputs
    # are decoded: "features" (none), "lm" (a token per position), "sequence" (a label per text),
    # "token" (a label per token), "choice" (a score per candidate), "span" (start/end per token).
    # `head` above cannot decide this: Hugging Face names three different heads "classifier".
    head_kind: str
    request: Request
    judged: Judged
    # The head's classes have names (config.json's id2label): answers and bundles carry labels.
    labels_apply: bool = False

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.outputs)

    @property
    def per_choice(self) -> bool:
        """Inputs carry a choices axis, (B, C, L) rather than (B, L): one item is C texts."""
        return "C" in self.inputs[0].axes

    @property
    def metric(self) -> str:
        """How the task is judged when an artifact is compared to its float reference, in words."""
        return self.judged.description


def _text_inputs(*axes: str) -> tuple[TensorSpec, ...]:
    return (TensorSpec("input_ids", axes, "int64"), TensorSpec("attention_mask", axes, "int64"))


_SEQ = _text_inputs("B", "L")
_LOGITS = (TensorSpec("logits", ("B", "L", "V"), "float32"),)

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("base", ("feature-extraction",), "encoder features", "", "RobertaPreLayerNormModel",
             uses_pooler=True, causal=False, inputs=_SEQ,
             outputs=(TensorSpec("last_hidden_state", ("B", "L", "H"), "float32"),
                      TensorSpec("pooler_output", ("B", "H"), "float32")),
             head_kind="features", request=TEXT,
             judged=Judged("cosine similarity of pooler_output", ("pooler_cosine",))),
        Task("masked-lm", ("fill-mask",), "fill in <mask> tokens", "lm_head", "RobertaPreLayerNormForMaskedLM",
             uses_pooler=False, causal=False, inputs=_SEQ, outputs=_LOGITS,
             head_kind="lm", request=MASKED_TEXT,
             judged=Judged("top-k token overlap at the <mask> positions (every position without one)",
                           LM_AGREEMENT)),
        Task("causal-lm", ("text-generation",), "next-token prediction (causal mask)", "lm_head",
             "RobertaPreLayerNormForCausalLM", uses_pooler=False, causal=True, inputs=_SEQ, outputs=_LOGITS,
             head_kind="lm", request=TEXT,
             judged=Judged("top-k token overlap at every position, and greedy agreement over a continuation",
                           (*LM_AGREEMENT, "greedy_agreement"))),
        Task("sequence-classification", ("text-classification",), "one label per text", "classifier",
             "RobertaPreLayerNormForSequenceClassification", uses_pooler=False, causal=False, inputs=_SEQ,
             outputs=(TensorSpec("logits", ("B", "N"), "float32"),),
             head_kind="sequence", request=TEXT, judged=ARGMAX, labels_apply=True),
        Task("token-classification", (), "one label per token", "classifier",
             "RobertaPreLayerNormForTokenClassification", uses_pooler=False, causal=False, inputs=_SEQ,
             outputs=(TensorSpec("logits", ("B", "L", "N"), "float32"),),
             head_kind="token", request=TEXT, labels_apply=True,
             judged=Judged("argmax agreement over real tokens", ("argmax_agreement",),
                           ("entity_f1", "precision", "recall"))),
        Task("multiple-choice", (), "pick one of C candidate continuations", "classifier",
             "RobertaPreLayerNormForMultipleChoice", uses_pooler=True, causal=False,
             inputs=_text_inputs("B", "C", "L"), outputs=(TensorSpec("logits", ("B", "C"), "float32"),),
             head_kind="choice", request=PROMPT_CHOICES, judged=ARGMAX),
        Task("qa", ("question-answering",), "extractive question answering", "qa_outputs",
             "RobertaPreLayerNormForQuestionAnswering", uses_pooler=False, causal=False, inputs=_SEQ,
             outputs=(TensorSpec("start_logits", ("B", "L"), "float32"),
                      TensorSpec("end_logits", ("B", "L"), "float32")),
             head_kind="span", request=QUESTION_CONTEXT,
             judged=Judged("start/end agreement and span exact match after decoding",
                           ("start_agreement", "end_agreement", "span_exact_match", "span_f1"),
                           ("exact_match", "f1"))),
    )
}
# What `prelnedge info` and `load_reference` load when no task is named.
DEFAULT_TASK = "base"

_BY_NAME: dict[str, Task] = {}
for _task in TASKS.values():
    for _name in (_task.name, *_task.aliases):
        _BY_NAME[_name] = _task


HEAD_KINDS = ("features", "lm", "sequence", "token", "choice", "span")
assert all(task.head_kind in HEAD_KINDS and task.request.kind in REQUEST_KINDS for task in TASKS.values())
assert all(f.role in ROLES for task in TASKS.values() for f in task.request.fields)


def get_task(name: str) -> Task:
    """Look a task up by its name or any alias; unknown names list the allowed ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; allowed: {', '.join(all_task_names())}") from None


def task_with_head(head_kind: str) -> Task:
    """The one registered task whose head is of this kind (not "lm": masked and causal LM share it)."""
    found = [task for task in TASKS.values() if task.head_kind == head_kind]
    if len(found) != 1:
        raise ValueError(f"{len(found)} tasks have head kind {head_kind!r}")
    return found[0]


def all_task_names() -> list[str]:
    """Canonical names first, then aliases (the CLI's `choices`)."""
    return list(TASKS) + [alias for task in TASKS.values() for alias in task.aliases]


# The causal LM's key/value cache at the model boundary (ONNX exports): optimum's names, so its tooling and
# transformers.js' generic decoder recognise them. Each is (B, nh, P, hd): P tokens already seen; P may be 0.
CACHE_AXES = ("B", "nh", "P", "hd")


def cache_input_names(layers: int) -> tuple[str, ...]:
    return tuple(f"past_key_values.{i}.{kind}" for i in range(layers) for kind in ("key", "value"))


def cache_output_names(layers: int) -> tuple[str, ...]:
    return tuple(f"present.{i}.{kind}" for i in range(layers) for kind in ("key", "value"))

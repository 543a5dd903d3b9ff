"""THE task registry. Every stage (loading, models, CLI, export, validation, reports, tests) reads
the seven tasks from here; nothing else keeps its own list or compares task names. Per task: its io
spec, its head kind (which head class the model files build and how outputs are decoded), the
request a caller gives (fields, <mask>), whether labels apply, and how it is judged (agreement with
the float reference, the metric on labelled data). Modules dispatch on `head_kind`, `request.kind`,
`causal` and `per_choice`.

Axis legend used in io specs: B batch, C choices, L sequence length, H hidden size,
V vocabulary size, N number of labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from prelnedge.errors import UserError


@dataclass(frozen=True)
class TensorSpec:
    name: str
    axes: tuple[str, ...]  # symbolic axes, e.g. ("B", "L")
    dtype: str  # numpy dtype name at the model boundary (exporters may narrow int64 to int32)


@dataclass(frozen=True)
class Request:
    """What a caller gives for one prediction. `fields` are the keys of a golden.json example and of a
    calibration/evaluation JSONL line; `kind` picks how examples are built (verify/golden.py) and
    parsed (examples.py), and which CLI options the task reads (runtime/postprocess.py)."""
    kind: str  # one of REQUEST_KINDS
    fields: tuple[str, ...]
    line_format: str  # how a calibration/evaluation JSONL line gives it (quoted in error messages)
    needs_mask: bool = False  # each text must hold <mask>: the positions the model fills
    lists: tuple[str, ...] = ()  # the fields that hold several strings (the rest hold one)


TEXT = Request("text", ("text",), '"a string" or {"text": ..., "pair": ...} lines')
MASKED_TEXT = Request("text", ("text",), TEXT.line_format, needs_mask=True)
QUESTION_CONTEXT = Request("question-context", ("question", "context"),
                           '{"question": ..., "context": ...} lines, or SQuAD-style JSON')
PROMPT_CHOICES = Request("prompt-choices", ("prompt", "choices"), '{"prompt": ..., "choices": [...]} lines',
                         lists=("choices",))
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

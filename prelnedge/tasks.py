"""THE task registry. Every stage (loading, models, CLI, export, validation, reports, tests) reads
the seven tasks from here; nothing else keeps its own list.

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
    # How the task is judged when an artifact is compared to its float reference.
    metric: str
    # What the head computes, which decides the head class each model file builds and how outputs
    # are decoded: "features" (none), "lm" (a token per position), "sequence" (a label per text),
    # "token" (a label per token), "choice" (a score per candidate), "span" (start/end per token).
    # `head` above cannot decide this: Hugging Face names three different heads "classifier".
    head_kind: str

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.outputs)


def _text_inputs(*axes: str) -> tuple[TensorSpec, ...]:
    return (TensorSpec("input_ids", axes, "int64"), TensorSpec("attention_mask", axes, "int64"))


_SEQ = _text_inputs("B", "L")

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("base", ("feature-extraction",), "encoder features", "",
             "RobertaPreLayerNormModel", uses_pooler=True, causal=False, inputs=_SEQ,
             outputs=(TensorSpec("last_hidden_state", ("B", "L", "H"), "float32"),
                      TensorSpec("pooler_output", ("B", "H"), "float32")),
             metric="cosine similarity of last_hidden_state", head_kind="features"),
        Task("masked-lm", ("fill-mask",), "fill in <mask> tokens", "lm_head",
             "RobertaPreLayerNormForMaskedLM", uses_pooler=False, causal=False, inputs=_SEQ,
             outputs=(TensorSpec("logits", ("B", "L", "V"), "float32"),),
             metric="top-k token overlap at every position", head_kind="lm"),
        Task("causal-lm", ("text-generation",), "next-token prediction (causal mask)", "lm_head",
             "RobertaPreLayerNormForCausalLM", uses_pooler=False, causal=True, inputs=_SEQ,
             outputs=(TensorSpec("logits", ("B", "L", "V"), "float32"),),
             metric="top-k token overlap at every position", head_kind="lm"),
        Task("sequence-classification", ("text-classification",), "one label per text",
             "classifier", "RobertaPreLayerNormForSequenceClassification", uses_pooler=False,
             causal=False, inputs=_SEQ, outputs=(TensorSpec("logits", ("B", "N"), "float32"),),
             metric="argmax agreement", head_kind="sequence"),
        Task("token-classification", (), "one label per token", "classifier",
             "RobertaPreLayerNormForTokenClassification", uses_pooler=False, causal=False,
             inputs=_SEQ, outputs=(TensorSpec("logits", ("B", "L", "N"), "float32"),),
             metric="argmax agreement over real tokens", head_kind="token"),
        Task("multiple-choice", (), "pick one of C candidate continuations", "classifier",
             "RobertaPreLayerNormForMultipleChoice", uses_pooler=True, causal=False,
             inputs=_text_inputs("B", "C", "L"), outputs=(TensorSpec("logits", ("B", "C"), "float32"),),
             metric="argmax agreement", head_kind="choice"),
        Task("qa", ("question-answering",), "extractive question answering", "qa_outputs",
             "RobertaPreLayerNormForQuestionAnswering", uses_pooler=False, causal=False, inputs=_SEQ,
             outputs=(TensorSpec("start_logits", ("B", "L"), "float32"),
                      TensorSpec("end_logits", ("B", "L"), "float32")),
             metric="start/end agreement and span exact match after decoding", head_kind="span"),
    )
}

_BY_NAME: dict[str, Task] = {}
for _task in TASKS.values():
    for _name in (_task.name, *_task.aliases):
        _BY_NAME[_name] = _task


HEAD_KINDS = ("features", "lm", "sequence", "token", "choice", "span")
assert all(task.head_kind in HEAD_KINDS for task in TASKS.values())


def get_task(name: str) -> Task:
    """Look a task up by its name or any alias; unknown names list the allowed ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; allowed: {', '.join(all_task_names())}") from None


def all_task_names() -> list[str]:
    """Canonical names first, then aliases (the CLI's `choices`)."""
    return list(TASKS) + [alias for task in TASKS.values() for alias in task.aliases]

"""golden.json: a few texts, their token ids and the float reference's outputs, so that every
runtime (Python, browser, Android) can check itself against the float model."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from prelnedge.tasks import Task
from prelnedge.tokenizer import PreLNTokenizer

TEXTS = ["The lamp was first fuelled by whale oil.", "Bees visit thousands of flowers every day.",
         "Zürich café 🙂 and 日本語 text."]
MASKED = ["The lamp was <mask> in 1931.", "Honey keeps for <mask> because it holds little water."]
QA = [("When was the lamp electrified?",
       "The lamp was first fuelled by whale oil, then by kerosene, and was finally electrified in 1931."),
      ("How long is the river?", "The river Ashby rises in the northern hills and flows for 140 kilometres.")]
CHOICES = [("Bees carry", ["pollen from flower to flower", "granite from the quarry"])]
# Beyond this many numbers, an output is stored as its argmax over the last axis plus a slice.
FULL_LIMIT = 50_000
TOP_K = 5  # fill-mask and next-token candidates kept in "decoded"


def golden_examples(task: Task, tok: PreLNTokenizer) -> list[dict[str, Any]]:
    if task.name == "qa":
        return [{"question": q, "context": c, "encoding": tok.encode(q, c)} for q, c in QA]
    if task.name == "multiple-choice":
        return [{"prompt": p, "choices": cs, "encodings": [tok.encode(p, c) for c in cs]} for p, cs in CHOICES]
    if task.name == "causal-lm":
        return [{"text": t, "encoding": tok.encode_causal(t)} for t in TEXTS]
    texts = MASKED if task.name == "masked-lm" else TEXTS
    return [{"text": t, "encoding": tok.encode(t)} for t in texts]


def decoded(task: Task, tok: PreLNTokenizer, forward: Callable, example: dict[str, Any],
            labels: tuple[str, ...]) -> Any:
    """What the task's post-processing makes of one golden example: the answer every runtime's own
    post-processing must reproduce from the expected outputs."""
    from prelnedge import postprocess

    if task.name == "qa":
        return postprocess.answer_question(forward, tok, example["question"], example["context"])
    if task.name == "multiple-choice":
        return postprocess.choose(forward, tok, example["prompt"], example["choices"])
    if task.name == "sequence-classification":
        result = postprocess.classify(forward, tok, [example["text"]], labels)[0]
        return {"label": result["label"], "score": result["score"]}
    if task.name == "token-classification":
        return postprocess.tag_tokens(forward, tok, example["text"], labels)
    if task.name == "masked-lm":
        return postprocess.fill_mask(forward, tok, example["text"], TOP_K)
    if task.name == "causal-lm":
        return postprocess.next_tokens(forward, tok, example["text"], TOP_K)
    return None  # base: features only, nothing to decode


def build_golden(task: Task, tok: PreLNTokenizer, forward: Callable, labels: tuple[str, ...] = ()) -> dict[str, Any]:
    examples = []
    for example in golden_examples(task, tok):
        answer = decoded(task, tok, forward, example, labels)
        encodings = example.pop("encodings", None) or [example.pop("encoding")]
        ids, mask = tok.batch(encodings)
        if task.name == "multiple-choice":
            ids, mask = ids[None], mask[None]
        outputs = forward(ids, mask)
        example["input_ids"], example["attention_mask"] = ids.tolist(), mask.tolist()
        if task.name != "multiple-choice":
            example["offsets"] = [list(o) for o in encodings[0].offsets]
        example["expected"] = {name: _stored(np.asarray(outputs[name])) for name in task.output_names}
        if answer is not None:
            example["decoded"] = answer
        examples.append(example)
    return {"task": task.name, "labels": list(labels), "max_tokens": tok.max_length, "top_k": TOP_K,
            "examples": examples}


def build_golden_from_ids(task: Task, batches: list, forward: Callable) -> dict[str, Any]:
    """For checkpoints without a tokenizer: token ids only, no texts."""
    examples = []
    for ids, mask in batches:
        outputs = forward(ids, mask)
        examples.append({"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
                         "expected": {name: _stored(np.asarray(outputs[name])) for name in task.output_names}})
    return {"task": task.name, "examples": examples, "note": "the checkpoint has no tokenizer: ids only"}


def _stored(value: np.ndarray) -> dict[str, Any]:
    if value.size <= FULL_LIMIT:
        return {"shape": list(value.shape), "values": value.round(6).tolist()}
    return {"shape": list(value.shape), "argmax": value.argmax(-1).tolist(),
            "slice_last_axis_64": value[..., :64].round(6).tolist()}

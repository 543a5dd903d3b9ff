"""The task spec a device runtime works from, written into every bundle's manifest.json as "spec":
the browser page (runtimes/web/src/js) and the Android core (android_demo/core) keep no task list
of their own; they dispatch on the head kind and read fields, tensors and the pass rule from here.

    task        the registry's name (shown to people; never dispatched on)
    head_kind   what the head computes (prelnedge.tasks.HEAD_KINDS): features | lm | sequence |
                token | choice | span; decides how inputs are built and outputs decoded
    causal      lm heads: true = next token after `<s> text` (no `</s>`), false = fill <mask>
    request     the fields a caller gives, in order: [{"name", "type": "string" | "strings", "role",
                "needs_mask"}] (the registry's Task.request.required). A runtime names no field: it reads
                each value by its role, "first" (the text an encoding starts with), "second" (the text
                paired with it) or "rows" (texts each paired with the first in a row of its own);
                needs_mask: the text must hold <mask>
    decode      the post-processing's settings, only those the head kind reads: "top_k" (lm: candidates
                kept), "max_answer_tokens" (span: the longest answer), "generate_tokens" (causal lm: new
                tokens per press of Generate)
    labelled    whether the outputs' last axis indexes labels (labels.txt / config.json id2label;
                the registry's Task.labels_apply)
    inputs, outputs   [{"name", "axes", "dtype"}] as the export's manifest io has them (axes: B batch,
                C choices, L tokens, H hidden, V vocabulary, N labels)
    rule        the golden self-test's pass rule (prelnedge.verify.rules.device_rule)
    cache       causal-lm ONNX exports only: the key/value cache inputs and outputs ({"inputs", "outputs",
                "axes", "heads", "head_dim", "dtype"}); a runtime feeds (B, heads, 0, head_dim) empty tensors
                to run the plain causal LM, or its own cache to generate
"""

from __future__ import annotations

from prelnedge.runtime.generate import DEMO_NEW_TOKENS
from prelnedge.runtime.postprocess import MAX_ANSWER_TOKENS
from prelnedge.tasks import TOP_K, Task, get_task
from prelnedge.verify.rules import device_rule


def runtime_spec(manifest: dict) -> dict:
    """The spec for an export (its manifest), as a bundle carries it."""
    task = get_task(manifest["task"])
    io = manifest["io"]
    spec = {
        "task": task.name,
        "head_kind": task.head_kind,
        "causal": task.causal,
        "request": [{"name": field.name, "type": field.type, "role": field.role, "needs_mask": task.request.needs_mask}
                    for field in task.request.required],
        "decode": decode_settings(task),
        "labelled": task.labels_apply,
        "inputs": [_tensor(spec) for spec in io["inputs"]],
        "outputs": [_tensor(spec) for spec in io["outputs"]],
        "rule": device_rule(manifest),
    }
    cache = (manifest.get("export") or {}).get("cache")
    if cache:
        spec["cache"] = cache
    return spec


def _tensor(spec: dict) -> dict:
    return {"name": spec["name"], "axes": list(spec["axes"]), "dtype": spec["dtype"]}


def decode_settings(task: Task) -> dict:
    """The numbers the task's post-processing reads, from where Python keeps them."""
    settings: dict = {}
    if task.head_kind == "lm":
        settings["top_k"] = TOP_K
    if task.head_kind == "span":
        settings["max_answer_tokens"] = MAX_ANSWER_TOKENS
    if task.causal:
        settings["generate_tokens"] = DEMO_NEW_TOKENS
    return settings

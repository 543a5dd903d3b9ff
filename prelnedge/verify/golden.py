"""golden.json: a few texts, their token ids and the float reference's outputs, so that every
runtime (Python, browser, Android) can check itself against the float model.

Besides the short texts, every task carries an example filled to exactly the model's maximum
length, and a padded batch of ids (that long example with a short one), so that the runtimes are
checked at the last position and with padding too. Per-token outputs are stored as 0 at padded
positions (listed in the example's `zeroed_at_padding`): they carry no answer, and an integer model
run row by row without padding cannot produce them; every runtime zeroes its own the same way.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from prelnedge.tasks import TOP_K, Example, Task  # TOP_K: the fill-mask and next-token candidates kept in "decoded"
from prelnedge.runtime.tokenizer import PreLNTokenizer

TEXTS = ["The lamp was first fuelled by whale oil.", "Bees visit thousands of flowers every day.",
         "Zürich café 🙂 and 日本語 text."]
MASKED = ["The lamp was <mask> in 1931.", "Honey keeps for <mask> because it holds little water."]
# The first example is what the web page and the Android app pre-fill: for these head kinds, a text in
# the style the embedded default model was trained on, so the demo shows a meaningful answer.
FIRST_TEXT = {"sequence": "The staff were friendly and the rooms were lovely.",
              "token": "Marta Oyelaran kept the lighthouse in Harwick."}
QA = [("When was the lamp electrified?",
       "The lamp was first fuelled by whale oil, then by kerosene, and was finally electrified in 1931."),
      ("How long is the river?", "The river Ashby rises in the northern hills and flows for 140 kilometres.")]
CHOICES = [("Bees carry", ["pollen from flower to flower", "granite from the quarry"]),
           ("The lamp was lit with", ["whale oil", "a handful of river stones from the northern hills"])]
# Repeated until an example fills the model's maximum length exactly.
FILLER = ("The river Ashby rises in the northern hills and flows for 140 kilometres past farms, mills and the old "
          "lamp works, where whale oil gave way to kerosene and then, in 1931, to electric light.").split()
# Causal LM: a short greedy continuation of this prompt (the float reference recomputing the whole
# sequence per token, no cache) that every runtime's own decoding loop must reproduce.
GENERATION_PROMPT = "The lamp was first fuelled by"
GENERATION_TOKENS = 12
# Beyond this many numbers, an output is stored as its argmax over the last axis plus a slice.
FULL_LIMIT = 50_000


def golden_examples(task: Task, tok: PreLNTokenizer) -> list[dict[str, Any]]:
    """The task's examples: each its request's field values (Request.values) and "encodings" (one per
    row), the last one exactly `tok.max_length` tokens long."""
    request = task.request
    return [{**request.values(example), "encodings": request.encodings(tok, example, task.causal)}
            for example in _examples(task, tok)]


def _examples(task: Task, tok: PreLNTokenizer) -> list[Example]:
    """The golden texts in the request's roles: rows (a prompt and its choices), a first text paired with
    a required second one (a question and its context), or one text."""
    request = task.request
    second = request.role("second")
    if request.role("rows"):
        prompt = CHOICES[0][0]
        long_choice = fill_to_limit(lambda c: len(_untruncated(tok, prompt, c)), "", tok.max_length)
        items = [*CHOICES, (prompt, [CHOICES[0][1][0], long_choice])]  # rows of unequal length: padded
        return [Example(p, choices=tuple(cs)) for p, cs in items]
    if second and not second.optional:
        question = QA[0][0]
        long_context = fill_to_limit(lambda c: len(_untruncated(tok, question, c)), "", tok.max_length)
        return [Example(q, c) for q, c in [*QA, (question, long_context)]]
    if task.causal:  # `<s> text` without `</s>`: what comes next is the answer
        long_text = fill_to_limit(lambda t: 1 + len(_untruncated(tok, t, special=False)), "", tok.max_length)
        return [Example(t) for t in [*TEXTS, long_text]]
    head = "The lamp was <mask>" if request.needs_mask else ""
    texts = MASKED if request.needs_mask else [FIRST_TEXT.get(task.head_kind, TEXTS[0]), *TEXTS[1:]]
    long_text = fill_to_limit(lambda t: len(_untruncated(tok, t)), head, tok.max_length)
    return [Example(t) for t in [*texts, long_text]]


def _untruncated(tok: PreLNTokenizer, text: str, pair: str | None = None, special: bool = True) -> tuple:
    return tok.encode(text, pair, max_length=1 << 30, add_special_tokens=special).ids


def fill_to_limit(count: Callable[[str], int], head: str, limit: int) -> str:
    """`head` followed by FILLER words (repeated), as long as `count(text) <= limit`, then topped up
    with short pieces so that the text reaches `limit` tokens exactly where the vocabulary allows."""
    def text_of(n: int) -> str:
        words = [FILLER[i % len(FILLER)] for i in range(n)]
        return " ".join(([head] if head else []) + words)

    low, high = 0, limit  # every word is at least one token: `limit` words always overflow
    while low < high:  # the most words that fit
        middle = (low + high + 1) // 2
        low, high = (middle, high) if count(text_of(middle)) <= limit else (low, middle - 1)
    text = text_of(low)
    for piece in (" a", " a", " a", "."):
        if count(text) < limit and count(text + piece) <= limit:
            text += piece
    return text


def decoded(task: Task, tok: PreLNTokenizer, forward: Callable, example: dict[str, Any],
            labels: tuple[str, ...]) -> Any:
    """What the task's post-processing makes of one golden example: the answer every runtime's own
    post-processing must reproduce from the expected outputs (None for features: nothing to decode)."""
    from prelnedge.runtime.postprocess import run_example

    if task.head_kind == "features":
        return None
    answer = run_example(task, forward, tok, labels, task.request.example(example),
                         top_k=TOP_K if task.head_kind == "lm" else None)
    if isinstance(answer, dict):  # the example holds its text already
        answer.pop("text", None)
    return answer


def build_golden(task: Task, tok: PreLNTokenizer, forward: Callable, labels: tuple[str, ...] = ()) -> dict[str, Any]:
    examples, batches = [], []
    for example in golden_examples(task, tok):
        answer = decoded(task, tok, forward, example, labels)
        encodings = example.pop("encodings")
        ids, mask = tok.batch(encodings)
        if task.per_choice:  # one item of C choices: (1, C, L)
            ids, mask = ids[None], mask[None]
        batches.append(encodings)
        example.update(_ids_and_outputs(task, forward, ids, mask))
        if not task.per_choice:
            example["offsets"] = [list(o) for o in encodings[0].offsets]
        if answer is not None:
            example["decoded"] = answer
        examples.append(example)
    # the longest example and the first one in one padded batch, ids only (no request to re-tokenize)
    ids, mask = _padded_batch(task, tok, batches[-1], batches[0])
    examples.append(_ids_and_outputs(task, forward, ids, mask))
    golden = {"task": task.name, "labels": list(labels), "max_tokens": tok.max_length, "top_k": TOP_K,
              "examples": examples}
    if task.causal:
        golden["generation"] = greedy_generation(tok, forward)
    return golden


def greedy_generation(tok: PreLNTokenizer, forward: Callable) -> dict[str, Any]:
    """GENERATION_PROMPT continued greedily by `forward` for up to GENERATION_TOKENS tokens (or to </s>)."""
    from prelnedge.runtime.generate import RecomputeDecoder, generate

    prompt_ids = list(tok.encode_causal(GENERATION_PROMPT).ids)
    result = generate(RecomputeDecoder(forward), prompt_ids, GENERATION_TOKENS, tok.eos_id, tok.max_length)
    return {"prompt": GENERATION_PROMPT, "prompt_ids": prompt_ids, "new_ids": result.new_ids,
            "text": tok.decode(result.new_ids), "stop": result.stop, "max_new_tokens": GENERATION_TOKENS,
            "eos_id": tok.eos_id, "max_tokens": tok.max_length}


def _padded_batch(task: Task, tok: PreLNTokenizer, longest: list, short: list) -> tuple[np.ndarray, np.ndarray]:
    if not task.per_choice:
        return tok.batch([longest[0], short[0]])
    ids, mask = tok.batch(longest + short)  # (2C, L): both items' choices padded to one length
    choices = len(longest)
    return ids.reshape(2, choices, -1), mask.reshape(2, choices, -1)


def build_golden_from_ids(task: Task, batches: list, forward: Callable) -> dict[str, Any]:
    """For checkpoints without a tokenizer: token ids only, no texts."""
    examples = [_ids_and_outputs(task, forward, ids, mask) for ids, mask in batches]
    return {"task": task.name, "examples": examples, "note": "the checkpoint has no tokenizer: ids only"}


def _ids_and_outputs(task: Task, forward: Callable, ids: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    outputs = zero_padded_positions(task, forward(ids, mask), mask)
    example: dict[str, Any] = {"input_ids": ids.tolist(), "attention_mask": mask.tolist()}
    zeroed = [spec.name for spec in task.outputs if "L" in spec.axes] if mask.ndim == 2 and not mask.all() else []
    if zeroed:
        example["zeroed_at_padding"] = zeroed
    example["expected"] = {name: _stored(np.asarray(outputs[name])) for name in task.output_names}
    return example


def zero_padded_positions(task: Task, outputs: dict, mask: np.ndarray) -> dict:
    """Per-token outputs (axes (B, L, ...)) set to 0 where attention_mask is 0: padded positions
    carry no answer. Other outputs, and batches without padding, are returned as they are."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.all():
        return outputs
    result = dict(outputs)
    for spec in task.outputs:
        if "L" in spec.axes and spec.name in outputs:
            assert spec.axes.index("L") == 1, spec  # the registry puts the token axis second
            value = np.array(outputs[spec.name], copy=True)
            value[mask == 0] = 0
            result[spec.name] = value
    return result


def _stored(value: np.ndarray) -> dict[str, Any]:
    if value.size <= FULL_LIMIT:
        return {"shape": list(value.shape), "values": value.round(6).tolist()}
    return {"shape": list(value.shape), "argmax": value.argmax(-1).tolist(),
            "slice_last_axis_64": value[..., :64].round(6).tolist()}

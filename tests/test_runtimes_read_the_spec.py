"""The request does its own work and the runtimes read the bundle's spec (issue 27 §2).

tasks.Request parses a request line, gives an Example's field values back and encodes it as the
callers did before it; the spec written for every task carries its request fields with their roles
and the decode settings; the page's JS and the app's Java name no request field and keep no decode
number of their own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prelnedge.bundle.runtime_spec import runtime_spec
from prelnedge.runtime.generate import DEMO_NEW_TOKENS
from prelnedge.runtime.postprocess import DEFAULT_TOP_K, MAX_ANSWER_TOKENS
from prelnedge.tasks import ROLES, TASKS, TOP_K, Example, RequestError, get_task

ROOT = Path(__file__).resolve().parent.parent
# the runtimes' own sources (test drivers and fixtures left out: they feed the page a bundle's values)
RUNTIME_SOURCES = [*sorted((ROOT / "runtimes" / "web" / "src").rglob("*.js")), ROOT / "runtimes" / "web" / "src" / "index.html",
                   *sorted((ROOT / "android_demo" / "core" / "src" / "main").rglob("*.java")),
                   *sorted((ROOT / "android_demo" / "app" / "src" / "main").rglob("*.java"))]
# every request field the registry names that is not also a result key ("text": results echo their text)
FIELD_NAMES = sorted({f.name for task in TASKS.values() for f in task.request.fields} - {"text"})
# (file, name) pairs where the word is a key of some other record, each with the reason
NOT_A_REQUEST = {("Generate.java", "prompt"): "golden.json's generation block names its prompt text"}


def _manifest(task_name: str) -> dict:
    """What runtime_spec reads from an export's manifest."""
    task = get_task(task_name)
    io = {"inputs": [{"name": s.name, "axes": list(s.axes), "dtype": s.dtype} for s in task.inputs],
          "outputs": [{"name": s.name, "axes": list(s.axes), "dtype": s.dtype} for s in task.outputs]}
    return {"task": task.name, "io": io, "target": "onnx", "export": {}}


@pytest.mark.parametrize("name", TASKS)
def test_the_spec_carries_fields_with_roles_and_the_decode_block(name):
    task = TASKS[name]
    spec = runtime_spec(_manifest(name))
    assert spec["request"] == [{"name": f.name, "type": f.type, "role": f.role, "needs_mask": task.request.needs_mask}
                               for f in task.request.required]
    assert [f["role"] for f in spec["request"]][0] == "first" and {f["role"] for f in spec["request"]} <= set(ROLES)
    want = {"masked-lm": {"top_k": TOP_K}, "causal-lm": {"top_k": TOP_K, "generate_tokens": DEMO_NEW_TOKENS},
            "qa": {"max_answer_tokens": MAX_ANSWER_TOKENS}}.get(name, {})  # what each head kind's decoder reads
    assert spec["decode"] == want
    assert DEFAULT_TOP_K == TOP_K  # one source: the registry's


def test_the_spec_names_the_numbers_of_the_old_runtimes():
    """The values the page and the app kept before (postprocess.js MAX_ANSWER_TOKENS = 30, top-k 5,
    40 new tokens per Generate) now come from the spec unchanged."""
    assert runtime_spec(_manifest("qa"))["decode"] == {"max_answer_tokens": 30}
    assert runtime_spec(_manifest("causal-lm"))["decode"] == {"top_k": 5, "generate_tokens": 40}


LINES = {
    "sequence-classification": ({"text": "Fine rooms.", "pair": "Friendly staff.", "label": "positive"},
                                Example("Fine rooms.", "Friendly staff.", label="positive")),
    "token-classification": ({"text": "Marta kept it.", "entities": [[0, 5, "PER"]]},
                             Example("Marta kept it.", entities=((0, 5, "PER"),))),
    "masked-lm": ("The lamp was <mask>.", Example("The lamp was <mask>.")),
    "qa": ({"question": "Who?", "context": "Marta kept it.", "answers": ["Marta"]},
           Example("Who?", "Marta kept it.", answers=("Marta",))),
    "multiple-choice": ({"prompt": "Bees carry", "choices": ["pollen", "granite"], "label": 0},
                        Example("Bees carry", choices=("pollen", "granite"), label=0)),
}


@pytest.mark.parametrize("name", LINES)
def test_a_request_line_round_trips(name):
    request = TASKS[name].request
    line, want = LINES[name]
    example = request.parse(line)
    assert example == want
    values = request.values(example)
    truth = {k: getattr(example, k) for k in ("label", "answers", "entities") if k in request.truth}
    assert request.example(values, **truth) == example
    assert set(values) <= {f.name for f in request.fields}


def test_a_bad_line_names_what_is_missing_unknown_and_allowed():
    request = TASKS["qa"].request
    with pytest.raises(RequestError, match=r"needs a non-empty string 'context' \(unknown field 'contxt'; "
                                           r"allowed: question, context, answers\)"):
        request.parse({"question": "Who?", "contxt": "Marta kept it."})
    with pytest.raises(RequestError, match="'choices' must list at least two non-empty strings"):
        TASKS["multiple-choice"].request.parse({"prompt": "Bees carry", "choices": ["pollen"]})
    with pytest.raises(RequestError, match="expected an object, got str"):
        request.parse("Who?")  # a bare string is only a one-text request


@pytest.fixture(scope="module")
def tok():
    from prelnedge.checkpoint.load import default_model_dir
    from prelnedge.runtime.tokenizer import PreLNTokenizer

    return PreLNTokenizer.from_dir(default_model_dir(), 64)


@pytest.mark.parametrize("name", TASKS)
def test_request_encodes_as_the_tokenizer_did(tok, name):
    """Request.encodings gives what the callers built by hand before: the pair for qa, one row per
    choice, `<s> text` for the causal LM, the text (with its pair) otherwise."""
    task = TASKS[name]
    example = {"qa": Example("When was it lit?", "The lamp was lit in 1931."),
               "multiple-choice": Example("Bees carry", choices=("pollen", "granite stones"))}.get(
        name, Example("The lamp was <mask> in 1931.", "It is old." if name == "sequence-classification" else None))
    got = [list(e.ids) for e in task.request.encodings(tok, example, task.causal)]
    if task.per_choice:
        want = [list(tok.encode(example.text, c).ids) for c in example.choices]
    elif task.causal:
        want = [list(tok.encode_causal(example.text).ids)]
    else:
        want = [list(tok.encode(example.text, example.pair).ids)]
    assert got == want


def _literals(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".js", ".java"):  # comments may say what a field is; code may not name one
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        text = re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", text)
    else:
        text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return text


@pytest.mark.parametrize("path", RUNTIME_SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_runtimes_name_no_request_field_and_keep_no_decode_constant(path):
    code = _literals(path)
    for name in FIELD_NAMES:  # as a string, a property or an element id
        if (path.name, name) in NOT_A_REQUEST:
            continue
        pattern = rf"""["'`#]{name}["'`]|\.{name}\b|id="{name}\""""
        found = re.findall(pattern, code)
        assert not found, f"{path.name} names the request field {name!r}: {found}"
    for constant in (r"MAX_ANSWER", r"TOP_K", r"GENERATE_TOKENS", r"top_k\s*\?\?\s*\d", r"maxAnswerTokens\s*=\s*\d",
                     r"topK\s*=\s*\d"):
        assert not re.search(constant, code), f"{path.name} keeps a decode constant ({constant})"


def test_the_sources_checked_are_there():
    names = {p.name for p in RUNTIME_SOURCES}
    assert {"app.js", "postprocess.js", "selftest.js", "index.html", "Pipeline.java", "TaskSpec.java"} <= names

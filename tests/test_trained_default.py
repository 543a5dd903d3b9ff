"""The embedded default model is trained: it meets its quality bars on the held-out split shipped in
the package, answers the README's hand-written examples (float reference, int8 ONNX, int8 TFLite),
and the report on it shows task metrics in every cell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import prelnedge
from prelnedge.checkpoint.load import default_model_dir
from prelnedge.verify.fidelity import task_metric
from prelnedge.examples import load_examples, packaged_eval_file
from prelnedge.tasks import get_task
from prelnedge.runtime.tokenizer import PreLNTokenizer

# Hand-written, in the README's style (not generated): (question, context, answer).
QA_EXAMPLES = [
    ("When was the lamp electrified?",
     "The lamp was first fuelled by whale oil, then by kerosene, and was finally electrified in 1931.", "1931"),
    ("When was the bridge opened?",
     "The stone bridge over the river Ashby was opened in 1887 after two years of work.", "1887"),
    ("When was the bridge opened?",  # a trailing clause (the model before this one answered "ri")
     "The stone bridge over the river Ashby was opened in 1887 and still carries the main road.", "1887"),
    ("How long is the river?", "The river Ashby rises in the northern hills and flows for 140 kilometres.",
     "140 kilometres"),
    ("Who built the lighthouse?", "The lighthouse on Kestrel Point was built in 1874 by Marta Oyelaran.",
     "Marta Oyelaran"),
    ("Where is the old mill?", "The old mill stands in Millbrook, beside the river. It was closed in 1962.",
     "Millbrook"),
    ("Who designed the museum?", "The city museum was designed by Clara Hughes and opened in 1905.", "Clara Hughes"),
    ("How tall is the tower?", "The clock tower is 45 metres tall.", "45 metres"),
    ("How much did the hall cost?", "The town hall cost 900 pounds to build.", "900 pounds"),
    ("When was Anna born?", "Anna Weber was born in Vienna in 1901. She moved to Paris in 1930.", "1901"),
    ("Where did Anna move to?", "Anna Weber was born in Vienna in 1901. She moved to Paris in 1930.", "Paris"),
    # Written in session 7 to compare a retrained candidate with the shipped model on English that no
    # template produced (the held-out split is generated, so it cannot show over-fitting to the
    # templates): a 4-layer model with better held-out figures got 7 of these 19 wrong, and "Where did
    # Anna move to?" above. The model shipped in session 8 got 32 of all 34 hand-written questions, the
    # one shipped in session 10 (tokenizer with add_prefix_space) gets 31.
    ("When was the church built?", "The small church in the village was built in 1750. It has three bells.", "1750"),
    ("How many bells does the church have?", "The small church in the village was built in 1750. It has three bells.",
     "three"),
    ("Who painted the ceiling?", "The ceiling of the hall was painted by Paolo Rossi in 1820.", "Paolo Rossi"),
    ("How long is the canal?", "The canal is 12 kilometres long and was dug in 1790.", "12 kilometres"),
    ("When was the canal dug?", "The canal is 12 kilometres long and was dug in 1790.", "1790"),
    ("Who owns the farm?", "The farm is owned by Peter Brown. It lies near the river.", "Peter Brown"),
    ("How much did the statue cost?", "The bronze statue cost 300 dollars to make.", "300 dollars"),
    ("When did the school open?", "The school opened in 1880 with forty pupils.", "1880"),
    ("Where was Maria born?", "Maria Lopez was born in Madrid in 1890. She became a teacher.", "Madrid"),
    ("When was Maria born?", "Maria Lopez was born in Madrid in 1890. She became a teacher.", "1890"),
    ("How tall is the lighthouse?", "The lighthouse is 30 metres tall and stands on the cliff.", "30 metres"),
    ("When was the mill opened?", "The mill was opened in 1820 and closed in 1950.", "1820"),
    ("How heavy is the bell?", "The great bell weighs 500 kilograms.", "500 kilograms"),
    ("Who repaired the road?", "The road was repaired by John Smith in 1850.", "John Smith"),
    # The model before the one shipped in session 8 missed these (it answered the other verb's date, "right"
    # for "Brighton", "om" for "York"): invented names and more sentence shapes in the training data fixed them.
    ("When was the school extended?",
     "The village school was built in 1902 and was extended in 1955 after the war.", "1955"),
    ("When was the tower finished?",
     "Work on the clock tower began in 1820. The tower was finished in 1826 and repaired in 1911.", "1826"),
    ("When was the tower repaired?",
     "Work on the clock tower began in 1820. The tower was finished in 1826 and repaired in 1911.", "1911"),
    ("Where is the station?", "The old station is in Brighton, near the sea.", "Brighton"),
    ("When was the mill closed?", "The mill was opened in 1820 and closed in 1950.", "1950"),
    ("When was the road repaired?", "The road was built in 1700. It was repaired in 1850.", "1850"),
    # A known miss until whole-word decoding (issue 28): the model's best pair was "Y", the first
    # sub-word of " York"; the best whole-word span is "York".
    ("Where did Tom move to?", "Tom Baker was born in Leeds in 1950. He moved to York in 1980.", "York"),
    # A known miss until issue 28's model ("Tom Baker lives in Le", then "Tom Baker lives in Leeds").
    ("Where does Tom live?", "Tom Baker lives in Leeds and works as a baker.", "Leeds"),
]
# Hand-written questions the shipped model gets wrong (strict xfail: fixing one makes it XPASS and fail).
KNOWN_MISSES = [
    # whole-word decoding (issue 28) turned "Ada Cl" into "Ada"; the model of issue 28 still says "Ada"
    ("Who founded the library?", "The town library was founded by Ada Clark in 1901.", "Ada Clark"),
]
SENTIMENT_EXAMPLES = [("a fine day", "positive"), ("The service was slow, but the food was excellent.", "positive"),
                      ("I did not enjoy the film.", "negative"), ("The room was cold and dirty.", "negative")]
CHOICE_EXAMPLES = [("Bees carry", ["pollen", "granite"], 0)]
# Quality bars of issue 12, on the held-out split.
BARS = {"qa": {"exact_match": 0.80, "f1": 0.85}, "sequence-classification": {"accuracy": 0.90},
        "multiple-choice": {"accuracy": 0.80}, "token-classification": {"entity_f1": 0.85}}
# The shipped model (metrics.json "held_out", the packaged sets: QA EM 0.9275 / F1 0.9358, sentiment 1.0,
# entity F1 0.9614, multiple choice 0.8425) meets every bar. A bar listed here is expected to fail (strict
# xfail: a model that meets it makes its test XPASS, which fails, so the entry must then come off).
UNMET: set[tuple[str, str]] = set()
# A few points under what the shipped model holds on all 400 held-out examples (above): a regression
# guard for anyone retraining or touching the loaders, on the first EVAL_LIMIT.
FLOORS = {"qa": {"exact_match": 0.89, "f1": 0.90}, "sequence-classification": {"accuracy": 0.97},
          "multiple-choice": {"accuracy": 0.80}, "token-classification": {"entity_f1": 0.93}}
# The hand-written test set of issue 28 (tests/data/handwritten_qa.jsonl, never trained on): the shipped
# model answers 51 of 66 exactly (EM 0.773, F1 0.860 float; 0.773 / 0.862 int8-dynamic ONNX).
HANDWRITTEN = Path(__file__).parent / "data" / "handwritten_qa.jsonl"
HANDWRITTEN_FLOOR = {"exact_match": 0.75, "f1": 0.84}
EVAL_LIMIT = 200


def _tokenizer(model):
    return PreLNTokenizer.from_dir(default_model_dir(), model.config.max_tokens)


@pytest.mark.parametrize("task", list(FLOORS))
def test_held_out_metrics_hold_their_floor(task):
    model = prelnedge.load_reference(task=task)
    examples = load_examples(packaged_eval_file(get_task(task)), get_task(task), what="evaluation")[:EVAL_LIMIT]
    got = task_metric(get_task(task), model, _tokenizer(model), examples, model.config.labels)
    assert got["examples"] == len(examples) == EVAL_LIMIT
    for name, floor in FLOORS[task].items():
        assert got[name] >= floor, (name, got)


@pytest.mark.parametrize("task,name", [
    pytest.param(task, name, marks=pytest.mark.xfail(strict=True, reason="issue 12 bar not met yet (see UNMET)")
                 if (task, name) in UNMET else ())
    for task, bars in BARS.items() for name in bars])
def test_metrics_json_meets_issue_bar(task, name):
    metrics = json.loads((default_model_dir() / "metrics.json").read_text())["held_out"]
    assert metrics[task]["examples"] == 400
    assert metrics[task][name] >= BARS[task][name], metrics[task]


def _handwritten_metric(model, tok) -> dict:
    task = get_task("qa")
    return task_metric(task, model, tok, load_examples(HANDWRITTEN, task, what="evaluation"), ())


def test_handwritten_questions_hold_their_floor():
    model = prelnedge.load_reference(task="qa")
    got = _handwritten_metric(model, _tokenizer(model))
    assert got["examples"] >= 60
    for name, floor in HANDWRITTEN_FLOOR.items():
        assert got[name] >= floor, got


def _answers(model, tok):
    from prelnedge.runtime.postprocess import answer_question

    return [answer_question(model, tok, q, c)["answer"] for q, c, _ in QA_EXAMPLES]


def test_readme_examples_float_reference():
    from prelnedge.runtime.postprocess import choose, classify

    qa = prelnedge.load_reference(task="qa")
    assert _answers(qa, _tokenizer(qa)) == [a for _, _, a in QA_EXAMPLES]
    sent = prelnedge.load_reference(task="sequence-classification")
    got = classify(sent, _tokenizer(sent), [t for t, _ in SENTIMENT_EXAMPLES], sent.config.labels)
    assert [g["label"] for g in got] == [label for _, label in SENTIMENT_EXAMPLES]
    mc = prelnedge.load_reference(task="multiple-choice")
    for prompt, choices, right in CHOICE_EXAMPLES:
        assert choose(mc, _tokenizer(mc), prompt, choices)["index"] == right


@pytest.mark.xfail(strict=True, reason="known misses of the shipped model (hand-written questions it answers wrongly)")
@pytest.mark.parametrize("question,context,answer", KNOWN_MISSES)
def test_known_misses(question, context, answer):
    from prelnedge.runtime.postprocess import answer_question

    qa = prelnedge.load_reference(task="qa")
    assert answer_question(qa, _tokenizer(qa), question, context)["answer"] == answer


def test_per_task_heads_load_without_fresh_weights():
    for task in ("token-classification", "multiple-choice", "sequence-classification", "qa", "masked-lm"):
        model = prelnedge.load_reference(task=task)
        assert model.checkpoint.initialized == [], task
    tags = prelnedge.load_reference(task="token-classification")
    assert tags.config.num_labels == 9 and prelnedge.load_reference(task="qa").config.labels == ("negative", "positive")


@pytest.mark.parametrize("target", ["onnx", pytest.param("tflite", marks=pytest.mark.heavy)])
def test_readme_examples_int8_exports(target, tmp_path):
    from prelnedge.export import ExportConfig, export
    from prelnedge.quantize.stage import quantize_folder
    from prelnedge.runtime.sessions import load_exported

    float_export = export(ExportConfig(task="qa", target=target, out=tmp_path / "float"))
    int8 = load_exported(quantize_folder(float_export, "int8-dynamic", tmp_path / "int8").folder)
    assert _answers(int8, int8.tokenizer) == [a for _, _, a in QA_EXAMPLES]
    got = _handwritten_metric(int8, int8.tokenizer)
    for name, floor in HANDWRITTEN_FLOOR.items():
        assert got[name] >= floor, got


def test_transformers_loads_the_shared_checkpoint():
    """The main folder is a plain HF checkpoint: transformers' QA class gives our logits."""
    import torch
    from transformers import RobertaPreLayerNormForQuestionAnswering

    hf = RobertaPreLayerNormForQuestionAnswering.from_pretrained(str(default_model_dir())).eval()
    ours = prelnedge.load_reference(task="qa")
    tok = _tokenizer(ours)
    ids, mask = tok.batch([tok.encode(q, c) for q, c, _ in QA_EXAMPLES])
    with torch.no_grad():
        want = hf(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    got = ours(ids, mask)
    real = mask.astype(bool)
    np.testing.assert_allclose(got["start_logits"][real], want.start_logits.numpy()[real], atol=1e-4)
    np.testing.assert_allclose(got["end_logits"][real], want.end_logits.numpy()[real], atol=1e-4)


@pytest.mark.heavy  # an export, a quantization and 400 held-out questions per cell (~1.5 min on 2 busy cores)
def test_report_on_the_default_model_shows_task_metrics(tmp_path):
    """Without --eval, the report judges the embedded model on its packaged held-out set: every cell
    that passed its floor carries exact match / F1 against gold answers, and they are not zero."""
    from prelnedge.report.build import ReportConfig, run_report

    report = run_report(ReportConfig(task="qa", out=tmp_path / "r", targets=("onnx",), modes=("int8-dynamic",)))
    assert report["eval_file"].endswith("eval-qa.jsonl")
    passed = [cell for cell in report["cells"] if "task_metric" in cell]
    assert len(passed) == 2, report["cells"]
    for cell in passed:
        assert cell["task_metric"]["exact_match"] > 0.5 and cell["task_metric"]["f1"] > 0.5, cell


@pytest.mark.parametrize("task,hf_class", [("token-classification", "RobertaPreLayerNormForTokenClassification"),
                                           ("multiple-choice", "RobertaPreLayerNormForMultipleChoice")])
def test_per_task_heads_match_transformers(task, hf_class, tmp_path):
    """A per-task head file + the shared encoder, written as one HF folder, is what transformers'
    class for that task computes, and what prelnedge's loader gives for the embedded model."""
    import torch
    import transformers

    from prelnedge.checkpoint.task_heads import write_task_folder

    folder = write_task_folder(default_model_dir(), get_task(task), tmp_path / task)
    hf = getattr(transformers, hf_class).from_pretrained(str(folder)).eval()
    ours = prelnedge.load_reference(task=task)
    tok = _tokenizer(ours)
    if task == "multiple-choice":
        ids, mask = tok.batch([tok.encode("Bees carry", c) for c in ("pollen", "granite", "milk every morning")])
        ids, mask = ids[None], mask[None]
    else:
        ids, mask = tok.batch([tok.encode(t) for t, _ in SENTIMENT_EXAMPLES] + [tok.encode(QA_EXAMPLES[3][1])])
    with torch.no_grad():
        want = hf(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    got = ours(ids, mask)["logits"]
    keep = mask.astype(bool) if task == "token-classification" else np.ones(got.shape, bool)
    np.testing.assert_allclose(got[keep], want[keep], atol=1e-4)
    assert hf.config.num_labels == ours.config.num_labels

"""transformers.js (@huggingface/transformers 4.3.1, in Node) loads prelnedge web bundles unedited:
for each task it has a pipeline for, the pipeline's answer equals `prelnedge predict` on the same
export, and a quantized bundle's config picks its own model file (transformers.js's dtype naming).

Multiple-choice and causal-lm are left out on purpose: transformers.js has no RoBERTa class for them
(their bundles run on prelnedge's own page; see runtimes/web/README.md).

Needs runtimes/web/test/transformersjs/node_modules (`make web-deps`: npm ci --ignore-scripts there).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from prelnedge.bundle import bundle
from prelnedge.cli import main as prelnedge_main
from web_support import WEB, node

CLIENT = WEB / "test" / "transformersjs"
QUESTION = "Who kept a logbook of the ships?"
CONTEXT = ("The lighthouse on Kestrel Point was built in 1874. Its keeper, Marta Oyelaran, kept a logbook of "
           "every ship that passed during the winter storms. The lamp was electrified in 1931.")
TEXT = "A calm, bright morning on the harbour, and Marta kept the logbook."
MASKED = "The keeper kept a <mask> of every ship that passed."
SCORE_TOL = 1e-5
QUANTIZED = {"int8-dynamic": "q8", "fp16": "fp16", "int4": "q4"}  # mode -> the dtype transformers.js loads  # both sides run the same fp32 graph in ONNX Runtime (Node binding vs Python)


def predict(folder: Path, *args: str):
    """`prelnedge predict FOLDER ... --json`, in this process, parsed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert prelnedge_main(["predict", str(folder), *args, "--json"]) == 0
    return json.loads(out.getvalue())


def run_pipelines(root: Path, runs: list[dict], work: Path) -> list:
    if not (CLIENT / "node_modules" / "@huggingface" / "transformers" / "package.json").is_file():
        pytest.fail(f"{CLIENT}/node_modules is missing; run `make web-deps` "
                    "(npm ci --ignore-scripts --prefix runtimes/web/test/transformersjs)")
    job = work / "pipelines.json"
    job.write_text(json.dumps({"root": str(root), "runs": runs}, ensure_ascii=False), encoding="utf-8")
    proc = subprocess.run([node(), str(CLIENT / "pipeline.mjs"), str(job)], cwd=CLIENT, capture_output=True,
                          text=True, encoding="utf-8", timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout)
    errors = [(run, r["error"]) for run, r in zip(runs, results) if isinstance(r, dict) and "error" in r]
    assert not errors, errors
    return results


@pytest.fixture(scope="module")
def exports(default_onnx_export, tmp_path_factory) -> dict[str, Path]:
    """Float exports of the five tasks, plus an int8-dynamic classifier (made from the float one,
    which stays on disk, so its bundle holds both files)."""
    from prelnedge.quantize.stage import quantize_folder

    made = {task: default_onnx_export(task) for task in
            ("qa", "sequence-classification", "token-classification", "masked-lm", "base")}
    quantized = tmp_path_factory.mktemp("tjs-quant")
    for mode, dtype in QUANTIZED.items():
        made[f"sequence-classification-{dtype}"] = quantize_folder(
            made["sequence-classification"], mode, quantized / f"sequence-classification-{dtype}").folder
    return made


@pytest.fixture(scope="module")
def answers(exports, tmp_path_factory) -> dict[str, object]:
    """Every bundle under one parent folder (transformers.js's localModelPath), and the pipelines'
    answers in one node process."""
    root = tmp_path_factory.mktemp("tjs-bundles")
    for name, folder in exports.items():
        bundle(folder, "web", root / name)
    for dtype in ("fp16", "q4"):  # as from `export --quantize` (no float parent left): only the dtype's file
        (root / f"sequence-classification-{dtype}" / "onnx" / "model.onnx").unlink()
    runs = {
        "qa": {"pipeline": "question-answering", "model": "qa", "args": [QUESTION, CONTEXT]},
        "sequence-classification": {"pipeline": "text-classification", "model": "sequence-classification",
                                    "args": [TEXT]},
        # no dtype given: the bundle's config.json chooses q8, i.e. onnx/model_quantized.onnx
        "q8-default": {"pipeline": "text-classification", "model": "sequence-classification-q8", "args": [TEXT]},
        "q8-as-fp32": {"pipeline": "text-classification", "model": "sequence-classification-q8", "args": [TEXT],
                       "load": {"dtype": "fp32"}},
        **{f"{dtype}-default": {"pipeline": "text-classification", "model": f"sequence-classification-{dtype}",
                                "args": [TEXT]} for dtype in ("fp16", "q4")},
        "token-classification": {"pipeline": "token-classification", "model": "token-classification",
                                 "args": [TEXT], "options": {"ignore_labels": []}},
        "masked-lm": {"pipeline": "fill-mask", "model": "masked-lm", "args": [MASKED], "options": {"top_k": 5}},
        "base": {"pipeline": "feature-extraction", "model": "base", "args": [TEXT]},
    }
    return dict(zip(runs, run_pipelines(root, list(runs.values()), tmp_path_factory.mktemp("tjs-run"))))


def test_question_answering(answers, exports):
    want = predict(exports["qa"], "--question", QUESTION, "--context", CONTEXT)
    assert want["windows"] == 1  # transformers.js truncates; one window keeps both on the same text
    # transformers.js decodes the span's tokens (a leading space included); predict slices the context
    assert answers["qa"]["answer"].strip() == want["answer"]


def test_text_classification(answers, exports):
    want = predict(exports["sequence-classification"], "--text", TEXT)[0]
    got = answers["sequence-classification"][0]
    assert got["label"] == want["label"]
    assert got["score"] == pytest.approx(want["score"], abs=SCORE_TOL)


def test_quantized_bundle_loads_its_own_file_by_default(answers, exports):
    """config.json's transformers.js_config picks q8 (model_quantized.onnx); dtype fp32 still gets
    the float parent. The two scores differ by more than the tolerance, so the test sees which ran."""
    quantized = predict(exports["sequence-classification-q8"], "--text", TEXT)[0]
    floating = predict(exports["sequence-classification"], "--text", TEXT)[0]
    assert abs(quantized["score"] - floating["score"]) > 10 * SCORE_TOL
    assert answers["q8-default"][0]["score"] == pytest.approx(quantized["score"], abs=SCORE_TOL)
    assert answers["q8-as-fp32"][0]["score"] == pytest.approx(floating["score"], abs=SCORE_TOL)


@pytest.mark.parametrize("dtype", ["fp16", "q4"])
def test_other_quantized_bundles_load_by_their_dtype(answers, exports, dtype):
    """fp16 (model_fp16.onnx) and int4 (model_q4.onnx, MatMulNBits) bundles holding only that file:
    the default load finds it by the config's dtype and answers as predict does on the export."""
    want = predict(exports[f"sequence-classification-{dtype}"], "--text", TEXT)[0]
    got = answers[f"{dtype}-default"][0]
    assert got["label"] == want["label"] and got["score"] == pytest.approx(want["score"], abs=SCORE_TOL)


def test_token_classification(answers, exports):
    want = predict(exports["token-classification"], "--text", TEXT)[0]
    got = answers["token-classification"]
    assert [g["entity"] for g in got] == [w["label"] for w in want]
    assert [g["word"].strip() for g in got] == [w["token"].strip() for w in want]
    assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=SCORE_TOL)


def test_fill_mask(answers, exports):
    want = predict(exports["masked-lm"], "--text", MASKED, "--top-k", "5")[0][0]["candidates"]
    got = answers["masked-lm"]
    assert [g["token"] for g in got] == [w["id"] for w in want]
    assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=SCORE_TOL)


def test_feature_extraction(answers, exports):
    """predict reports the token count and the pooler; the pipeline returns last_hidden_state, which is
    compared with the same export run by prelnedge's runtime (what predict runs)."""
    from prelnedge.runtime.sessions import load_exported

    got = answers["base"]
    want = predict(exports["base"], "--text", TEXT)[0]
    assert got["dims"][:2] == [1, want["tokens"]]
    model = load_exported(exports["base"])
    ids, mask = model.tokenizer.encode_batch([TEXT])
    hidden = model(ids, mask)["last_hidden_state"][:, : want["tokens"]]
    np.testing.assert_allclose(np.asarray(got["data"], np.float32).reshape(got["dims"]), hidden, atol=SCORE_TOL)


def test_every_onnx_mode_has_a_transformers_js_file_name():
    from prelnedge.bundle.transformers_js import SUFFIX, model_file
    from prelnedge.quantize import MODES

    names = {m.name: model_file(m.transformers_js_dtype) for m in MODES if m.target == "onnx"}
    assert names == {"fp16": "onnx/model_fp16.onnx", "int8-dynamic": "onnx/model_quantized.onnx",
                     "int8-static": "onnx/model_int8.onnx", "int4": "onnx/model_q4.onnx"}
    assert set(SUFFIX) >= {m.transformers_js_dtype for m in MODES if m.target == "onnx"}


def test_config_keeps_the_true_model_type(exports, tmp_path):
    from prelnedge.bundle.transformers_js import web_config

    config = json.loads((exports["qa"] / "config.json").read_text())
    web = web_config(config, "qa", "fp32")
    assert (web["model_type"], web["architectures"]) == ("roberta", ["RobertaForQuestionAnswering"])
    assert web["prelnedge"]["model_type"] == "roberta-prelayernorm" == config["model_type"]
    assert web["transformers.js_config"] == {"dtype": "fp32"}
    # no transformers.js class: the config stays as exported
    assert web_config(config, "multiple-choice", "fp32") == config
    assert web_config(config, "causal-lm", "fp32") == config

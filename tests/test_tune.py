"""prelnedge tune: sensitivity finds a planted sensitive unit, the search keeps exactly it, recipes round
trip and replay to the same bytes, impossible budgets exit 1 in one line, bad ones exit 2 before any
work, and the report's plots draw tune.json's numbers.

The model: a tiny random checkpoint (tests/tune_models.py) whose layer 1 ffn.in reads activation
outliers through compensating weight rows, so the float model is unchanged and quantizing that unit
alone takes the plain int8 models from ~30 dB to ~8 dB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prelnedge.errors import UserError
from prelnedge.quantize.recipe import Recipe
from prelnedge.tune.budget import MAX_DROP, MIN_SQNR, Budget
from prelnedge.tune.run import BudgetUnreachable, TuneConfig, _Terminal, run_tune
from tune_models import PLANTED_UNIT, planted_checkpoint

TASK = "sequence-classification"


@pytest.fixture(scope="module")
def planted_export(tmp_path_factory):
    from prelnedge.export import ExportConfig, export

    root = tmp_path_factory.mktemp("planted")
    checkpoint = planted_checkpoint(root / "checkpoint", TASK)
    return export(ExportConfig(task=TASK, target="onnx", model=checkpoint, out=root / "onnx")).folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tune-cache")


def tune(export, out, mode="int8-dynamic", budget=Budget(MIN_SQNR, 25.0), cache=None, **kwargs) -> dict:
    return run_tune(TuneConfig(export=export, mode=mode, out=out, budget=budget, cache=cache, **kwargs),
                    _Terminal(enabled=False))


@pytest.fixture(scope="module")
def tuned(planted_export, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned") / "int8-dynamic"
    return out, tune(planted_export, out, cache=cache)


def test_sensitivity_ranks_the_planted_unit_first_and_tune_keeps_exactly_it(tuned):
    out, report = tuned
    assert report["plain"]["min_sqnr_db"] < 15 and not report["plain"]["meets"]
    ranked = [row["unit"] for row in sorted(report["sensitivity"], key=lambda row: row["rank"])]
    assert ranked[0] == PLANTED_UNIT, ranked[:5]
    first, second = sorted(report["sensitivity"], key=lambda row: row["rank"])[:2]
    assert first["sqnr_gain_db"] > 10 and second["sqnr_gain_db"] < 3, (first, second)
    assert report["recipe"]["units"] == {PLANTED_UNIT: "float"}
    assert json.loads((out / "recipe.json").read_text()) == report["recipe"]
    # measured on examples the search did not see: the planted unit alone made the difference
    held = report["held_out"]
    assert held["tuned"]["min_sqnr_db"] >= 22 and held["plain"]["min_sqnr_db"] < 15, held
    assert held["plain"]["size_bytes"] < held["tuned"]["size_bytes"] < 0.5 * held["float"]["size_bytes"]
    assert report["chosen"]["meets"] and report["chosen"]["size_bytes"] == min(
        e["size_bytes"] for e in report["trace"] if e["meets"])


def test_tuned_folder_records_its_recipe_and_validates(tuned):
    from prelnedge.verify.validate_folder import validate_folder

    out, report = tuned
    manifest = json.loads((out / "manifest.json").read_text())
    settings = manifest["quantization"]["settings"]
    assert manifest["quantization"]["mode"] == "int8-dynamic"
    assert settings["recipe"] == report["recipe"] and settings["units"] == {"int8": 21, "float": 1}
    assert {"tune.json", "tune.md", "tune.html", "recipe.json", "sensitivity.png", "frontier.png"} <= set(manifest["files"])
    check = validate_folder(out)
    assert check.full and check.measured["fidelity"]["outputs"]["logits"]["sqnr_db"] > 20


def test_the_kept_unit_runs_in_float_and_every_other_one_as_an_integer_gemm(tuned):
    import onnx

    out, _ = tuned
    graph = onnx.load(str(out / "model.onnx")).graph
    weights = {init.name for init in graph.initializer}
    float_matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    assert len(float_matmuls) == 1, float_matmuls  # the planted ffn.in only
    # every other linear layer, the classification head's two Gemms included (rewritten as integer MatMuls)
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) == 3 * 6 - 1 + 2


def test_recipe_replay_rebuilds_the_same_bytes(tuned, planted_export, tmp_path):
    from prelnedge.hashing import sha256_file

    out, _ = tuned
    result = subprocess.run([sys.executable, "-m", "prelnedge.cli", "quantize", str(planted_export), "--recipe",
                             str(out / "recipe.json"), "--out", str(tmp_path / "replayed")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sha256_file(tmp_path / "replayed" / "model.onnx") == sha256_file(out / "model.onnx")
    replayed = json.loads((tmp_path / "replayed" / "manifest.json").read_text())
    assert replayed["quantization"]["settings"]["recipe"] == json.loads((out / "recipe.json").read_text())


@pytest.mark.parametrize("mode", ["int8-dynamic", "int8-static", "int4"])
def test_a_recipe_without_fallback_writes_the_plain_modes_bytes(planted_export, tmp_path, mode):
    from prelnedge.hashing import sha256_file
    from prelnedge.quantize import onnx as modes
    from prelnedge.examples import calibration_batches, default_examples
    from prelnedge.quantize.mixed import quantize_onnx_recipe
    from prelnedge.runtime.tokenizer import PreLNTokenizer
    from prelnedge.tasks import get_task

    src = planted_export / "model.onnx"
    calibration = None
    if mode == "int8-static":
        tok = PreLNTokenizer.from_dir(planted_export, 128)
        calibration = calibration_batches(tok, get_task(TASK), default_examples(get_task(TASK))[::2])
    plain = {"int8-dynamic": modes.quantize_int8_dynamic, "int8-static": modes.quantize_int8_static,
             "int4": modes.quantize_int4}[mode]
    plain(src, tmp_path / "plain.onnx", calibration)
    info = quantize_onnx_recipe(src, tmp_path / "recipe.onnx", calibration, Recipe("onnx", mode))
    assert sha256_file(tmp_path / "plain.onnx") == sha256_file(tmp_path / "recipe.onnx")
    assert info["units"] == {Recipe("onnx", mode).default: 22 if mode == "int8-dynamic" else 20}


def test_int4_falls_back_to_int8_before_float(planted_export, tmp_path):
    import collections

    import onnx

    from prelnedge.quantize.mixed import quantize_onnx_recipe

    recipe = Recipe("onnx", "int4", ((PLANTED_UNIT, "int8"), ("layer 0 ffn.out", "float")))
    info = quantize_onnx_recipe(planted_export / "model.onnx", tmp_path / "m.onnx", None, recipe)
    assert info["units"] == {"int4": 18, "int8": 1, "float": 1}
    ops = collections.Counter(n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node)
    assert ops["MatMulNBits"] == 3 * 6 - 2 and ops["MatMulInteger"] == 1 and ops["GatherBlockQuantized"] == 2, ops
    # float: attention's 6 products, the float unit, and the head's 2 Gemms (int4 leaves them float; the int8
    # pass rewrites them as MatMul + Add, still float)
    assert ops["MatMul"] + ops["Gemm"] == 6 + 1 + 2, ops


def test_a_float_head_gemm_stays_float_under_int8_dynamic(planted_export, tmp_path):
    """ONNX Runtime's dynamic quantizer renames a Gemm before it reads the exclusion list."""
    import onnx

    from prelnedge.quantize.mixed import quantize_onnx_recipe

    recipe = Recipe("onnx", "int8-dynamic", (("head classifier.dense", "float"),))
    quantize_onnx_recipe(planted_export / "model.onnx", tmp_path / "m.onnx", None, recipe)
    integer = [n.name for n in onnx.load(str(tmp_path / "m.onnx")).graph.node if n.op_type == "MatMulInteger"]
    assert len(integer) == 3 * 6 + 1 and not any("linear_18" in name for name in integer), integer


def test_recipes_round_trip_and_refuse_what_they_cannot_mean(tmp_path):
    recipe = Recipe("onnx", "int4", (("layer 2 attn.q", "float"), ("embeddings.word", "int8")))
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe.to_json()))
    assert Recipe.read(path) == recipe and Recipe.read(path).key == recipe.key
    assert recipe.with_unit("embeddings.word", "int4").overrides == (("layer 2 attn.q", "float"),)
    with pytest.raises(UserError, match="precision 'int4' is not a fallback of int8-dynamic; allowed: float"):
        Recipe("onnx", "int8-dynamic", (("layer 0 ffn.in", "int4"),))
    with pytest.raises(UserError, match="takes no mixed-precision recipe; recipes exist for onnx int8-dynamic"):
        Recipe("onnx", "fp16")
    with pytest.raises(UserError, match="is not a prelnedge recipe"):
        Recipe.from_json({"target": "onnx", "mode": "int4"})
    with pytest.raises(UserError, match="does not have; its units: embeddings.word"):
        Recipe("onnx", "int4", (("layer 9 ffn.in", "int8"),)).check_units(["embeddings.word"], "the export")


def test_candidates_are_keyed_by_content_and_served_from_the_cache(tuned, planted_export, cache, tmp_path):
    import shutil

    from prelnedge.hashing import sha256_file
    from prelnedge.tune.candidate import Candidate, EvalSet, evaluate_candidate

    moved = tmp_path / "moved"
    shutil.copytree(planted_export, moved)
    sha = sha256_file(planted_export / "manifest.json")
    data = EvalSet("search", ())
    a = Candidate(str(planted_export), sha, Recipe("onnx", "int4"), data)
    assert a.key == Candidate(str(moved), sha, Recipe("onnx", "int4"), data).key  # where it lies does not count
    assert a.key != Candidate(str(moved), sha, Recipe("onnx", "int4").with_unit(PLANTED_UNIT, "int8"), data).key
    # a second run over the same cache evaluates nothing again and finds the same recipe
    _, first = tuned
    again = tune(planted_export, tmp_path / "again", cache=cache)
    assert again["candidates"]["evaluated"] == 0 and again["candidates"]["cached"] > 0
    assert again["recipe"] == first["recipe"] and again["held_out"] == first["held_out"]
    # and the figures are what evaluating afresh gives (minus the time it took): the search judged a
    # composed model (the same bytes again), which the quantizer's own model matches in every number
    entry = first["trace"][-1]
    recipe, examples = Recipe.from_json(entry["recipe"]), EvalSet("search", _search_examples())
    fresh = evaluate_candidate(Candidate(str(moved), sha, recipe, examples, composed=True))
    assert fresh["min_sqnr_db"] == pytest.approx(entry["min_sqnr_db"], abs=1e-9)
    assert fresh["size_bytes"] == entry["size_bytes"]
    written = evaluate_candidate(Candidate(str(moved), sha, recipe, examples))
    assert written["sqnr_db"] == pytest.approx(fresh["sqnr_db"], abs=1e-9)
    assert written["agreement"] == fresh["agreement"]


COMPOSED_RECIPES = {
    "int8-dynamic": [(), ((PLANTED_UNIT, "float"),), (("embeddings.word", "float"), ("head classifier.out_proj", "float"),
                                                      ("layer 0 attn.q", "float"))],
    "int4": [(), ((PLANTED_UNIT, "float"),), ((PLANTED_UNIT, "int8"), ("layer 0 attn.q", "int8"), ("layer 0 attn.k", "float")),
             (("embeddings.word", "int8"), ("embeddings.position", "float"), ("layer 2 ffn.out", "int8"))],
}


@pytest.mark.parametrize("mode", sorted(COMPOSED_RECIPES))
def test_a_composed_model_computes_what_the_quantizer_writes(planted_export, tmp_path, mode):
    """The search's candidates are spliced from whole-model quantizations (prelnedge.quantize.compose);
    the model a recipe's folder gets is the quantizer's. Both must give the same outputs, on padded
    batches, for fallbacks of every precision (embeddings, heads, attention and the planted unit)."""
    import onnxruntime as ort

    from prelnedge.quantize.compose import compose, quantize_parts, write_composed
    from prelnedge.quantize.mixed import quantize_onnx_recipe

    src = planted_export / "model.onnx"
    parts = quantize_parts(src, mode)
    names = {unit.name for unit in parts.units}
    plain = tmp_path / "plain.onnx"
    quantize_onnx_recipe(src, plain, None, Recipe("onnx", mode))
    rng = np.random.default_rng(0)
    feeds = {"input_ids": rng.integers(4, 3000, (3, 37)).astype(np.int64), "attention_mask": np.ones((3, 37), np.int64)}
    feeds["attention_mask"][1, 20:] = 0
    feeds["attention_mask"][2, 5:] = 0
    for overrides in COMPOSED_RECIPES[mode]:
        assert {unit for unit, _ in overrides} <= names
        recipe = Recipe("onnx", mode, overrides)
        quantize_onnx_recipe(src, tmp_path / "written.onnx", None, recipe)
        write_composed(compose(parts, recipe), tmp_path / "composed.onnx")
        got, want = (ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"]).run(None, feeds)
                     for name in ("composed.onnx", "written.onnx"))
        for a, b in zip(got, want):
            # the same nodes on the same numbers: equal up to float summation order, if ORT picks another
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, err_msg=recipe.describe())
        if overrides:  # and it is not the plain model by accident
            same = ort.InferenceSession(str(plain), providers=["CPUExecutionProvider"]).run(None, feeds)
            assert max(float(np.max(np.abs(a - b))) for a, b in zip(got, same)) > 1e-4, recipe.describe()
        written, composed = (tmp_path / "written.onnx").stat().st_size, (tmp_path / "composed.onnx").stat().st_size
        # the quantizer also writes shape facts of tensors it removed: the composed file is a little smaller
        assert 0.9 * written <= composed <= written, (written, composed)


def _search_examples():
    from prelnedge.examples import default_examples
    from prelnedge.tasks import get_task

    return tuple(default_examples(get_task(TASK))[1::2][0::2])


def test_report_plots_draw_the_numbers_in_tune_json(tuned):
    from prelnedge.tune.render import frontier_figure, sensitivity_figure

    out, _ = tuned
    report = json.loads((out / "tune.json").read_text())  # the file, not the object the run returned
    for name in ("sensitivity.png", "frontier.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert name in (out / "tune.md").read_text() and "data:image/png;base64," in (out / "tune.html").read_text()
    bars = sensitivity_figure(report).axes[0].patches
    rows = sorted(report["sensitivity"], key=lambda row: row["rank"])
    np.testing.assert_allclose([bar.get_width() for bar in bars], [row["gain"][0] for row in rows])
    red = [bar.get_facecolor()[0] > 0.5 and bar.get_facecolor()[2] < 0.5 for bar in bars]
    assert red == [row["unit"] in report["recipe"]["units"] for row in rows]
    axes = sensitivity_figure(report).axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()][0] == f"{PLANTED_UNIT} -> float"
    scatter = frontier_figure(report).axes[0]
    points = scatter.collections[0].get_offsets()
    np.testing.assert_allclose(points[:, 0], [e["size_bytes"] / 2**20 for e in report["trace"]])
    np.testing.assert_allclose(points[:, 1], [min(e["min_sqnr_db"], 80) for e in report["trace"]])
    line = scatter.lines[0]
    assert list(line.get_xdata()) == [report["trace"][i]["size_bytes"] / 2**20 for i in report["frontier"]]
    for entry in report["trace"]:
        assert f"| {entry['min_sqnr_db']:.1f} |" in (out / "tune.md").read_text()


def test_an_impossible_budget_exits_1_in_one_line_and_leaves_the_report_without_a_model(planted_export, cache,
                                                                                       tmp_path):
    """Nothing short of float meets 150 dB: exit 1, one line with the best reached and where the report
    is; OUT holds the search's report (the frontier that says why, the best candidate held out) under a
    report manifest, no model file, so no stage takes it for a model and --force may replace it."""
    out = tmp_path / "unmet"
    command = [sys.executable, "-m", "prelnedge.cli", "tune", str(planted_export), "--quantize", "int8-dynamic",
               "--min-sqnr", "150", "--out", str(out), "--cache", str(cache), "--max-candidates", "20"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "short of float meets SQNR >= 150 dB" in lines[0] and "the best of 20 candidates reached" in lines[0]
    assert lines[0].endswith(f"the search's report (no model): {out / 'tune.html'}"), lines[0]

    assert sorted(p.name for p in out.iterdir()) == ["frontier.png", "manifest.json", "sensitivity.png", "tune.html",
                                                     "tune.json", "tune.md"]
    assert json.loads((out / "manifest.json").read_text())["format"] == "prelnedge-report/1"
    report = json.loads((out / "tune.json").read_text())
    assert report["met"] is False and report["chosen"] is None and report["recipe"] is None
    assert len(report["trace"]) == 20 and not any(entry["meets"] for entry in report["trace"])
    best = max(report["trace"], key=lambda entry: entry["min_sqnr_db"])
    assert report["best"]["candidate"] == best["candidate"] and f"{best['min_sqnr_db']:.1f} dB" in lines[0]
    assert list(report["held_out"]) == ["float", "plain", "best"]
    assert report["held_out"]["best"]["min_sqnr_db"] < 150 and report["frontier"]
    text = (out / "tune.md").read_text()
    assert "Budget not met" in text and f"The best candidate ({best['candidate']})" in text
    assert "| best |" in text and "| tuned |" not in text

    from prelnedge.tune.render import frontier_figure

    legend = [t.get_text() for t in frontier_figure(report).axes[0].get_legend().get_texts()]
    assert "best (misses the budget)" in legend and "kept" not in legend

    for stage in (["validate", str(out)], ["bundle", str(out), "--platform", "web", "--out", str(tmp_path / "b")]):
        refused = subprocess.run([sys.executable, "-m", "prelnedge.cli", *stage], capture_output=True, text=True)
        assert refused.returncode == 2 and "prelnedge-report/1 manifest, not an export's" in refused.stderr, refused.stderr
    again = subprocess.run(command, capture_output=True, text=True)  # OUT exists: refused, untouched
    assert again.returncode == 2 and "--force" in again.stderr, again.stderr
    again = subprocess.run([*command, "--force"], capture_output=True, text=True)  # all cached: the report again
    assert again.returncode == 1 and json.loads((out / "tune.json").read_text())["met"] is False, again.stderr
    with pytest.raises(BudgetUnreachable) as raised:
        tune(planted_export, tmp_path / "api", budget=Budget(MIN_SQNR, 150.0), cache=cache, max_candidates=5)
    assert raised.value.report["met"] is False and (tmp_path / "api" / "tune.json").is_file()


def test_max_drop_keeps_the_metric_within_the_budget(planted_export, cache, tmp_path):
    labelled = tmp_path / "labelled.jsonl"
    from prelnedge.examples import default_examples
    from prelnedge.tasks import get_task

    texts = [e.text for e in default_examples(get_task(TASK))]
    labelled.write_text("".join(json.dumps({"text": t, "label": i % 2}) + "\n" for i, t in enumerate(texts)))
    report = tune(planted_export, tmp_path / "out", budget=Budget(MAX_DROP, 0.0), cache=cache, eval_file=labelled)
    assert report["budget"]["metric"] == "accuracy"
    assert report["chosen"]["metric"] >= report["float"]["metric"] - 1e-12
    assert report["evaluation"] == {"source": str(labelled), "search_examples": 20, "held_out_examples": 20,
                                    "ranking_examples": 20}


@pytest.mark.parametrize("args,message", [
    (["--min-sqnr", "-3"], "--min-sqnr must be a number of dB above 0"),
    (["--max-drop", "1.5"], "--max-drop is an absolute drop of a metric in \\[0, 1\\]"),
    (["--max-drop", "0.01", "--metric", "exact_match"], "task sequence-classification has no metric 'exact_match'; "
                                                        "its metrics: accuracy"),
    (["--max-drop", "0.01"], "--max-drop needs labelled examples"),
    (["--min-sqnr", "20", "--metric", "accuracy"], "--metric goes with --max-drop"),
    (["--min-sqnr", "20", "--calibration", "cal.jsonl"], "--calibration is read only by the calibrated modes"),
    (["--min-sqnr", "20", "--max-drop", "0.1"], "not allowed with argument"),
    (["--min-sqnr", "20", "--quantize", "fp16"], "invalid choice: 'fp16'"),
])
def test_bad_budgets_are_refused_before_any_work(planted_export, tmp_path, args, message):
    import re

    if "--quantize" not in args:
        args = [*args, "--quantize", "int8-dynamic"]
    cache = tmp_path / "cache"
    result = subprocess.run([sys.executable, "-m", "prelnedge.cli", "tune", str(planted_export), "--out",
                             str(tmp_path / "never"), "--cache", str(cache), *args],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "never").exists() and not cache.exists()


def test_tflite_int8_static_recipe_keeps_its_float_unit_float_and_replays(tmp_path):
    """TFLite int8-static: the recipe's float units are denylisted by node in the converter's quantization
    step; the plain recipe is the plain mode's bytes, and the float unit's FULLY_CONNECTED reads float.
    The model has no planted outliers, so plain int8-static passes its floor and can be compared."""
    from ai_edge_litert.interpreter import Interpreter

    from prelnedge.export import ExportConfig, export
    from prelnedge.export.tflite_graph import read_subgraphs
    from prelnedge.hashing import sha256_file
    from prelnedge.quantize.stage import quantize_folder
    from prelnedge.quantize.units import tflite_units

    checkpoint = planted_checkpoint(tmp_path / "checkpoint", TASK, gain=0)
    tflite = export(ExportConfig(task=TASK, target="tflite", model=checkpoint, out=tmp_path / "tflite")).folder
    units = tflite_units(tflite / "model.tflite", 3)
    assert [u.name for u in units][:3] == ["embeddings.word", "embeddings.position", "layer 0 attn.q"]
    assert sum(u.op == "FULLY_CONNECTED" for u in units) == 3 * 6 + 2  # the head's dense and out_proj too
    plain = quantize_folder(tflite, "int8-static", tmp_path / "plain").folder
    recipe = Recipe("tflite", "int8-static", ((PLANTED_UNIT, "float"),))
    mixed = quantize_folder(tflite, None, tmp_path / "mixed", recipe=recipe).folder
    bare = quantize_folder(tflite, None, tmp_path / "bare", recipe=Recipe("tflite", "int8-static")).folder
    assert sha256_file(bare / "model.tflite") == sha256_file(plain / "model.tflite")
    settings = json.loads((mixed / "manifest.json").read_text())["quantization"]["settings"]
    assert settings["units"] == {"int8": 21, "float": 1} and settings["recipe"] == recipe.to_json()
    node = next(u.nodes for u in units if u.name == PLANTED_UNIT)[0]  # its FULLY_CONNECTED (then its LayerNorm)
    interpreter = Interpreter(model_path=str(mixed / "model.tflite"))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    fully_connected = {tensors[op.outputs[0]]["name"]: {tensors[i]["dtype"] for i in op.inputs if i >= 0}
                       for op in read_subgraphs(mixed / "model.tflite")[0].ops if op.name == "FULLY_CONNECTED"}
    assert fully_connected[node] == {np.float32}, fully_connected[node]
    assert sum(np.int8 in dtypes for dtypes in fully_connected.values()) == len(fully_connected) - 1


@pytest.fixture(scope="module")
def tflite_tuned(tmp_path_factory):
    """(float TFLite export, its int8-static tune report, the tuned folder) of the planted model."""
    from prelnedge.export import ExportConfig, export

    root = tmp_path_factory.mktemp("tflite-tuned")
    checkpoint = planted_checkpoint(root / "checkpoint", TASK)
    tflite = export(ExportConfig(task=TASK, target="tflite", model=checkpoint, out=root / "tflite")).folder
    report = tune(tflite, root / "tuned", mode="int8-static", budget=Budget(MIN_SQNR, 15.0), cache=root / "cache",
                  search_examples=16)
    return tflite, report, root / "tuned"


def test_tflite_int8_static_tune_keeps_the_planted_unit_with_the_layer_norm_it_reads(tflite_tuned):
    """On the planted model TFLite int8-static runs the planted LayerNorm in int8 with one scale for
    its x300 dimensions and every other one, so neither keeping ffn.in float nor keeping the LayerNorm
    float alone helps (the int8 FULLY_CONNECTED quantizes its input again). A unit that reads a
    LayerNorm brings its ops: the search ranks the planted unit first, keeps exactly it, and in the
    tuned model that LayerNorm's ops and the FULLY_CONNECTED compute in float, every other one in int8."""
    from ai_edge_litert.interpreter import Interpreter

    from prelnedge.export.tflite_graph import read_subgraphs
    from prelnedge.quantize.units import tflite_units

    tflite, report, tuned = tflite_tuned
    assert report["plain"]["min_sqnr_db"] < 10 and not report["plain"]["meets"], report["plain"]
    ranked = sorted(report["sensitivity"], key=lambda row: row["rank"])
    assert ranked[0]["unit"] == PLANTED_UNIT and ranked[0]["sqnr_gain_db"] > 10, ranked[:3]
    assert report["recipe"]["units"] == {PLANTED_UNIT: "float"}
    held = report["held_out"]
    assert held["tuned"]["min_sqnr_db"] >= 15 and held["plain"]["min_sqnr_db"] < 10, held

    planted = next(u.nodes for u in tflite_units(tflite / "model.tflite", 3) if u.name == PLANTED_UNIT)
    interpreter = Interpreter(model_path=str(tuned / "model.tflite"))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = read_subgraphs(tuned / "model.tflite")[0].ops
    # what each op's data input (not a MEAN's axes) holds
    reads = {tensors[op.outputs[0]]["name"]: (op.name, tensors[op.inputs[0]]["dtype"])
             for op in ops if op.name in ("FULLY_CONNECTED", "MEAN", "RSQRT")}
    assert sorted(reads[name][0] for name in planted if name in reads) == [
        "FULLY_CONNECTED", "MEAN", "MEAN", "RSQRT"], planted
    float_ones = {name for name, (_, dtype) in reads.items() if dtype == np.float32}
    assert float_ones == {name for name in planted if name in reads}, float_ones
    assert all(dtype == np.int8 for name, (_, dtype) in reads.items() if name not in planted)


def test_a_tuned_tflite_model_passes_the_android_self_test(tflite_tuned, tmp_path):
    """The mixed-precision .tflite goes into the Android bundle as written (its recipe in the bundle's
    manifest), and the app's self-test passes on what LiteRT computes with it: the golden outputs judged
    under the int8-static floor, tokenization and decoding as the golden file says."""
    import os

    from test_android_bundle import SELFTEST, bundle, compiled_java, record

    _, report, tuned = tflite_tuned
    assets = bundle(tuned, tmp_path / "assets")
    manifest = json.loads((assets / "manifest.json").read_text())
    assert manifest["bundle"]["model_file"] == "model.tflite"
    assert manifest["quantization"]["settings"]["recipe"] == report["recipe"]
    assert (assets / "model.tflite").read_bytes() == (tuned / "model.tflite").read_bytes()
    recorded = record(assets, tmp_path / "recorded.json")
    env = {**os.environ, "PRELNEDGE_JAVA_CLASSES": str(compiled_java())}
    done = subprocess.run(["bash", str(SELFTEST), str(assets), str(recorded)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    line = done.stdout.strip()
    assert line.startswith("SELFTEST PASS examples=5 tokenized=4 ran=5") and "runtime=litert" in line, line
    assert "floor 10.0 dB" in line, line  # judged under the int8-static floor the bundle carries


def test_an_unreachable_cluster_is_one_line_before_any_candidate(planted_export, tmp_path):
    import os
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run([sys.executable, "-m", "prelnedge.cli", "tune", str(planted_export), "--quantize",
                             "int8-dynamic", "--min-sqnr", "25", "--executor", "ray", "--cache", str(tmp_path / "cache"),
                             "--out", str(tmp_path / "never")], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}"})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"prelnedge: error: cannot reach the Ray cluster at 127.0.0.1:{port}")
    assert not (tmp_path / "never").exists() and not (tmp_path / "cache").exists()

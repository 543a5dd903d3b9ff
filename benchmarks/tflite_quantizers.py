"""Issue 24's question: TFLite mixed precision through the TF converter (prelnedge's path) or through
ai-edge-quantizer (the LiteRT project's quantizer for float .tflite files)?

    PYTHONPATH=.:/tmp/aeq-pkgs .venv/bin/python benchmarks/tflite_quantizers.py [--sizes tiny 512]

ai-edge-quantizer is not a prelnedge dependency: install it into a folder of its own and put that on
PYTHONPATH (it needs ai-edge-litert 2.3.0, which the venv has):
    .venv/bin/pip install --target /tmp/aeq-pkgs --no-deps \
        ai-edge-quantizer==0.10.0 litert-lm-builder immutabledict tomli

Per checkpoint (tiny: tests/tune_models.py's planted QA model, hidden 64; 512: benchmarks/tune_proof.py's,
hidden 512 with outliers planted in front of layer 2's ffn.in and outsized layer 4 attn.out columns) one
float TFLite export, one calibration set (prelnedge's: every second default example, one unpadded row at
a time) and four int8-static models from them:
  converter plain   prelnedge's int8-static: calibrate, then the converter's quantizer with BATCH_MATMUL,
                    SOFTMAX and ADD denylisted (prelnedge.quantize.tflite)
  converter mixed   the same calibrated model, the planted unit's ops also denylisted by node
                    (Recipe with that unit float: prelnedge.quantize.mixed.tflite_float_nodes)
  aeq plain         ai-edge-quantizer's static_wi8_ai8 recipe with no_quantize for BATCH_MATMUL, SOFTMAX
                    and ADD (the same float ops as prelnedge's int8-static)
  aeq mixed         that recipe plus no_quantize on each of the unit's ops, matched by output tensor name
  aeq plain int8-out  static_wi8_ai8 with only the float op types: its outputs come out int8 (the
                    recipe quantizes the model's OUTPUT too), judged raw and dequantized
The aeq plain and mixed recipes also say no_quantize for OUTPUT, so their logits are float32 like the
converter's models.
Each is judged on held-out QA texts (prelnedge/data/eval-qa.jsonl, batch 1 unpadded) against the float
export's own outputs with prelnedge.verify.fidelity.measure (SQNR over all start/end logits pooled), and
timed at batch 1 x 128 tokens in LiteRT's Interpreter (2 threads) with prelnedge.timing's rotated loop.
The converter models are also made and judged once more by `prelnedge tune`'s own candidate evaluation
(prelnedge.tune.candidate.evaluate_candidate), and ai-edge-quantizer's validate() names its lowest-SNR tensors.
Writes OUT/results.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/tune_models.py imports its neighbour hf_factory

SIGNATURE = "serving_default"
# the converter's int8-static keeps these op types float (prelnedge.quantize.tflite.INT8_STATIC_FLOAT_OPS)
FLOAT_OP_TYPES = ("BATCH_MATMUL", "SOFTMAX", "ADD")
MODELS = ("converter plain", "converter mixed", "aeq plain", "aeq mixed", "aeq plain int8-out")


def make_checkpoint(size: str, folder: Path) -> tuple[str, int]:
    """The planted checkpoint in `folder` (made once); (the planted unit kept float, layer count)."""
    if size == "tiny":
        from tune_models import PLANTED_UNIT, planted_checkpoint

        if not folder.exists():
            planted_checkpoint(folder, "qa")
        return PLANTED_UNIT, json.loads((folder / "config.json").read_text())["num_hidden_layers"]
    from benchmarks.tune_proof import SIZES
    from benchmarks.tune_proof import make_checkpoint as proof_checkpoint

    if not folder.exists():
        proof_checkpoint(folder, size)
    layers = SIZES[size][1]
    return f"layer {layers // 3} ffn.in", layers  # where tune_proof plants the activation outliers


def float_export(checkpoint: Path, folder: Path) -> Path:
    from prelnedge.export import ExportConfig, export

    if not (folder / "manifest.json").exists():
        export(ExportConfig(task="qa", target="tflite", model=checkpoint, out=folder, force=True))
    return folder


def unpadded(batches) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rows with their padding cut off, int32 like the signature (prelnedge.quantize.tflite._representative)."""
    rows = []
    for ids, mask in batches:
        n = int(mask[0].sum())
        rows.append((ids[:, :n].astype(np.int32), mask[:, :n].astype(np.int32)))
    return rows


def texts(export: Path, held_out: int):
    """(task, config, calibration rows, held-out examples, held-out rows)."""
    from prelnedge.config import PreLNConfig
    from prelnedge.examples import calibration_batches, default_examples, load_examples
    from prelnedge.runtime.tokenizer import PreLNTokenizer
    from prelnedge.tasks import get_task

    task = get_task("qa")
    config = PreLNConfig.from_json_file(export / "config.json")
    tok = PreLNTokenizer.from_dir(export, config.max_tokens)
    calibration = unpadded(calibration_batches(tok, task, default_examples(task)[::2]))
    evaluation = load_examples(ROOT / "prelnedge" / "data" / "eval-qa.jsonl", task, "evaluation")[:held_out]
    return task, config, calibration, evaluation, unpadded(calibration_batches(tok, task, evaluation, limit=held_out))


# ---- the converter (prelnedge's own calls) -----------------------------------------------------------
def converter_models(export: Path, calibration, float_nodes: tuple[str, ...], out: Path) -> dict:
    """Both converter models from one calibration, as `prelnedge tune` makes its candidates."""
    from prelnedge.artifact import ModelArtifact
    from prelnedge.checkpoint.load import source_checkpoint
    from prelnedge.quantize.tflite import INT8_STATIC_FLOAT_OPS, calibrated_int8_static, quantize_calibrated
    from prelnedge.tasks import get_task

    assert INT8_STATIC_FLOAT_OPS == FLOAT_OP_TYPES, INT8_STATIC_FLOAT_OPS
    artifact = ModelArtifact.read(export)
    start = time.perf_counter()
    checkpoint = source_checkpoint(artifact, get_task(artifact.task))
    calibrated = calibrated_int8_static(checkpoint, artifact.framework, out / "converter-work", calibration)
    calibrate_s = time.perf_counter() - start
    made = {}
    for name, nodes in (("converter plain", ()), ("converter mixed", float_nodes)):
        start = time.perf_counter()
        model = quantize_calibrated(calibrated, INT8_STATIC_FLOAT_OPS, nodes)
        path = out / (name.replace(" ", "-") + ".tflite")
        path.write_bytes(model)
        made[name] = {"path": path, "calibrate_s": calibrate_s, "quantize_s": time.perf_counter() - start,
                      "how": "load checkpoint, convert with TF, calibrate (_experimental_calibrate_only), then "
                             "mlir_quantize(denylisted_ops=BATCH_MATMUL/SOFTMAX/ADD"
                             + (", denylisted_nodes=the unit's ops)" if nodes else ")")}
    return made


def as_tune_judges(export: Path, examples, unit: str, made: dict) -> dict:
    """The converter models once more through `prelnedge tune`'s own candidate evaluation (its own
    calibration, quantization and judging): the same bytes and the same figures as measured here?"""
    from prelnedge.hashing import sha256_file
    from prelnedge.quantize.recipe import Recipe
    from prelnedge.tune.candidate import Candidate, EvalSet, evaluate_candidate

    checked = {}
    for name, overrides in (("converter plain", ()), ("converter mixed", ((unit, "float"),))):
        candidate = Candidate(str(export), sha256_file(export / "manifest.json"),
                              Recipe("tflite", "int8-static", overrides), EvalSet("held-out", tuple(examples)))
        figures = evaluate_candidate(candidate, keep=export.parent / ("tune-" + name.replace(" ", "-")))
        checked[name] = {"same_bytes": figures["model_sha256"] == sha256_file(made[name]["path"]),
                         "size_bytes": figures["size_bytes"], "min_sqnr_db": round(figures["min_sqnr_db"], 2)}
    return checked


# ---- ai-edge-quantizer ------------------------------------------------------------------------------
def aeq_recipe(float_nodes: tuple[str, ...], float_outputs: bool = True):
    """static_wi8_ai8 on every op it takes, the converter's float op types and `float_nodes` excepted.
    A later rule wins over an earlier one in ai-edge-quantizer's RecipeManager; an op's scope is its
    output tensor names each followed by ';' (tfl_flatbuffer_utils.get_op_scope). static_wi8_ai8 also
    quantizes the model's outputs (its virtual OUTPUT op): the logits come out int8 unless OUTPUT is
    no_quantize, which keeps prelnedge's interface (float logits, a DEQUANTIZE before them)."""
    from ai_edge_quantizer import qtyping, recipe
    from ai_edge_quantizer.recipe_manager import RecipeManager

    manager = RecipeManager()
    manager.load_quantization_recipe(recipe.static_wi8_ai8())
    for op in FLOAT_OP_TYPES + (("OUTPUT",) if float_outputs else ()):
        manager.add_quantization_config(".*", qtyping.TFLOperationName(op), algorithm_key="no_quantize")
    for node in float_nodes:
        manager.add_quantization_config(f"^{re.escape(node)};$", qtyping.TFLOperationName.ALL_SUPPORTED,
                                        algorithm_key="no_quantize")
    return manager.get_quantization_recipe()


def aeq_models(float_model: Path, calibration, float_nodes: tuple[str, ...], out: Path) -> dict:
    """The ai-edge-quantizer models, each calibrated by its own Quantizer (as a user would run it); the
    mixed recipe once more over the plain one's calibration (a search calibrates once)."""
    from ai_edge_quantizer import quantizer

    data = {SIGNATURE: [{"input_ids": ids, "attention_mask": mask} for ids, mask in calibration]}
    made, first = {}, None
    for name, nodes, float_outputs in (("aeq plain", (), True), ("aeq mixed", float_nodes, True),
                                       ("aeq plain int8-out", (), False)):
        start = time.perf_counter()
        q = quantizer.Quantizer(str(float_model), aeq_recipe(nodes, float_outputs))
        qsvs = q.calibrate(data, num_threads=2)
        calibrate_s = time.perf_counter() - start
        start = time.perf_counter()
        result = q.quantize(qsvs, enable_progress_report=False)
        quantize_s = time.perf_counter() - start
        path = out / (name.replace(" ", "-") + ".tflite")
        path.write_bytes(bytes(result.quantized_model))
        made[name] = {"path": path, "calibrate_s": calibrate_s, "quantize_s": quantize_s, "quantizer": q,
                      "how": "Quantizer(float .tflite, static_wi8_ai8 + no_quantize for BATCH_MATMUL/SOFTMAX/ADD"
                             + (" and OUTPUT" if float_outputs else "")
                             + (" and the unit's ops by output name" if nodes else "") + "), calibrate, quantize"}
        if first is None:
            first = qsvs
        elif nodes:  # the same recipe over the plain recipe's calibration: the same bytes?
            again = quantizer.Quantizer(str(float_model), aeq_recipe(nodes, float_outputs))
            made[name]["same_bytes_from_plain_calibration"] = (
                bytes(again.quantize(first, enable_progress_report=False).quantized_model) == path.read_bytes())
    return made


def aeq_worst_tensors(q, rows, count: int = 5) -> list[tuple[str, float]]:
    """ai-edge-quantizer's own validate(): the `count` tensors with the lowest SNR (mean over examples
    of signal power / noise power, a ratio, shown here in dB)."""
    from ai_edge_quantizer.utils.validation_utils import ValidationErrorMetric

    data = {SIGNATURE: [{"input_ids": ids, "attention_mask": mask} for ids, mask in rows]}
    result = q.validate(data, error_metrics=[ValidationErrorMetric.SNR], num_threads=2)
    tensors = result.get_signature_comparison_result(SIGNATURE)
    snr = {name: values["snr"] for part in (tensors.intermediate_tensors, tensors.output_tensors)
           for name, values in part.items()}
    # a tensor that is zero in float (the attention-mask bias of an unpadded row) has SNR 0 whatever the
    # quantized model gives: no ranking information, left out
    worst = sorted(((name, value) for name, value in snr.items() if value > 0), key=lambda item: item[1])[:count]
    return [(name, round(10 * float(np.log10(max(value, 1e-12))), 2)) for name, value in worst]


# ---- judging ----------------------------------------------------------------------------------------
def output_quantization(model: Path) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of each signature output that is integer; {} when all are float."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(model)).get_signature_runner(SIGNATURE).get_output_details()
    return {name: tuple(d["quantization"]) for name, d in details.items() if np.issubdtype(d["dtype"], np.integer)}


def fidelity(task, model: Path, reference: list[dict], rows, eos_id: int) -> dict:
    """SQNR and span agreement against the float export. Integer outputs are judged twice: as
    prelnedge's LiteRT session hands them to an app (raw integers), and dequantized by their scale."""
    from prelnedge.runtime.sessions import LiteRTSession
    from prelnedge.verify.fidelity import measure

    session = LiteRTSession(model, 2)
    by_input = {id(ids): out for (ids, _), out in zip(rows, reference)}
    quantized = output_quantization(model)

    def dequantized(ids, mask):
        got = session.run(ids, mask)
        return {name: (value.astype(np.float64) - quantized[name][1]) * quantized[name][0] if name in quantized
                else value for name, value in got.items()}

    def judged(run) -> dict:
        result = measure(task, run, lambda ids, mask: by_input[id(ids)], rows, eos_id=eos_id)
        sqnr = {name: round(float(stats["sqnr_db"]), 2) for name, stats in result["outputs"].items()}
        return {"sqnr_db": sqnr, "min_sqnr_db": min(sqnr.values()),
                "agreement": {key: round(value, 3) for key, value in result["agreement"].items()}}

    if not quantized:
        return judged(session.run) | {"outputs": "float32"}
    with np.errstate(over="ignore", invalid="ignore"):  # raw integers overflow the span softmax's exp
        raw = judged(session.run)
    return judged(dequantized) | {"outputs": {name: f"int8, scale {s:.6g}, zero point {z}" for name, (s, z)
                                              in quantized.items()},
                                  "raw_integer_outputs": raw}


def unit_ops(model: Path, nodes: tuple[str, ...]) -> list[dict]:
    """Each of the unit's ops in `model` (found by output tensor name): op type, what its data input and
    its output hold."""
    from ai_edge_litert.interpreter import Interpreter

    from prelnedge.export.tflite_graph import read_subgraphs

    names = {t["index"]: t["name"] for t in Interpreter(model_path=str(model)).get_tensor_details()}
    graph = read_subgraphs(model)[0]
    found = {names.get(op.outputs[0]): op for op in graph.ops}
    rows = []
    for node in nodes:
        op = found.get(node)
        rows.append({"node": node, "op": op.name if op else None,
                     "input": graph.dtypes[op.inputs[0]] if op else None,
                     "output": graph.dtypes[op.outputs[0]] if op else None})
    return rows


def unit_float(rows: list[dict]) -> str:
    """'k/n': how many of the unit's ops read and write float."""
    floating = sum(row["input"] == "float32" and row["output"] == "float32" for row in rows)
    return f"{floating}/{len(rows)}"


def latency(models: dict[str, Path], length: int, vocab: int, rounds: int) -> dict:
    """b1 x `length` median wall and CPU ms per call, every model in every round (prelnedge.timing)."""
    from prelnedge.runtime.sessions import LiteRTSession
    from prelnedge.timing import interleave

    rng = np.random.default_rng(0)
    ids = rng.integers(4, vocab - 1, (1, length)).astype(np.int32)
    mask = np.ones_like(ids)
    sessions = {name: LiteRTSession(path, 2) for name, path in models.items()}
    timings = interleave({name: (lambda s=s: s.run(ids, mask)) for name, s in sessions.items()}, rounds, per_round=3)
    base = timings["converter plain"]  # prelnedge's int8-static: per-round ratios against it
    return {name: {"median_ms": round(t.median_ms(), 3), "p25_p75_ms": [round(x, 3) for x in t.spread_ms()],
                   "cpu_median_ms": round(t.cpu_median_ms(), 3),
                   "vs_converter_plain": [round(x, 3) for x in t.ratio_to(base)]} for name, t in timings.items()}


def op_counts(model: Path) -> dict:
    """The model's op count and its QUANTIZE / DEQUANTIZE ops (the float-int8 crossings)."""
    from prelnedge.export.tflite_graph import op_names

    names = op_names(model)
    return {"ops": len(names), "QUANTIZE": names.count("QUANTIZE"), "DEQUANTIZE": names.count("DEQUANTIZE")}


def run_size(size: str, out: Path, held_out: int, rounds: int) -> dict:
    from prelnedge.quantize.mixed import tflite_float_nodes
    from prelnedge.quantize.recipe import Recipe
    from prelnedge.quantize.units import tflite_units
    from prelnedge.runtime.sessions import LiteRTSession

    folder = out / size
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    unit, layers = make_checkpoint(size, folder / "checkpoint")
    export = float_export(folder / "checkpoint", folder / "float")
    float_model = export / "model.tflite"
    task, config, calibration, examples, rows = texts(export, held_out)
    float_nodes = tflite_float_nodes(float_model, layers, Recipe("tflite", "int8-static", ((unit, "float"),)))
    unit_nodes = next(u.nodes for u in tflite_units(float_model, layers) if u.name == unit)
    reference_session = LiteRTSession(float_model, 2)
    reference = [reference_session.run(ids, mask) for ids, mask in rows]

    made = converter_models(export, calibration, float_nodes, folder)
    tune_check = as_tune_judges(export, examples, unit, made)
    made |= aeq_models(float_model, calibration, float_nodes, folder)
    result = {"size": size, "layers": layers, "hidden": config.hidden_size, "unit": unit,
              "unit_nodes": list(unit_nodes),
              "calibration_rows": len(calibration), "held_out_rows": len(rows),
              "float": {"size_bytes": float_model.stat().st_size, "op_counts": op_counts(float_model)}, "models": {}}
    for name in MODELS:
        entry = made[name]
        row = {"size_bytes": entry["path"].stat().st_size, "calibrate_s": round(entry["calibrate_s"], 2),
               "quantize_s": round(entry["quantize_s"], 3), "how": entry["how"]}
        row["size_ratio"] = round(row["size_bytes"] / result["float"]["size_bytes"], 3)
        try:
            row |= fidelity(task, entry["path"], reference, rows, config.eos_token_id)
            row["runs"] = True
        except Exception as error:  # noqa: BLE001 - the table says which model did not run, and why
            row |= {"runs": False, "error": f"{type(error).__name__}: {error}"}
        row["unit_ops"] = unit_ops(entry["path"], unit_nodes)
        row["unit_float"] = unit_float(row["unit_ops"])
        row["op_counts"] = op_counts(entry["path"])
        if name in tune_check:
            row["prelnedge_tune_candidate"] = tune_check[name]
        for key in ("same_bytes_from_plain_calibration",):
            if key in entry:
                row[key] = entry[key]
        if "quantizer" in entry:
            row["aeq_validate_worst_tensors_db"] = aeq_worst_tensors(entry["quantizer"], rows)
        result["models"][name] = row
    running = {"float": float_model} | {name: made[name]["path"] for name in MODELS if result["models"][name]["runs"]}
    result["latency_b1"] = {"length": min(128, config.max_tokens), "threads": 2, "rounds": rounds,
                            "ms": latency(running, min(128, config.max_tokens), config.vocab_size, rounds)}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def table(result: dict) -> str:
    ms = result["latency_b1"]["ms"]
    lines = [f"{result['size']} (hidden {result['hidden']}, {result['layers']} layers), float unit {result['unit']!r}; "
             f"{result['held_out_rows']} held-out texts; latency b1 x {result['latency_b1']['length']}, 2 threads "
             f"(noisy: shared 2-core machine)",
             f"{'model':19} {'size':>10} {'ratio':>6} {'min SQNR':>9} {'span EM':>8} {'calib s':>8} {'quant s':>8} "
             f"{'unit float':>10} {'ms b1':>8} {'x conv':>7}",
             f"{'float':19} {result['float']['size_bytes']:>10} {1:>6.3f} {'':>9} {'':>8} {'':>8} {'':>8} {'':>10} "
             f"{ms['float']['median_ms']:>8.2f} {ms['float']['vs_converter_plain'][0]:>7.2f}"]
    for name, row in result["models"].items():
        sqnr = f"{row['min_sqnr_db']:.1f} dB" if row["runs"] else "no run"
        em = f"{row['agreement'].get('span_exact_match', float('nan')):.3f}" if row["runs"] else ""
        speed = f"{ms[name]['median_ms']:>8.2f} {ms[name]['vs_converter_plain'][0]:>7.2f}" if name in ms else ""
        lines.append(f"{name:19} {row['size_bytes']:>10} {row['size_ratio']:>6.3f} {sqnr:>9} {em:>8} "
                     f"{row['calibrate_s']:>8.2f} {row['quantize_s']:>8.3f} {row['unit_float']:>10} {speed:>16}")
        if "raw_integer_outputs" in row:
            raw = row["raw_integer_outputs"]["min_sqnr_db"]
            lines.append(f"{'':19} outputs {', '.join(sorted(set(row['outputs'].values())))}; SQNR above dequantized, "
                         f"read raw (as prelnedge's session returns them) {raw:.1f} dB")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny"], choices=["tiny", "256", "512"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "tflite-quantizers")
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", message=r"(?s).*(experimental_preserve_all_tensors|tf\.lite\.Interpreter)")
    from importlib.metadata import version

    from prelnedge.timing import machine

    # both toolkits imported before anything is timed: calibrate_s is the work, not a first import
    start = time.perf_counter()
    import ai_edge_quantizer.quantizer  # noqa: F401
    import tensorflow  # noqa: F401
    imports_s = round(time.perf_counter() - start, 1)
    packages = ("ai-edge-quantizer", "ai-edge-litert", "tensorflow")
    results = {"machine": machine(), "imports_s": imports_s, "versions": {p: version(p) for p in packages},
               "sizes": []}
    for size in args.sizes:
        results["sizes"].append(run_size(size, args.out, args.held_out, args.rounds))
        (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    for result in results["sizes"]:
        print(table(result))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Issue 24's proof: `prelnedge tune` on a random checkpoint with planted outliers, measured against float
on examples the search did not see.

    .venv/bin/python benchmarks/tune_proof.py [--size 512] [--out benchmarks/out/tune-proof]

The checkpoint (benchmarks/random_checkpoint.py's initialisation, QA head) gets two plantings
(benchmarks/planted_outliers.py): activation outliers in front of one layer's ffn.in (a LayerNorm with
gain x300 in 3 hidden dimensions, the ffn.in input columns divided by as much: the float model is
unchanged) and outsized weight columns in another layer's attn.out (3 output features x12, which changes the
float model: massive residual dimensions downstream). Then, per case: ONNX export, `prelnedge tune`
(--min-sqnr), and plain vs tuned figures from tune.json's held-out block, with b1 x 128-token latency of
float, plain and tuned models timed interleaved in this process (ONNX Runtime with benchmarks/ort_options.py's
fair session options, LiteRT's interpreter with as many threads). Judged on the packaged QA texts
(prelnedge/data/eval-qa.jsonl; labels unused): 40 searched, 40 held out. A case is MODE:DB (ONNX) or
tflite/MODE:DB, e.g. `--cases tflite/int8-static:22`.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"256": (256, 4, 4, 1024, 8000), "512": (512, 6, 8, 2048, 8000), "base": (768, 12, 12, 3072, 50265)}
CASES = (("int8-dynamic", 22.0), ("int4", 12.0))


def make_checkpoint(folder: Path, size: str, seed: int = 0) -> dict:
    import torch
    import transformers

    from benchmarks.planted_outliers import plant_activation_outliers, plant_weight_columns
    from prelnedge.checkpoint.load import TOKENIZER_FILES, default_model_dir

    hidden, layers, heads, ffn, vocab = SIZES[size]
    config = transformers.RobertaPreLayerNormConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=ffn, max_position_embeddings=514, num_labels=2,
        architectures=["RobertaPreLayerNormForQuestionAnswering"])
    torch.manual_seed(seed)
    model = transformers.RobertaPreLayerNormForQuestionAnswering(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # as benchmarks/random_checkpoint.py: LayerNorm and bias mistakes would show
        for name, param in model.named_parameters():
            if ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight"):
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=generator))
            if name.endswith("bias"):
                param.copy_(0.02 * torch.randn(param.shape, generator=generator))
    planted = {"activation_outliers": {"layer": layers // 3, "dims": [5, 77, 200], "gain": 300.0},
               "weight_columns": {"layer": (2 * layers) // 3, "dims": [11, 99, 150], "scale": 12.0}}
    plant_activation_outliers(model, planted["activation_outliers"]["layer"],
                              tuple(planted["activation_outliers"]["dims"]), planted["activation_outliers"]["gain"])
    plant_weight_columns(model, planted["weight_columns"]["layer"], tuple(planted["weight_columns"]["dims"]),
                         planted["weight_columns"]["scale"])
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if (default_model_dir() / name).exists():
            shutil.copy(default_model_dir() / name, folder / name)
    return planted


def _session(path: Path, threads: int = 2):
    """A b1 call of the model file: ONNX Runtime or LiteRT, int inputs as each takes them."""
    import numpy as np

    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path), num_threads=threads).get_signature_runner("serving_default")
        return lambda ids, mask: runner(input_ids=ids.astype(np.int32), attention_mask=mask.astype(np.int32))
    import onnxruntime as ort

    from benchmarks.ort_options import fair_session_options

    session = ort.InferenceSession(str(path), fair_session_options(threads), providers=["CPUExecutionProvider"])
    return lambda ids, mask: session.run(None, {"input_ids": ids.astype(np.int64), "attention_mask": mask.astype(np.int64)})


def latency(models: dict[str, Path], rounds: int = 15) -> dict[str, float]:
    """Median ms per b1 x 128 call, the sessions timed in rotating order."""
    import numpy as np

    sessions = {name: _session(path) for name, path in models.items()}
    rng = np.random.default_rng(0)
    ids, mask = rng.integers(4, 3000, (1, 128)), np.ones((1, 128), np.int64)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    names = list(sessions)
    for call in sessions.values():
        call(ids, mask)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            sessions[name](ids, mask)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: float(np.median(values)) for name, values in times.items()}


def plain_model(export: Path, target: str, mode: str, out: Path) -> Path:
    """The plain mode's model file (no unit kept wider), for timing beside the tuned one: ONNX through
    the quantizer, TFLite through the candidate path (calibrate, then quantize; the quantize stage
    itself would refuse a plain model under its floor)."""
    from prelnedge.quantize.recipe import Recipe

    if target == "onnx":
        from prelnedge.quantize.mixed import quantize_onnx_recipe

        quantize_onnx_recipe(export / "model.onnx", out, None, Recipe("onnx", mode))
        return out
    from prelnedge.examples import default_examples
    from prelnedge.hashing import sha256_file
    from prelnedge.tasks import get_task
    from prelnedge.tune.candidate import Candidate, EvalSet, evaluate_candidate

    one = EvalSet("plain", tuple(default_examples(get_task("qa"))[:1]))  # figures unused: the file is wanted
    candidate = Candidate(str(export), sha256_file(export / "manifest.json"), Recipe(target, mode), one)
    return Path(evaluate_candidate(candidate, keep=out.parent / out.stem)["model"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512", choices=SIZES)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "tune-proof")
    parser.add_argument("--cases", nargs="+", default=[f"{m}:{v:g}" for m, v in CASES])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "prelnedge.cli"]
    checkpoint = args.out / f"checkpoint-{args.size}"
    started = time.perf_counter()
    planted = make_checkpoint(checkpoint, args.size) if not checkpoint.exists() else None
    written = args.out / f"results-{args.size}.json"  # cases of earlier runs stay unless run again
    results = json.loads(written.read_text()) if written.exists() else {"cases": []}
    results.update(size=args.size, shape=SIZES[args.size], cpu=platform.processor())
    results["planted"] = planted or results.get("planted")
    for case in args.cases:
        target, _, mode = case.split(":")[0].rpartition("/")
        target, budget = target or "onnx", case.split(":")[1]
        export = args.out / f"{target}-{args.size}"
        if not export.exists():
            subprocess.run([*cli, "export", "--model", str(checkpoint), "--task", "qa", "--target", target, "--out",
                            str(export)], check=True)
        suffix = "" if target == "onnx" else f"-{target}"
        out = args.out / f"tuned-{args.size}{suffix}-{mode}"
        t0 = time.perf_counter()
        code = subprocess.call([*cli, "tune", str(export), "--quantize", mode, "--min-sqnr", budget, "--out", str(out),
                                "--force", "--eval", str(ROOT / "prelnedge" / "data" / "eval-qa.jsonl"),
                                "--search-examples", "40", "--cache", str(args.out / "cache")])
        wall = time.perf_counter() - t0
        results["cases"] = [c for c in results["cases"]
                            if (c.get("target", "onnx"), c["mode"], c["budget_db"]) != (target, mode, float(budget))]
        if code != 0:
            results["cases"].append({"target": target, "mode": mode, "budget_db": float(budget), "exit": code,
                                     "wall_s": wall})
            continue
        report = json.loads((out / "tune.json").read_text())
        extension = "onnx" if target == "onnx" else "tflite"
        model_file = f"model.{extension}"
        plain_file = plain_model(export, target, mode, args.out / f"plain-{args.size}{suffix}-{mode}.{extension}")
        ms = latency({"float": export / model_file, "plain": plain_file, "tuned": out / model_file})
        held = report["held_out"]
        results["cases"].append({
            "target": target, "mode": mode, "budget_db": float(budget), "exit": 0, "wall_s": wall, "candidates": report["candidates"],
            "kept": report["recipe"]["units"], "units": len(report["units"]), "latency_ms": ms,
            **{name: {"size_bytes": held[name]["size_bytes"], "size_ratio": held[name]["size_bytes"] / held["float"]["size_bytes"],
                      "min_sqnr_db": held[name]["min_sqnr_db"], "agreement": held[name]["agreement"]}
               for name in ("plain", "tuned")}})
        written.write_text(json.dumps(results, indent=2))
    results["wall_s"] = time.perf_counter() - started
    written.write_text(json.dumps(results, indent=2))
    for case in results["cases"]:
        case.setdefault("target", "onnx")
        if case["exit"]:
            print(f"{case['target']} {case['mode']} --min-sqnr {case['budget_db']:g}: exit {case['exit']} after {case['wall_s']:.0f} s")
            continue
        print(f"{case['target']} {case['mode']} --min-sqnr {case['budget_db']:g}: kept {len(case['kept'])}/{case['units']} units "
              f"({', '.join(case['kept'])}); {case['candidates']['judged']} candidates, {case['wall_s']:.0f} s")
        for name in ("plain", "tuned"):
            row = case[name]
            print(f"  {name}: {row['size_ratio']:.3f}x fp32, held-out SQNR {row['min_sqnr_db']:.1f} dB, "
                  f"span EM {row['agreement'].get('span_exact_match', float('nan')):.3f}, "
                  f"{case['latency_ms'][name]:.1f} ms (float {case['latency_ms']['float']:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

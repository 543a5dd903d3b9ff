"""The `prelnedge` command: argparse subcommands that parse arguments and call the library.

User errors print one line (`prelnedge: error: ...`) and exit with code 2; `--debug` shows the
traceback instead. This module imports no framework: each command imports what it needs.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from prelnedge import __version__, quiet
from prelnedge.errors import UserError, ValidationError
from prelnedge.export import TARGETS
from prelnedge.models import DEFAULT_REFERENCE, FRAMEWORKS
from prelnedge.tasks import DEFAULT_TASK, all_task_names

if TYPE_CHECKING:
    from prelnedge.artifact import ModelArtifact

EXIT_USER_ERROR = 2
DEBUG_HELP = "show tracebacks and the libraries' own log lines instead of one-line errors"
EXIT_VALIDATION_FAILED = 1
SOURCE_MODEL_HELP = ("the checkpoint the folder was exported from, when it is no longer at the path its "
                     "manifest records (default: that path, or the embedded model)")
EXIT_PARTIAL = 3  # validate: hashes and golden replay passed, the full re-validation could not run


class _HelpFormatter(argparse.HelpFormatter):
    """Never wrap inside a hyphenated task name (`sequence-classification`)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the command's --help."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="prelnedge", description=(
        "RoBERTa-PreLayerNorm checkpoints to verified on-device models. Without --model, commands use "
        "the small demonstration model embedded in the package (trained on generated data, not a "
        "general-purpose language model)."))
    parser.add_argument("--version", action="version", version=f"prelnedge {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    # Every subcommand also takes --debug after its name; SUPPRESS keeps a top-level --debug.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    command = functools.partial(sub.add_parser, parents=[common])

    info = command("info", help="describe a checkpoint: format, config, heads, parameters")
    _add_model(info)
    _add_task(info, f"load for this task (default: {DEFAULT_TASK})", default=DEFAULT_TASK)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument("--modes", action="store_true",
                      help="print the quantization modes (what each is, its floors, what it refuses) as the "
                           "Markdown table of docs/modes.md, and load no checkpoint")
    info.set_defaults(run=_run_info)

    predict = command("predict", help="answer a request with an exported folder, or with the float reference")
    predict.add_argument("folder", type=Path, nargs="?", metavar="EXPORT",
                         help="exported folder to run (ONNX Runtime / LiteRT); without it, the float reference runs")
    _add_model(predict)
    _add_task(predict, "the task (required without EXPORT; with EXPORT it must match the export)")
    predict.add_argument("--framework", default=None, choices=FRAMEWORKS,
                         help=f"reference framework without EXPORT: {', '.join(FRAMEWORKS)} "
                              f"(default {DEFAULT_REFERENCE})")
    predict.add_argument("--text", action="append", default=[],
                         help="input text (repeat for several); masked-lm needs <mask>; multiple-choice: the "
                              "prompt (once)")
    predict.add_argument("--question", help="qa: the question")
    predict.add_argument("--context", help="qa: the passage holding the answer")
    predict.add_argument("--choice", action="append", default=[], help="multiple-choice: a candidate (repeat)")
    predict.add_argument("--top-k", type=int, default=None,
                         help="masked/causal LM: candidates to show (default 5)")
    predict.add_argument("--stride", type=int, default=None,
                         help="qa: tokens shared by consecutive context windows when the context is longer "
                              "than the model's limit (default: a quarter of the limit)")
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.set_defaults(run=_run_predict)

    generate = command("generate", help="generate text with a causal LM: an exported folder or the float reference",
                       epilog="Stops at </s>, after --max-new-tokens, or when prompt and continuation fill the "
                              "model's position table (its token limit); the last line says which. ONNX exports and "
                              "the torch reference decode with a key/value cache; TFLite exports recompute the "
                              "whole sequence for each token.")
    generate.add_argument("folder", type=Path, nargs="?", metavar="EXPORT",
                          help="causal-lm export to run (ONNX Runtime / LiteRT); without it, the float reference runs")
    _add_model(generate)
    generate.add_argument("--prompt", required=True, metavar="TEXT", help="the text to continue")
    generate.add_argument("--max-new-tokens", type=int, default=20, metavar="N", help="tokens to add at most (default 20)")
    generate.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    generate.add_argument("--temperature", type=float, default=1.0, metavar="T", help="--sample: divide the logits by this (default 1)")
    generate.add_argument("--top-k", type=int, default=None, metavar="K", help="--sample: draw from the K likeliest tokens only")
    generate.add_argument("--top-p", type=float, default=None, metavar="P",
                          help="--sample: draw from the likeliest tokens whose probability sums to P (nucleus)")
    generate.add_argument("--seed", type=int, default=None, metavar="S", help="--sample: random seed (repeatable output)")
    generate.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    generate.set_defaults(run=_run_generate)

    export = command("export", help="export a task model to ONNX or TFLite and validate it")
    _add_model(export)
    _add_task(export, "the task head to export", required=True)
    export.add_argument("--target", required=True, choices=TARGETS,
                        help="onnx (traced from torch) or tflite (converted from tf, or from flax through jax2tf)")
    export.add_argument("--framework", choices=FRAMEWORKS,
                        help="reference to trace (default: torch for onnx, tf for tflite)")
    export.add_argument("--out", type=Path, metavar="OUT",
                        help="output folder (default: prelnedge-out/<model>-<task>-<target>-<framework>)")
    export.add_argument("--force", action="store_true", help="replace OUT if it exists")
    export.add_argument("--keep-savedmodel", action="store_true",
                        help="flax path: keep the jax2tf SavedModel in OUT/savedmodel")
    export.add_argument("--static-shape", type=int, metavar="LENGTH", dest="static_shape",
                        help="tflite from tf: fixed input shape, batch 1 and LENGTH tokens (padded), for runtimes "
                             "that cannot resize inputs such as LiteRT.js in web bundles")
    _add_quantize_options(export, "also quantize the export with this mode (OUT then holds the quantized model)")
    export.set_defaults(run=_run_export)

    quantize = command("quantize", help="quantize a float export folder and validate it against the float model")
    quantize.add_argument("folder", type=Path, metavar="EXPORT", help="float export folder (from prelnedge export)")
    _add_quantize_options(quantize, "the quantization mode (required)")
    quantize.add_argument("--recipe", type=Path, metavar="RECIPE.json",
                          help="mixed-precision recipe (written by prelnedge tune, or by hand): the mode and the "
                               "units that keep more bits; rebuilds the model the recipe was made with")
    quantize.add_argument("--out", type=Path, required=True, metavar="OUT", help="quantized folder to write")
    quantize.add_argument("--force", action="store_true", help="replace OUT if it exists")
    _add_model(quantize, SOURCE_MODEL_HELP)
    quantize.set_defaults(run=_run_quantize)

    tune = command("tune", help="find the smallest mixed-precision model that keeps a budget (SQNR vs float, or "
                                "a task metric's drop)", epilog=(
        "Exactly one budget: --min-sqnr DB (every output's SQNR against the float model, no labels needed) or "
        "--max-drop X (the task metric on labelled examples at most X under float's). Writes OUT: the validated "
        "quantized folder (its manifest records the recipe; replay it with quantize --recipe OUT/recipe.json), "
        "tune.json, tune.md, tune.html. Exit codes: 0 found; 1 nothing short of float meets the budget (one "
        "line with the best reached; OUT then holds the search's report and no model); 2 bad input, refused "
        "before any work."))
    tune.add_argument("folder", type=Path, metavar="EXPORT", help="float export folder (from prelnedge export)")
    tune.add_argument("--quantize", dest="mode", choices=mode_names_with_recipes(), metavar="MODE", required=True,
                      help="the mode whose units may fall back: " + ", ".join(mode_names_with_recipes()))
    tune.add_argument("--out", type=Path, required=True, metavar="OUT", help="tuned folder to write")
    budget = tune.add_mutually_exclusive_group(required=True)
    budget.add_argument("--min-sqnr", type=float, metavar="DB", help="every output's SQNR vs float at least DB")
    budget.add_argument("--max-drop", type=float, metavar="X",
                        help="the task metric at most X (absolute, e.g. 0.005) under the float model's")
    tune.add_argument("--metric", help="--max-drop's metric (default: the task's first: exact_match, accuracy, "
                                       "entity_f1)")
    tune.add_argument("--eval", type=Path, dest="eval_file", metavar="FILE",
                      help="examples to judge on (labelled for --max-drop; half searched, half held out); default: "
                           "the packaged held-out set for the embedded model, else the package's corpus")
    tune.add_argument("--calibration", type=Path, metavar="FILE", help="calibration texts for int8-static")
    tune.add_argument("--search-examples", type=int, default=100, metavar="N",
                      help="examples the search judges candidates on (default 100; as many others are held out)")
    tune.add_argument("--max-candidates", type=int, default=200, metavar="N", help="stop after N candidates")
    tune.add_argument("--cache", type=Path, metavar="DIR",
                      help="where candidates' figures are kept, so an interrupted run resumes "
                           "(default: $PRELNEDGE_CACHE/tune or ~/.cache/prelnedge/tune)")
    tune.add_argument("--force", action="store_true", help="replace OUT if it exists")
    _add_model(tune, SOURCE_MODEL_HELP)
    _add_executor_options(tune, "candidates")
    tune.set_defaults(run=_run_tune)

    validate = command("validate", help="re-check an exported folder: file hashes, golden vectors, and the full "
                                         "validation against the checkpoint it was exported from", epilog=(
        "Checks, each printed with its result: the files' sha256 against manifest.json, the golden replay, and "
        "the full re-validation against the float reference rebuilt from the source checkpoint (the "
        "manifest's path, or --model; its sha256 must match). Exit codes: 0 all three ran and passed; 3 partial: "
        "hashes and golden replay passed but the full re-validation did not run (checkpoint not found); "
        "1 a check failed; 2 bad input."))
    validate.add_argument("folder", type=Path, metavar="EXPORT", help="exported or quantized folder to check")
    _add_model(validate, SOURCE_MODEL_HELP)
    validate.set_defaults(run=_run_validate)

    report = command("report", help="measure every quantization mode (size, fidelity, latency) and gate "
                                    "against a baseline report")
    _add_model(report)
    _add_task(report, "the task head to measure", required=True)
    report.add_argument("--out", type=Path, required=True, metavar="OUT", help="report folder to write")
    report.add_argument("--targets", nargs="+", default=list(TARGETS), metavar="TARGET",
                        help=f"targets to include: {', '.join(TARGETS)} (default: all)")
    report.add_argument("--modes", nargs="+", default=None, metavar="MODE",
                        help="modes to include (default: all of each target; fp32 is the float export)")
    report.add_argument("--eval", type=Path, dest="eval_file", metavar="FILE", nargs="?", const="packaged",
                        help="labelled evaluation file (JSONL with label/answers, or SQuAD JSON) for the task metric; "
                             "without FILE, the packaged held-out set (the default for the embedded model)")
    report.add_argument("--calibration", type=Path, metavar="FILE",
                        help="calibration texts for the calibrated modes (see quantize --help)")
    report.add_argument("--baseline", type=Path, metavar="OLD/report.json",
                        help="fail (exit 1) when any cell's fidelity got worse than in this report")
    report.add_argument("--force", action="store_true", help="replace OUT if it exists")
    _add_executor_options(report, "cells")
    report.set_defaults(run=_run_report)

    bundle = command("bundle", help="package an exported folder as a web or Android runtime bundle")
    bundle.add_argument("folder", type=Path, metavar="EXPORT", help="exported folder (from prelnedge export)")
    bundle.add_argument("--platform", required=True, choices=list(_bundle_platforms()),
                        help="web (a browser page: ONNX export, or TFLite exported with --static-shape) or android "
                             "(app assets: TFLite export, or ONNX converted to .ort)")
    bundle.add_argument("--out", type=Path, required=True, metavar="OUT", help="bundle folder to write")
    bundle.add_argument("--force", action="store_true", help="replace OUT if it exists")
    bundle.set_defaults(run=_run_bundle)
    return parser


def _bundle_platforms() -> tuple[str, ...]:
    from prelnedge.bundle import PLATFORMS

    return tuple(PLATFORMS)


def _add_quantize_options(parser: argparse.ArgumentParser, what: str) -> None:
    from prelnedge.quantize import MODES, mode_names

    help_text = (f"{what}: onnx " + ", ".join(mode_names("onnx")) + "; tflite " + ", ".join(mode_names("tflite")))
    calibrated = ", ".join(dict.fromkeys(m.name for m in MODES if m.needs_calibration))
    # One spelling in help (--quantize, on export and quantize alike); --mode is accepted too.
    parser.add_argument("--quantize", dest="mode", choices=mode_names(), metavar="MODE", help=help_text)
    parser.add_argument("--mode", dest="mode", choices=mode_names(), metavar="MODE", help=argparse.SUPPRESS)
    parser.add_argument("--calibration", type=Path, metavar="FILE",
                        help=f"calibration texts for {calibrated}: JSONL (strings, {{text, pair}}, "
                             "{question, context}, {prompt, choices}) or SQuAD-style JSON for qa (default: the "
                             "package's corpus)")


def _add_executor_options(parser: argparse.ArgumentParser, what: str) -> None:
    from prelnedge.executor import BACKENDS

    parser.add_argument("--executor", choices=BACKENDS, default="local",
                        help=f"where the {what} run: local (this process, the default) or ray (the cluster "
                             "RAY_ADDRESS names, else a local Ray on this machine)")
    parser.add_argument("--cpus-per-cell", type=int, default=1, metavar="N",
                        help="CPUs each cell takes and holds its threads to, locally and on Ray (default 1; "
                             "the same N gives the same figures wherever a cell runs)")
    parser.add_argument("--retries", type=int, default=2, metavar="N",
                        help="attempts after the first for a cell that crashes or loses its worker (default 2)")


def _add_model(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    parser.add_argument("--model", type=Path, default=None, metavar="CKPT",
                        help=help_text or "HF checkpoint folder or fairseq model.pt (default: the embedded model)")


def _add_task(parser: argparse.ArgumentParser, what: str, **kwargs) -> None:
    from prelnedge.tasks import TASKS

    aliases = "; ".join(f"{alias} = {task.name}" for task in TASKS.values() for alias in task.aliases)
    parser.add_argument("--task", choices=all_task_names(), metavar="TASK", **kwargs,
                        help=f"{what}. Tasks: {', '.join(TASKS)} (aliases: {aliases})")


def _run_info(args: argparse.Namespace) -> int:
    if args.modes:
        from prelnedge.quantize.modes_table import modes_document

        print(modes_document(), end="")
        return 0
    from prelnedge.checkpoint.load import load_checkpoint
    from prelnedge.tasks import get_task
    from prelnedge.checkpoint.params import task_parameters

    loaded = load_checkpoint(args.model, get_task(args.task))
    config = loaded.config
    params = sum(int(v.size) for v in loaded.state.values())
    shapes = task_parameters(config, loaded.task)
    summary = {
        "path": str(loaded.source_path), "format": loaded.source_format, "task": loaded.task.name,
        "sha256": loaded.source_sha256, "parameters": params, "tensors": len(shapes),
        "tokenizer": str(loaded.tokenizer_dir) if loaded.tokenizer_dir else None,
        "initialized": loaded.initialized, "notes": loaded.unused,
        "config": {k: v for k, v in config.to_dict().items() if k not in ("label2id",)},
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(f"{summary['path']}  ({loaded.source_format}, sha256 {loaded.source_sha256[:16]}…)")
    print(f"  shape: {config.num_hidden_layers} layers × hidden {config.hidden_size}, "
          f"{config.num_attention_heads} heads, FFN {config.intermediate_size}, vocab {config.vocab_size}, "
          f"{config.max_tokens} tokens max, eps {config.layer_norm_eps:g}")
    print(f"  task {loaded.task.name}: {params:,} parameters in {len(shapes)} tensors "
          f"({params * 4 / 2**20:.1f} MiB fp32); outputs {', '.join(loaded.task.output_names)}")
    print(f"  labels: {', '.join(config.labels)}")
    print(f"  tokenizer: {summary['tokenizer'] or 'none (token ids only)'}")
    for name in loaded.initialized:
        print(f"  INITIALISED (not in checkpoint): {name}")
    for note in loaded.unused:
        print(f"  note: {note}")
    return 0


def _run_predict(args: argparse.Namespace) -> int:
    from prelnedge.runtime.postprocess import check_request, run_task
    from prelnedge.progress import Progress
    from prelnedge.tasks import get_task

    if args.top_k is not None and args.top_k < 1:
        raise UserError(f"--top-k must be at least 1; got {args.top_k}")
    if args.folder is not None and args.model is not None:
        raise UserError("give either an exported folder EXPORT or --model, not both")
    if args.folder is not None and args.framework is not None:
        raise UserError("--framework chooses the float reference; an exported folder EXPORT runs its own model")
    if args.folder is None and args.task is None:
        raise UserError("predict needs --task TASK (or an exported folder EXPORT)")
    request = {"texts": [_user_text(t, "--text") for t in args.text], "question": _user_text(args.question, "--question"),
               "context": _user_text(args.context, "--context"), "choices": [_user_text(c, "--choice") for c in args.choice]}
    if args.task is not None:  # before the (slow) model load
        check_request(get_task(args.task), **request)
    progress = Progress(total=2)
    with progress.stage("loading the model"):
        model, tok = _predict_model(args)
    with progress.stage("predicting"):
        result = run_task(model.task, model, tok, model.config.labels, **request, top_k=args.top_k,
                          stride=args.stride)
    print(json.dumps(result, indent=None if args.json else 2, ensure_ascii=False))
    return 0


def _user_text(value: str | None, flag: str) -> str | None:
    """A text argument as valid Unicode: bytes that are not UTF-8 reach Python as lone surrogates
    (which no tokenizer takes); they are read as U+FFFD, and the user is told."""
    if value is None:
        return None
    try:
        fixed = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that no byte made (given programmatically)
        fixed = value.encode("utf-8", "replace").decode("utf-8")
    if fixed != value:
        warnings.warn(f"{flag} holds bytes that are not UTF-8 text; they were read as the replacement "
                      "character U+FFFD")
    return fixed


def _predict_model(args: argparse.Namespace):
    """(model, tokenizer): the exported folder's runtime session, or the float reference."""
    from prelnedge.tasks import get_task

    if args.folder is not None:
        from prelnedge.runtime.sessions import load_exported

        model = load_exported(args.folder)
        if args.task is not None and model.task.name != get_task(args.task).name:
            raise UserError(f"{args.folder} is a {model.task.name} export; --task {args.task} does not match")
        if model.tokenizer is None:
            raise UserError(f"{args.folder} has no tokenizer files; predict needs one")
        return model, model.tokenizer
    from prelnedge.models.reference import load_reference
    from prelnedge.runtime.tokenizer import PreLNTokenizer

    model = load_reference(args.model, task=args.task, framework=args.framework or DEFAULT_REFERENCE)
    if model.checkpoint.tokenizer_dir is None:
        raise UserError(f"{model.checkpoint.source_path} has no tokenizer files "
                        "(tokenizer.json or vocab.json + merges.txt); predict needs one")
    return model, PreLNTokenizer.from_dir(model.checkpoint.tokenizer_dir, model.config.max_tokens)


def _run_generate(args: argparse.Namespace) -> int:
    from prelnedge.progress import Progress
    from prelnedge.models.decoding import decoder_for
    from prelnedge.runtime.generate import Sampling, TextStream, generate

    sampling = Sampling(sample=args.sample, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                        seed=args.seed)  # checked before the (slow) model load
    if args.max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be at least 1; got {args.max_new_tokens}")
    if args.folder is not None and args.model is not None:
        raise UserError("give either an exported folder EXPORT or --model, not both")
    args.task, args.framework = ("causal-lm" if args.folder is None else None), None
    with Progress(total=1).stage("loading the model"):
        model, tok = _predict_model(args)
    if not model.task.causal:
        raise UserError(f"{args.folder} is a {model.task.name} export; generate needs a causal-lm export")
    enc = tok.encode_causal(args.prompt)
    if enc.truncated:
        raise UserError(f"the prompt is longer than the model's limit of {tok.max_length} tokens; shorten it")
    stream = TextStream(tok)

    def show(token: int) -> None:
        if not args.json:
            print(stream.push(token), end="", flush=True)

    if not args.json:
        print(args.prompt, end="", flush=True)
    decoder = decoder_for(model)
    result = generate(decoder, list(enc.ids), args.max_new_tokens, model.config.eos_token_id, tok.max_length,
                      sampling, on_token=show)
    stops = {"eos": "</s>", "max-new-tokens": f"--max-new-tokens {args.max_new_tokens}",
             "limit": f"the model's limit of {tok.max_length} tokens"}
    if args.json:
        print(json.dumps({"prompt": args.prompt, "text": tok.decode(result.new_ids), "prompt_ids": result.prompt_ids,
                          "new_ids": result.new_ids, "stop": result.stop, "cached": decoder.cached,
                          "sampling": {"sample": args.sample, "temperature": args.temperature, "top_k": args.top_k,
                                       "top_p": args.top_p, "seed": args.seed}}, ensure_ascii=False))
    else:
        print(f"\n[{len(result.new_ids)} tokens; stopped at {stops[result.stop]}]")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from prelnedge.pipeline import ExportConfig, export

    cfg = ExportConfig(task=args.task, target=args.target, model=args.model, framework=args.framework,
                       out=args.out, force=args.force, keep_savedmodel=args.keep_savedmodel,
                       quantize=args.mode, calibration=args.calibration, static_shape=args.static_shape)
    _print_validation(export(cfg))
    return 0


def _run_quantize(args: argparse.Namespace) -> int:
    from prelnedge.quantize.recipe import Recipe
    from prelnedge.quantize.stage import QuantizeConfig, run_quantize

    if args.mode is None and args.recipe is None:
        raise UserError("quantize needs --quantize MODE or --recipe FILE (see prelnedge quantize --help)")
    recipe = Recipe.read(args.recipe) if args.recipe is not None else None
    cfg = QuantizeConfig(args.folder, args.mode, args.out, calibration=args.calibration, force=args.force,
                         model=args.model, recipe=recipe)
    _print_validation(run_quantize(cfg))
    return 0


def mode_names_with_recipes() -> list[str]:
    from prelnedge.quantize.recipe import PRECISIONS

    return list(dict.fromkeys(mode for _, mode in PRECISIONS))


def _run_tune(args: argparse.Namespace) -> int:
    from prelnedge.tune.budget import MAX_DROP, MIN_SQNR, Budget
    from prelnedge.tune.run import TuneConfig, run_tune

    if args.metric is not None and args.max_drop is None:
        raise UserError("--metric goes with --max-drop; --min-sqnr needs no metric")
    budget = (Budget(MIN_SQNR, args.min_sqnr) if args.min_sqnr is not None
              else Budget(MAX_DROP, args.max_drop, args.metric))
    report = run_tune(TuneConfig(export=args.folder, mode=args.mode, out=args.out, budget=budget,
                                 eval_file=args.eval_file, calibration=args.calibration, model=args.model,
                                 force=args.force, cache=args.cache, search_examples=args.search_examples,
                                 max_candidates=args.max_candidates, executor=args.executor,
                                 cpus_per_cell=args.cpus_per_cell, retries=args.retries))
    held = report["held_out"]
    print(f"{args.out}: {report['task']} {report['target']} {report['mode']} tuned for {report['budget']['text']}; "
          f"kept {len(report['recipe']['units'])} of {len(report['units'])} units wider "
          f"({', '.join(f'{u} {p}' for u, p in report['recipe']['units'].items()) or 'none'})")
    for name in ("plain", "tuned"):
        row = held[name]
        metric = f", {report['budget']['metric']} {row['metric']:.3f}" if row.get("metric") is not None else ""
        print(f"  held out, {name}: {row['size_bytes'] / 2**20:.2f} MiB "
              f"({row['size_bytes'] / held['float']['size_bytes']:.2f}x float), worst SQNR {row['min_sqnr_db']:.1f} dB"
              + metric)
    print(f"  {report['candidates']['judged']} candidates, {report['seconds']:.1f} s; report {args.out / 'tune.html'}")
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    from prelnedge.progress import Progress
    from prelnedge.verify.validate_folder import describe, validate_folder

    with Progress(total=1).stage(f"validating {args.folder}"):
        check = validate_folder(args.folder, args.model)
    print("\n".join(describe(check)))
    if not check.full:
        print(f"validation partial: hashes and golden replay passed; the full re-validation did not run "
              f"(exit code {EXIT_PARTIAL})")
        return EXIT_PARTIAL
    print("validation passed: hashes, golden replay and full re-validation")
    return 0


def _packaged_eval(task_name: str) -> Path:
    from prelnedge.examples import packaged_eval_file
    from prelnedge.tasks import TASKS, get_task

    file = packaged_eval_file(get_task(task_name))
    if file is None:
        have = [name for name, task in TASKS.items() if packaged_eval_file(task) is not None]
        raise UserError(f"no packaged evaluation set for task {task_name}; packaged: {', '.join(have) or 'none'} "
                        "(or give --eval FILE)")
    return file


def _run_report(args: argparse.Namespace) -> int:
    from prelnedge.report.build import ReportConfig, run_report
    from prelnedge.verify.gate import faults

    eval_file = _packaged_eval(args.task) if args.eval_file == "packaged" else args.eval_file
    report = run_report(ReportConfig(task=args.task, out=args.out, model=args.model, targets=tuple(args.targets),
                                     modes=tuple(args.modes) if args.modes else None, eval_file=eval_file,
                                     calibration=args.calibration, baseline=args.baseline, force=args.force,
                                     executor=args.executor, cpus_per_cell=args.cpus_per_cell, retries=args.retries))
    print((args.out / "report.md").read_text(encoding="utf-8").split("![")[0].rstrip())
    regressions = (report.get("baseline") or {}).get("regressions")
    if regressions:
        raise ValidationError(f"{len(regressions)} cell(s) got worse than the baseline: " + "; ".join(regressions))
    failed = faults(report)  # no baseline: a cell that never ran still fails the command
    if failed:
        raise ValidationError(f"{len(failed)} cell(s) failed to run: " + "; ".join(failed))
    return 0


def _run_bundle(args: argparse.Namespace) -> int:
    from prelnedge.bundle import BundleConfig, how_to_open, run_bundle

    written = run_bundle(BundleConfig(args.folder, args.platform, args.out, args.force))
    size = sum((written.folder / name).stat().st_size for name in written.files)
    print(f"{written.folder}: {args.platform} bundle of {written.source.task} ({len(written.files)} files, "
          f"{size / 2**20:.2f} MiB)")
    hint = how_to_open(args.platform, written.folder)
    if hint:
        print(hint)
    return 0


def _print_validation(artifact: ModelArtifact) -> None:
    folder = artifact.folder
    validation = json.loads((folder / "validation.json").read_text())
    size = artifact.model_path.stat().st_size
    quantization = artifact.quantization
    if quantization:
        fidelity = validation["fidelity"]
        print(f"{folder}: {artifact.model_file} ({size / 2**20:.2f} MiB, {quantization.size_ratio:.2f}x the "
              f"float size), {artifact.task} {artifact.target} {quantization.mode}; fidelity vs the float "
              f"model on {fidelity['examples']} examples passed (floor {validation['tolerance']['min_sqnr_db']:g} dB)")
        for name, worst in fidelity["outputs"].items():
            print(f"  {name}: SQNR {worst['sqnr_db']:.1f} dB, cosine {worst['cosine']:.5f}, "
                  f"max_abs {worst['max_abs']:.3g}, mean_abs {worst['mean_abs']:.3g}")
        for key, value in fidelity["agreement"].items():
            print(f"  {key}: {value:.3f}")
        recipe = quantization.settings.get("recipe")
        if recipe:
            kept = ", ".join(f"{unit} {precision}" for unit, precision in recipe["units"].items()) or "none"
            print(f"  mixed precision (recipe): every unit {recipe['default']} except {kept}")
        return
    print(f"{folder}: {artifact.model_file} ({size / 2**20:.2f} MiB), {artifact.task} "
          f"{artifact.target} from {artifact.framework}; validation passed "
          f"(tolerance peak_rel {validation['tolerance']['peak_rel']:g})")
    for name, worst in validation["worst"].items():
        print(f"  {name}: max_abs {worst['max_abs']:.3g}, peak_rel {worst['peak_rel']:.3g}, "
              f"cosine {worst['cosine']:.7f}, SQNR {worst['sqnr_db']:.1f} dB")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"prelnedge: warning: {message}", file=sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured by a test harness)
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    warnings.showwarning = _show_warning
    quiet.enabled = not args.debug  # with --debug the libraries' own log lines go straight to the terminal
    if not args.debug:
        # TensorFlow/XLA C++ logging (CUDA probes, oneDNN notes) is noise to a user; --debug keeps it.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:
        code = args.run(args)
        sys.stdout.flush()  # here, so that a closed stdout is met inside this handler, not at exit
        return code
    except BrokenPipeError:  # `prelnedge predict ... | head`: the reader left; nothing more to say
        _silence_stdout()
        return 128 + 13  # as a process ended by SIGPIPE
    except UserError as exc:
        if args.debug:
            raise
        print(f"prelnedge: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except ValidationError as exc:
        if args.debug:
            raise
        print(f"prelnedge: validation failed: {exc}", file=sys.stderr)
        return EXIT_VALIDATION_FAILED
    except OSError as exc:  # a path the checks above could not foresee (disk full, permissions changed)
        if args.debug or not exc.filename:
            raise
        print(f"prelnedge: error: cannot access {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("prelnedge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

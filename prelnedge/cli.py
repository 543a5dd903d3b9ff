"""The `prelnedge` command: argparse subcommands that parse arguments and call the library.

User errors print one line (`prelnedge: error: ...`) and exit with code 2; `--debug` shows the
traceback instead. This module imports no framework: each command imports what it needs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from prelnedge import __version__
from prelnedge.errors import UserError, ValidationError
from prelnedge.tasks import all_task_names

EXIT_USER_ERROR = 2
EXIT_VALIDATION_FAILED = 1


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
        "the small untrained model embedded in the package."))
    parser.add_argument("--version", action="version", version=f"prelnedge {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    info = sub.add_parser("info", help="describe a checkpoint: format, config, heads, parameters")
    _add_model(info)
    info.add_argument("--task", default="base", choices=all_task_names(), metavar="TASK",
                      help="load for this task (default: base). Tasks: " + ", ".join(all_task_names()))
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=_run_info)

    predict = sub.add_parser("predict", help="answer a request with an exported folder, or with the float reference")
    predict.add_argument("folder", type=Path, nargs="?", metavar="OUT",
                         help="exported folder to run (ONNX Runtime / LiteRT); without it, the float reference runs")
    _add_model(predict)
    predict.add_argument("--task", choices=all_task_names(), metavar="TASK",
                         help="one of: " + ", ".join(all_task_names()) + " (required without OUT; "
                              "with OUT it must match the export)")
    predict.add_argument("--framework", default="torch", choices=["torch", "tf", "flax"],
                         help="reference framework (default torch)")
    predict.add_argument("--text", action="append", default=[],
                         help="input text (repeat for several); masked-lm needs <mask>; multiple-choice: the prompt")
    predict.add_argument("--question", help="qa: the question")
    predict.add_argument("--context", help="qa: the passage holding the answer")
    predict.add_argument("--choice", action="append", default=[], help="multiple-choice: a candidate (repeat)")
    predict.add_argument("--top-k", type=int, default=5, help="masked/causal LM: candidates to show (default 5)")
    predict.add_argument("--stride", type=int, default=None,
                         help="qa: tokens shared by consecutive context windows when the context is longer "
                              "than the model's limit (default: a quarter of the limit)")
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.set_defaults(run=_run_predict)

    export = sub.add_parser("export", help="export a task model to ONNX or TFLite and validate it")
    _add_model(export)
    export.add_argument("--task", required=True, choices=all_task_names(), metavar="TASK",
                        help="one of: " + ", ".join(all_task_names()))
    export.add_argument("--target", required=True, choices=["onnx", "tflite"])
    export.add_argument("--framework", choices=["torch", "tf", "flax"],
                        help="reference to trace (default: torch for onnx, tf for tflite)")
    export.add_argument("--out", type=Path, metavar="OUT",
                        help="output folder (default: prelnedge-out/<model>-<task>-<target>-<framework>)")
    export.add_argument("--force", action="store_true", help="replace OUT if it exists")
    export.add_argument("--keep-savedmodel", action="store_true",
                        help="flax path: keep the jax2tf SavedModel in OUT/savedmodel")
    export.add_argument("--static-shape", type=int, metavar="LENGTH", dest="static_shape",
                        help="tflite from tf: fixed input shape, batch 1 and LENGTH tokens (padded), for runtimes "
                             "that cannot resize inputs such as LiteRT.js in web bundles")
    _add_quantize_options(export, required=False)
    export.set_defaults(run=_run_export)

    quantize = sub.add_parser("quantize", help="quantize a float export folder and validate it against the float model")
    quantize.add_argument("folder", type=Path, metavar="OUT", help="float export folder (from prelnedge export)")
    _add_quantize_options(quantize, required=True)
    quantize.add_argument("--out", type=Path, required=True, metavar="OUT2", help="quantized folder to write")
    quantize.add_argument("--force", action="store_true", help="replace OUT2 if it exists")
    _add_model(quantize)
    quantize.set_defaults(run=_run_quantize)

    validate = sub.add_parser("validate", help="re-run validation on an exported folder")
    validate.add_argument("folder", type=Path, metavar="OUT")
    _add_model(validate)
    validate.set_defaults(run=_run_validate)

    report = sub.add_parser("report", help="measure every quantization mode (size, fidelity, latency) and gate "
                                           "against a baseline report")
    _add_model(report)
    report.add_argument("--task", required=True, choices=all_task_names(), metavar="TASK",
                        help="one of: " + ", ".join(all_task_names()))
    report.add_argument("--out", type=Path, required=True, metavar="R", help="report folder to write")
    report.add_argument("--targets", nargs="+", default=["onnx", "tflite"], metavar="TARGET",
                        help="targets to include (default: onnx tflite)")
    report.add_argument("--modes", nargs="+", default=None, metavar="MODE",
                        help="modes to include (default: all of each target; fp32 is the float export)")
    report.add_argument("--eval", type=Path, dest="eval_file", metavar="FILE",
                        help="labelled evaluation file (JSONL with label/answers, or SQuAD JSON) for the task metric")
    report.add_argument("--calibration", type=Path, metavar="FILE", help="calibration texts (see quantize)")
    report.add_argument("--baseline", type=Path, metavar="OLD/report.json",
                        help="fail (exit 1) when any cell's fidelity got worse than in this report")
    report.add_argument("--force", action="store_true", help="replace R if it exists")
    report.set_defaults(run=_run_report)

    bundle = sub.add_parser("bundle", help="package an exported folder as a web or Android runtime bundle")
    bundle.add_argument("folder", type=Path, metavar="OUT", help="exported folder (from prelnedge export)")
    bundle.add_argument("--platform", required=True, choices=list(_bundle_platforms()))
    bundle.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle folder to write")
    bundle.add_argument("--force", action="store_true", help="replace DIR if it exists")
    bundle.set_defaults(run=_run_bundle)
    return parser


def _bundle_platforms() -> tuple[str, ...]:
    from prelnedge.bundle import PLATFORMS

    return tuple(PLATFORMS)


def _add_quantize_options(parser: argparse.ArgumentParser, required: bool) -> None:
    from prelnedge.quantize import mode_names

    parser.add_argument("--quantize" if not required else "--mode", dest="mode", required=required,
                        choices=mode_names(), metavar="MODE",
                        help="quantization mode: onnx " + ", ".join(mode_names("onnx")) + "; tflite "
                             + ", ".join(mode_names("tflite")))
    parser.add_argument("--calibration", type=Path, metavar="FILE",
                        help="calibration texts: JSONL (strings, {text, pair}, {question, context}, {prompt, "
                             "choices}) or SQuAD-style JSON for qa (default: the package's corpus)")


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, metavar="DIR",
                        help="HF checkpoint folder or fairseq model.pt (default: the embedded model)")


def _run_info(args: argparse.Namespace) -> int:
    from prelnedge.checkpoint import load_checkpoint
    from prelnedge.tasks import get_task
    from prelnedge.weights import task_parameters

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
    from prelnedge.postprocess import check_request, run_task
    from prelnedge.tasks import get_task
    from prelnedge.reference import load_reference
    from prelnedge.tokenizer import PreLNTokenizer

    if args.top_k < 1:
        raise UserError(f"--top-k must be at least 1; got {args.top_k}")
    if args.folder is not None:
        return _predict_exported(args)
    if args.task is None:
        raise UserError("predict needs --task TASK (or an exported folder OUT)")
    check_request(get_task(args.task), texts=args.text, question=args.question, context=args.context,
                  choices=args.choice)  # before the (slow) model load
    model = load_reference(args.model, task=args.task, framework=args.framework)
    if model.checkpoint.tokenizer_dir is None:
        raise UserError(f"{model.checkpoint.source_path} has no tokenizer files "
                        "(tokenizer.json or vocab.json + merges.txt); predict needs one")
    tok = PreLNTokenizer.from_dir(model.checkpoint.tokenizer_dir, model.config.max_tokens)
    result = run_task(model.task, model, tok, model.config.labels, texts=args.text, question=args.question,
                      context=args.context, choices=args.choice, top_k=args.top_k, stride=args.stride)
    print(json.dumps(result, indent=None if args.json else 2, ensure_ascii=False))
    return 0


def _predict_exported(args: argparse.Namespace) -> int:
    from prelnedge.postprocess import check_request, run_task
    from prelnedge.runtime import load_exported

    if args.model is not None:
        raise UserError("give either an exported folder OUT or --model, not both")
    model = load_exported(args.folder)
    if args.task is not None and model.task.name != args.task:
        raise UserError(f"{args.folder} is a {model.task.name} export; --task {args.task} does not match")
    check_request(model.task, texts=args.text, question=args.question, context=args.context, choices=args.choice)
    if model.tokenizer is None:
        raise UserError(f"{args.folder} has no tokenizer files; predict needs one")
    result = run_task(model.task, model, model.tokenizer, model.config.labels, texts=args.text,
                      question=args.question, context=args.context, choices=args.choice, top_k=args.top_k,
                      stride=args.stride)
    print(json.dumps(result, indent=None if args.json else 2, ensure_ascii=False))
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from prelnedge.export import ExportConfig, export

    cfg = ExportConfig(task=args.task, target=args.target, model=args.model, framework=args.framework,
                       out=args.out, force=args.force, keep_savedmodel=args.keep_savedmodel,
                       quantize=args.mode, calibration=args.calibration, static_shape=args.static_shape)
    out = export(cfg)
    _print_validation(out)
    return 0


def _run_quantize(args: argparse.Namespace) -> int:
    from prelnedge.quantize.stage import quantize_folder

    out = quantize_folder(args.folder, args.mode, args.out, calibration=args.calibration, force=args.force,
                          model=args.model)
    _print_validation(out)
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    from prelnedge.validate_folder import validate_folder

    validate_folder(args.folder, args.model)
    _print_validation(args.folder)
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from prelnedge.report import ReportConfig, run_report

    report = run_report(ReportConfig(task=args.task, out=args.out, model=args.model, targets=tuple(args.targets),
                                     modes=tuple(args.modes) if args.modes else None, eval_file=args.eval_file,
                                     calibration=args.calibration, baseline=args.baseline, force=args.force))
    print((args.out / "report.md").read_text(encoding="utf-8").split("![")[0].rstrip())
    regressions = (report.get("baseline") or {}).get("regressions")
    if regressions:
        raise ValidationError(f"{len(regressions)} cell(s) got worse than the baseline: " + "; ".join(regressions))
    return 0


def _run_bundle(args: argparse.Namespace) -> int:
    from prelnedge.bundle import bundle, how_to_open

    out = bundle(args.folder, args.platform, args.out, args.force)
    manifest = json.loads((out / "manifest.json").read_text())
    size = sum((out / name).stat().st_size for name in manifest["files"])
    print(f"{out}: {args.platform} bundle of {manifest['task']} ({len(manifest['files'])} files, "
          f"{size / 2**20:.2f} MiB)")
    hint = how_to_open(args.platform, out)
    if hint:
        print(hint)
    return 0


def _print_validation(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    validation = json.loads((folder / "validation.json").read_text())
    size = (folder / manifest["model_file"]).stat().st_size
    quantization = manifest.get("quantization")
    if quantization:
        fidelity = validation["fidelity"]
        print(f"{folder}: {manifest['model_file']} ({size / 2**20:.2f} MiB, {quantization['size_ratio']:.2f}x the "
              f"float size), {manifest['task']} {manifest['target']} {quantization['mode']}; fidelity vs the float "
              f"model on {fidelity['examples']} examples passed (floor {validation['tolerance']['min_sqnr_db']:g} dB)")
        for name, worst in fidelity["outputs"].items():
            print(f"  {name}: SQNR {worst['sqnr_db']:.1f} dB, cosine {worst['cosine']:.5f}, "
                  f"max_abs {worst['max_abs']:.3g}, mean_abs {worst['mean_abs']:.3g}")
        for key, value in fidelity["agreement"].items():
            print(f"  {key}: {value:.3f}")
        return
    print(f"{folder}: {manifest['model_file']} ({size / 2**20:.2f} MiB), {manifest['task']} "
          f"{manifest['target']} from {manifest['framework']}; validation passed "
          f"(tolerance peak_rel {validation['tolerance']['peak_rel']:g})")
    for name, worst in validation["worst"].items():
        print(f"  {name}: max_abs {worst['max_abs']:.3g}, peak_rel {worst['peak_rel']:.3g}, "
              f"cosine {worst['cosine']:.7f}, SQNR {worst['sqnr_db']:.1f} dB")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"prelnedge: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    warnings.showwarning = _show_warning
    if not args.debug:
        # TensorFlow/XLA C++ logging (CUDA probes, oneDNN notes) is noise to a user; --debug keeps it.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:
        return args.run(args)
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
    except KeyboardInterrupt:
        print("prelnedge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

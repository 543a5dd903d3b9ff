"""EM/F1 of the embedded QA model on the hand-written test set (tests/data/handwritten_qa.jsonl)
beside the packaged held-out set, through the float reference and an int8-dynamic ONNX export,
with prelnedge's own post-processing and metric (verify.fidelity.task_metric).

    PYTHONPATH=. python scripts/eval_handwritten.py [--misses] [--held-out-limit N] [--model DIR] [--held-out FILE]

The hand-written set is a test set: nothing trains on it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDWRITTEN = ROOT / "tests" / "data" / "handwritten_qa.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="print each hand-written question answered wrongly")
    parser.add_argument("--held-out-limit", type=int, default=400, help="held-out questions to score (0: none)")
    parser.add_argument("--model", type=Path, default=None, help="a model folder (default: the embedded model)")
    parser.add_argument("--held-out", type=Path, default=None,
                        help="held-out QA file (default: the packaged prelnedge/data/eval-qa.jsonl)")
    args = parser.parse_args()

    import prelnedge
    from prelnedge.checkpoint.load import default_model_dir
    from prelnedge.export import ExportConfig, export
    from prelnedge.examples import load_examples, packaged_eval_file
    from prelnedge.quantize.stage import quantize_folder
    from prelnedge.runtime.postprocess import answer_question
    from prelnedge.runtime.sessions import load_exported
    from prelnedge.runtime.tokenizer import PreLNTokenizer
    from prelnedge.tasks import get_task
    from prelnedge.verify.fidelity import qa_scores, task_metric

    task = get_task("qa")
    sets = {"hand-written": load_examples(HANDWRITTEN, task, what="evaluation")}
    if args.held_out_limit:
        held_out = args.held_out or packaged_eval_file(task)
        sets["held-out"] = load_examples(held_out, task, what="evaluation")[:args.held_out_limit]
    reference = prelnedge.load_reference(args.model, task="qa")
    models = {"float": (reference, PreLNTokenizer.from_dir(args.model or default_model_dir(),
                                                           reference.config.max_tokens))}
    with tempfile.TemporaryDirectory() as tmp:
        folder = export(ExportConfig(task="qa", target="onnx", model=args.model, out=Path(tmp) / "float"))
        int8 = load_exported(quantize_folder(folder, "int8-dynamic", Path(tmp) / "int8").folder)
        models["onnx int8-dynamic"] = (int8, int8.tokenizer)
        print(f"{'model':<20}{'set':<14}{'n':>5}{'EM':>8}{'F1':>8}")
        for name, (model, tok) in models.items():
            for set_name, examples in sets.items():
                got = task_metric(task, model, tok, examples, ())
                print(f"{name:<20}{set_name:<14}{got['examples']:>5}{got['exact_match']:>8.3f}{got['f1']:>8.3f}")
            if args.misses:
                for e in sets["hand-written"]:
                    answer = answer_question(model, tok, e.text, e.pair)["answer"]
                    if qa_scores(answer, e.answers)[0] < 1:
                        print(f"  miss [{name}] {e.text!r}: {answer!r} (want {e.answers[0]!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

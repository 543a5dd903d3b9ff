"""Issue 12's held-out metrics of a model folder on a folder of eval-*.jsonl files, through
prelnedge's float reference and task metrics (what metrics.json records for the packaged sets).

    PYTHONPATH=. python scripts/eval_held_out.py [--model DIR] [--data DIR]

Compares a candidate with the shipped model on the same held-out files (the packaged ones by
default), e.g. a model trained on a new generator against the held-out sets of the old one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a model folder (default: the embedded model)")
    parser.add_argument("--data", type=Path, default=ROOT / "prelnedge" / "data", help="folder of eval-*.jsonl")
    args = parser.parse_args()

    from prelnedge.checkpoint.load import default_model_dir
    from prelnedge.models.reference import load_reference
    from prelnedge.examples import load_examples
    from prelnedge.runtime.tokenizer import PreLNTokenizer
    from prelnedge.tasks import get_task
    from prelnedge.verify.fidelity import task_metric

    folder = args.model or default_model_dir()
    result = {}
    for name in ("qa", "sequence-classification", "token-classification", "multiple-choice"):
        task = get_task(name)
        model = load_reference(folder, name)
        tok = PreLNTokenizer.from_dir(folder, model.config.max_tokens)
        examples = load_examples(args.data / f"eval-{name}.jsonl", task, what="evaluation")
        metric = task_metric(task, model, tok, examples, model.config.labels)
        result[name] = {k: round(v, 4) if isinstance(v, float) else v for k, v in metric.items()}
    print(json.dumps({"model": str(folder), "data": str(args.data), "held_out": result}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

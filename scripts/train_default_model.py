"""Train the embedded default model (prelnedge/default_model/) from scratch on generated data.

    python scripts/train_default_model.py                 # full run (~27 minutes on 2 idle cores)
    python scripts/train_default_model.py --smoke OUT     # a few steps on a tiny model (tests)

Deterministic for a given --seed and --threads. Writes the model folder (with metrics.json) and,
for the full run, the held-out evaluation files prelnedge/data/eval-*.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from prelnedge.train.loop import TrainConfig, build, smoke_config  # noqa: E402

TARGET = HERE.parent / "prelnedge" / "default_model"
DATA = HERE.parent / "prelnedge" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=None, help=f"model folder (default {TARGET})")
    parser.add_argument("--smoke", action="store_true", help="tiny model, a few steps")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--log", type=Path, default=None, help="append JSON lines of losses/metrics here")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"write the held-out eval files here (default: {DATA} for a full run into the default folder)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a TrainConfig field (experiments), e.g. --set finetune_steps=400")
    args = parser.parse_args()
    cfg = smoke_config() if args.smoke else TrainConfig()
    changes = {k: v for k, v in (("seed", args.seed), ("threads", args.threads)) if v is not None}
    for item in args.set:
        name, _, value = item.partition("=")
        changes[name] = type(getattr(cfg, name))(value)
    cfg = replace(cfg, **changes)
    out = args.out or TARGET
    data_dir = args.data_dir or (DATA if out == TARGET and not args.smoke else None)
    result = build(out, cfg, args.log, data_dir)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

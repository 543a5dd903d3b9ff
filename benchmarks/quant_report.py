"""The quantization report for a random model of hidden 256, 4 layers, vocab 8000 (issue 5's figure).

    .venv/bin/python benchmarks/quant_report.py [--task qa] [--out benchmarks/out/report-256]

Weights: transformers' own initialisation (normal, std 0.02), then LayerNorm weights 1 + N(0, 0.1)
and every bias N(0, 0.02), so LayerNorm and bias mistakes would show. The tokenizer is the embedded
default model's (625 tokens); the extra embedding rows still count in every size.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_checkpoint(folder: Path, task_name: str) -> None:
    import torch
    import transformers

    from prelnedge.checkpoint import TOKENIZER_FILES, default_model_dir
    from prelnedge.tasks import get_task

    task = get_task(task_name)
    config = transformers.RobertaPreLayerNormConfig(
        vocab_size=8000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
        max_position_embeddings=514, num_labels=2, architectures=[task.hf_class], is_decoder=task.causal)
    torch.manual_seed(0)
    model = getattr(transformers, task.hf_class)(config).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                if name.endswith("weight"):
                    param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=generator))
            if name.endswith("bias"):
                param.copy_(0.02 * torch.randn(param.shape, generator=generator))
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if (default_model_dir() / name).exists():
            shutil.copy(default_model_dir() / name, folder / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="qa")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "report-256")
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "random-256-4l-8000"
        make_checkpoint(checkpoint, args.task)
        command = [sys.executable, "-m", "prelnedge.cli", "report", "--model", str(checkpoint), "--task", args.task,
                   "--out", str(args.out), "--force"]
        if args.baseline:
            command += ["--baseline", str(args.baseline)]
        return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())

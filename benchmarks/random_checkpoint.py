"""A seeded random Hugging Face checkpoint of any size, written by transformers itself.

Weights: transformers' own initialisation (normal, std 0.02), then LayerNorm weights 1 + N(0, 0.1)
and every bias N(0, 0.02), so LayerNorm and bias mistakes would show. The tokenizer is the embedded
default model's (625 tokens); the extra embedding rows still count in every size and time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SIZES = {  # name -> (hidden, layers, heads, ffn, vocab)
    "256": (256, 4, 4, 1024, 8000),
    "base": (768, 12, 12, 3072, 50265),
    "large": (1024, 24, 16, 4096, 50265),  # the efficient_mlm_m0.xx shape, 355M parameters
}


def make_checkpoint(folder: Path, task_name: str, size: str = "256", seed: int = 0) -> None:
    import torch
    import transformers

    from prelnedge.checkpoint.load import TOKENIZER_FILES, default_model_dir
    from prelnedge.tasks import get_task

    hidden, layers, heads, ffn, vocab = SIZES[size]
    task = get_task(task_name)
    config = transformers.RobertaPreLayerNormConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=ffn, max_position_embeddings=514, num_labels=2, architectures=[task.hf_class],
        is_decoder=task.causal)
    torch.manual_seed(seed)
    model = getattr(transformers, task.hf_class)(config).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight"):
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=generator))
            if name.endswith("bias"):
                param.copy_(0.02 * torch.randn(param.shape, generator=generator))
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if (default_model_dir() / name).exists():
            shutil.copy(default_model_dir() / name, folder / name)

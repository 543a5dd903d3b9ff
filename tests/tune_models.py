"""Tiny checkpoints with a planted sensitive unit, for the tune tests.

A random model (tests/hf_factory.py's weights) whose vocabulary is the embedded model's tokenizer's,
so the corpus and evaluation texts tokenize, with benchmarks/planted_outliers.py's activation
outliers in front of one layer's ffn.in: the float model is unchanged, but quantizing that unit alone
wrecks the output.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.planted_outliers import plant_activation_outliers  # noqa: E402
from hf_factory import TEST_CONFIG, hf_model  # noqa: E402
from prelnedge.tasks import get_task  # noqa: E402

PLANTED_LAYER = 1
PLANTED_UNIT = f"layer {PLANTED_LAYER} ffn.in"


def planted_checkpoint(folder: Path, task_name: str = "sequence-classification", gain: float = 300.0,
                       seed: int = 3) -> Path:
    from prelnedge.checkpoint.load import TOKENIZER_FILES, default_model_dir

    task = get_task(task_name)
    config = TEST_CONFIG.replace(vocab_size=3072, max_position_embeddings=130, hidden_size=64,
                                 intermediate_size=128, labels=("start", "end") if task_name == "qa" else ("neg", "pos"))
    model = hf_model(config, task, seed)
    if gain:
        plant_activation_outliers(model, PLANTED_LAYER, dims=(3, 17, 40), gain=gain)
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if (default_model_dir() / name).exists():
            shutil.copy(default_model_dir() / name, folder / name)
    return folder

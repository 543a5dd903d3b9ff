"""Runs INSIDE the fairseq 0.12.2 venv (Python 3.8, torch 1.13.1), never under pytest.

Builds a tiny RoBERTa with --encoder-normalize-before through fairseq's own option parser, task and
Trainer, randomises every parameter (LayerNorms included, so a misplaced LayerNorm shows), and writes:
  fresh.pt     saved by Trainer.save_checkpoint (fast-path copies are zeros)
  reloaded.pt  loaded by checkpoint_utils and saved again by a Trainer, as a resumed run would (fairseq
               fills the fast-path copies while loading, so they are non-zero here)
  resaved_by_hand.pt  load_checkpoint_to_cpu's dict saved again (its cfg pickled as OmegaConf objects)
  finetuned.pt reloaded.pt loaded, its real weights changed and saved again, as a fine-tuning run
               (--restore-file) leaves it: the fast-path copies still hold the weights as loaded (stale)
  ids.npy, features.npy, inner_states.npy, lm_logits.npy, cls_logits.npy: fairseq's own outputs
               for a padded batch, computed by the reloaded model; finetuned-*.npy the same computed by
               fairseq from finetuned.pt.

usage: python fairseq_writer.py OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np
import torch
from fairseq import checkpoint_utils, options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.trainer import Trainer

HEAD = "sentence_classification_head"


def build(out: Path):
    data = out / "data"
    data.mkdir(parents=True)
    # fairseq adds <s> <pad> </s> <unk> before these and masked_lm adds <mask> after: 4 + 50 + 1 symbols.
    (data / "dict.txt").write_text("".join(f"w{i} {1000 - i}\n" for i in range(50)))
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [
        str(data), "--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta_base",
        "--encoder-layers", "2", "--encoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64",
        "--encoder-attention-heads", "4", "--encoder-normalize-before",
        "--tokens-per-sample", "24", "--max-positions", "24", "--cpu", "--seed", "3",
        "--optimizer", "adam", "--lr", "0.0001", "--save-dir", str(out), "--no-progress-bar",
    ])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    model.register_classification_head(HEAD, num_classes=3)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias",
                              "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias")):
                continue  # the fast-path copies stay as fairseq made them
            noise = torch.randn(param.shape, generator=generator)
            if "layer_norm" in name or "layernorm" in name:
                param.copy_(1.0 + 0.3 * noise if name.endswith("weight") else 0.2 * noise)
            else:
                param.copy_(0.2 * noise if name.endswith("weight") else 0.1 * noise)
    save(Trainer(cfg, task, model, task.build_criterion(cfg.criterion)), out / "fresh.pt")


def save(trainer, file: Path):
    trainer.consolidate_optimizer()  # as checkpoint_utils.save_checkpoint does before saving
    trainer.save_checkpoint(str(file), {})


def reload_and_run(out: Path):
    # load_checkpoint_heads keeps the classification head (RobertaModel.from_pretrained sets it too)
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(out / "fresh.pt")], arg_overrides={"load_checkpoint_heads": True})
    model = models[0].eval()
    save(Trainer(cfg, task, model, task.build_criterion(cfg.criterion)), out / "reloaded.pt")
    # what a hand-written script leaves: load_checkpoint_to_cpu turns cfg into an OmegaConf object
    state = checkpoint_utils.load_checkpoint_to_cpu(str(out / "fresh.pt"))
    checkpoint_utils.torch_persistent_save(state, str(out / "resaved_by_hand.pt"))

    rng = np.random.default_rng(9)
    lengths, width = [11, 4, 17], 17
    ids = np.full((len(lengths), width), 1, dtype=np.int64)  # <pad> = 1
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(4, len(task.source_dictionary) - 1, size=n)
        ids[row, 0], ids[row, n - 1] = 0, 2  # <s> ... </s>
    np.save(out / "ids.npy", ids)
    dump_outputs(model, ids, out, "")
    fine_tune(out, cfg, task, model)


def fine_tune(out: Path, cfg, task, model):
    """What a run restored from reloaded.pt saves once training has moved the weights: the loaded
    copies are left as they were (fairseq only rewrites them at the next load)."""
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not name.endswith(("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias",
                                  "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias")):
                param.add_(0.05 * torch.randn(param.shape, generator=generator))
    save(Trainer(cfg, task, model, task.build_criterion(cfg.criterion)), out / "finetuned.pt")
    models, _, _ = checkpoint_utils.load_model_ensemble_and_task(
        [str(out / "finetuned.pt")], arg_overrides={"load_checkpoint_heads": True})
    dump_outputs(models[0].eval(), np.load(out / "ids.npy"), out, "finetuned-")


def dump_outputs(model, ids, out: Path, prefix: str):
    tokens = torch.from_numpy(ids)
    with torch.no_grad():
        features, extra = model(tokens, features_only=True, return_all_hiddens=True)
        lm_logits, _ = model(tokens)
        cls_logits, _ = model(tokens, features_only=True, classification_head_name=HEAD)
    np.save(out / (prefix + "features.npy"), features.numpy())
    # embedding output, then each layer's output (time-major in fairseq), before the final LayerNorm
    np.save(out / (prefix + "inner_states.npy"),
            np.stack([h.transpose(0, 1).numpy() for h in extra["inner_states"]]))
    np.save(out / (prefix + "lm_logits.npy"), lm_logits.numpy())
    np.save(out / (prefix + "cls_logits.npy"), cls_logits.numpy())


if __name__ == "__main__":
    out_dir = Path(sys.argv[1])
    build(out_dir)
    reload_and_run(out_dir)

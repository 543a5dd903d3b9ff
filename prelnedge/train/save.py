"""Write the trained model as prelnedge's default-model layout and the held-out evaluation files.

Layout (one shared encoder, so the folder stays small):
- `config.json` + `model.safetensors`: a plain HF RobertaPreLayerNorm checkpoint with the encoder,
  pooler, `lm_head` (masked and causal LM), `qa_outputs` and the sentiment `classifier`. Any HF class
  for those tasks loads it as it is.
- `token-classification.safetensors`, `multiple-choice.safetensors`: the two heads HF also calls
  `classifier`, each on its own; `task_heads.json` names them and the tag labels. prelnedge's
  loader swaps them in for those tasks (prelnedge.checkpoint.load); `export_task_folder` writes a
  complete HF folder for one task.
"""

from __future__ import annotations

import json
from pathlib import Path

from prelnedge.tasks import task_with_head
from prelnedge.train.data import TAGS

TASK_HEADS_FILE = "task_heads.json"


def _numpy(module, prefix: str) -> dict:
    return {f"{prefix}{k}": v.detach().contiguous().numpy() for k, v in module.state_dict().items()}


def save_model(out_dir: Path, model, raw_tok, cfg) -> None:
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    raw_tok.save(str(out_dir / "tokenizer.json"))
    raw_tok.model.save(str(out_dir))  # vocab.json + merges.txt for runtimes without `tokenizers`
    config = model.config
    config.save(out_dir)
    main = {**_numpy(model.roberta_prelayernorm, "roberta_prelayernorm."), **_numpy(model.lm_head, "lm_head."),
            **_numpy(model.qa_outputs, "qa_outputs."), **_numpy(model.classifier, "classifier.")}
    meta = {"format": "pt"}
    save_file(dict(sorted(main.items())), str(out_dir / "model.safetensors"), metadata=meta)
    tagging, choice = task_with_head("token").name, task_with_head("choice").name
    save_file(_numpy(model.token_classifier, "classifier."), str(out_dir / f"{tagging}.safetensors"), metadata=meta)
    save_file(_numpy(model.choice_classifier, "classifier."), str(out_dir / f"{choice}.safetensors"), metadata=meta)
    heads = {tagging: {"weights": f"{tagging}.safetensors", "id2label": {str(i): t for i, t in enumerate(TAGS)}},
             choice: {"weights": f"{choice}.safetensors"}}
    (out_dir / TASK_HEADS_FILE).write_text(json.dumps(heads, indent=2) + "\n", encoding="utf-8")
    (out_dir / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "RobertaTokenizer", "model_max_length": config.max_tokens,
         "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
         "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
         # transformers' RoBERTa tokenizers take this over tokenizer.json's own setting
         "add_prefix_space": cfg.prefix_space}, indent=2) + "\n")


def load_weights(model, folder: Path) -> None:
    """The reverse of save_model: a saved folder's weights into a MultiTaskModel of the same sizes."""
    from safetensors.numpy import load_file
    import torch

    state = {k: torch.from_numpy(v) for k, v in load_file(str(folder / "model.safetensors")).items()}
    for attribute, task in (("token_classifier", task_with_head("token").name),
                            ("choice_classifier", task_with_head("choice").name)):
        head = load_file(str(folder / f"{task}.safetensors"))
        state.update({f"{attribute}.{k.removeprefix('classifier.')}": torch.from_numpy(v) for k, v in head.items()})
    model.load_state_dict(state, strict=True)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def save_eval_sets(data_dir: Path, test) -> None:
    """The held-out split in the files `prelnedge report --eval` reads (see examples.py)."""
    from prelnedge.train.data import SENTIMENT_LABELS

    data_dir.mkdir(parents=True, exist_ok=True)
    for kind, rows in (  # head kind -> the held-out split in the task's JSONL form
            ("span", [{"question": e["question"], "context": e["context"], "answers": e["answers"]} for e in test.qa]),
            ("sequence", [{"text": e["text"], "label": SENTIMENT_LABELS[e["label"]]} for e in test.sentiment]),
            ("token", test.tagged), ("choice", test.choice)):
        _write_jsonl(data_dir / f"eval-{task_with_head(kind).name}.jsonl", rows)

"""Per-task head files beside an HF checkpoint (the embedded default model's layout).

Hugging Face names the sequence-classification, token-classification and multiple-choice heads all
`classifier`, and one config.json holds one id2label, so one checkpoint cannot carry all three. The
default model therefore ships the shared encoder and the sentiment head in `model.safetensors` and
the other two heads as their own files, named in `task_heads.json` by task name (token-classification
with its own labels, multiple-choice without):

    {TASK: {"weights": "TASK.safetensors", "id2label": {"0": "O", ...}}, ...}

For a task listed there, the loader replaces the checkpoint's `classifier.*` weights with the
file's and takes the labels from it. A folder without `task_heads.json` (any user checkpoint)
loads exactly as before.
"""

from __future__ import annotations

import json
from pathlib import Path

from prelnedge.config import PreLNConfig
from prelnedge.errors import CheckpointError
from prelnedge.tasks import Task

FILE_NAME = "task_heads.json"


def task_head_entry(path: Path, task: Task) -> dict | None:
    file = path / FILE_NAME
    if not file.exists():
        return None
    try:
        entry = json.loads(file.read_text(encoding="utf-8")).get(task.name)
    except (json.JSONDecodeError, AttributeError) as exc:
        raise CheckpointError(f"{file} is not a JSON object of task heads ({exc})") from None
    if entry is not None and not (path / str(entry.get("weights", ""))).is_file():
        raise CheckpointError(f"{file} names weights {entry.get('weights')!r} for {task.name}, which is missing")
    return entry


def apply_task_head(path: Path, task: Task, raw: dict, files: list[Path], config: PreLNConfig,
                    notes: list[str] | None = None) -> PreLNConfig:
    """Swap the task's own head into `raw` (its file into `files`, a line into `notes`); return the
    task's config."""
    from safetensors.numpy import load_file

    entry = task_head_entry(path, task)
    if entry is None:
        return config
    weights = path / entry["weights"]
    head = load_file(str(weights))
    prefixes = {key.split(".")[0] + "." for key in head}
    for key in [k for k in raw if k.startswith(tuple(prefixes))]:
        del raw[key]
    raw.update(head)
    files.append(weights)
    if notes is not None:
        notes.append(f"{task.name} head from {weights.name} (named in {FILE_NAME})")
    if "id2label" in entry:
        labels = entry["id2label"]
        config = config.replace(labels=tuple(labels[str(i)] for i in range(len(labels))))
    return config


def write_task_folder(path: Path, task: Task, out: Path) -> Path:
    """A plain HF folder for one task of a per-task-heads checkpoint (the task's `classifier` and
    labels in place), so transformers' own class for that task loads it: `config.json`,
    `model.safetensors` and the tokenizer files."""
    import shutil

    from safetensors.numpy import load_file, save_file

    raw = load_file(str(path / "model.safetensors"))
    config = apply_task_head(path, task, raw, [], PreLNConfig.from_json_file(path / "config.json"))
    out.mkdir(parents=True, exist_ok=True)
    config.replace(extra=tuple((k, v) for k, v in config.extra if k != "architectures")
                   + (("architectures", [task.hf_class]),)).save(out)
    save_file(dict(sorted(raw.items())), str(out / "model.safetensors"), metadata={"format": "pt"})
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
        if (path / name).exists():
            shutil.copy(path / name, out / name)
    return out

"""Keras-2 `tf_model.h5` (what Hugging Face's TF classes write with save_pretrained) -> HF names.

Layout of a Keras-2 weights file (keras `save_weights` in h5 format, which HF's TF
`save_pretrained` calls):
- the root carries `layer_names`: the model's top-level layers (`roberta_prelayernorm`, and the
  head: `lm_head`, `qa_outputs` or `classifier`);
- one group per top-level layer, whose `weight_names` attribute lists that layer's variables by
  their TF names, e.g. `tf_roberta_pre_layer_norm_for_question_answering/roberta_prelayernorm/
  encoder/layer_._0/attention/self/query/kernel:0`; each is a dataset at that path inside the group.
  A long list is split over `weight_names0`, `weight_names1`, ... (HDF5 caps attribute size).
- A layer that holds another layer lists its weights too: the LM head holds the (tied) embeddings.

The first path component is the model's own name (it changes with the head class) and is dropped,
as HF's loader does. The rest is mapped back through the weight table's TF spelling
(`prelnedge.checkpoint.params`): `layer_._N` -> `layer.N`, `kernel` -> `weight` transposed to (out, in),
`gamma`/`beta` -> LayerNorm `weight`/`bias`, `embeddings` -> `weight`. The result carries HF's
PyTorch names, so `checkpoint.py` checks it against the parameter table like any HF file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from prelnedge.errors import CheckpointError
from prelnedge.checkpoint.params import FRAMEWORK_LEAVES, Param

_TF_LAYER = re.compile(r"^layer_\._(\d+)$")
# HF's TF embeddings layer creates the word matrix as a bare `weight` (position and token-type
# matrices are `embeddings`); the weight table spells all three `embeddings`.
_WORD_EMBEDDINGS_LEAF = "word_embeddings/weight"


def read_tf_h5(file: Path) -> tuple[dict[str, np.ndarray], list[Path]]:
    """Read every weight of a Keras-2 h5 file under its HF PyTorch name (Linear weights (out, in))."""
    try:
        import h5py
    except ImportError:
        raise CheckpointError(f"reading {file} needs h5py; install it (pip install h5py)") from None
    state: dict[str, np.ndarray] = {}
    unknown: list[str] = []
    try:
        with h5py.File(file, "r") as f:
            layers = _string_list(f, "layer_names")
            if layers is None:
                raise CheckpointError(f"{file} has no 'layer_names' attribute; not a Keras-2 weights file "
                                      "(HF's TF save_pretrained writes one)")
            for layer in layers:
                group = f[layer]
                for weight_name in _string_list(group, "weight_names") or []:
                    tf_path = weight_name.split("/", 1)[-1].removesuffix(":0")
                    name, transpose = _hf_name(tf_path)
                    if name is None:
                        unknown.append(weight_name)
                        continue
                    value = np.asarray(group[weight_name])
                    _put(state, name, value.T if transpose else value, file)
    except (OSError, KeyError) as exc:
        raise CheckpointError(f"cannot read {file} as a Keras-2 h5 weights file: {exc}") from None
    if unknown:
        shown = ", ".join(unknown[:8]) + (f" ... ({len(unknown) - 8} more)" if len(unknown) > 8 else "")
        raise CheckpointError(f"{file} has weights the parameter table does not know: {shown}")
    return state, [file]


def _string_list(node, name: str) -> list[str] | None:
    """An attribute holding a list of names, joined from its numbered chunks when Keras split it."""
    if name in node.attrs:
        chunks = [node.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in node.attrs:
            chunks.append(node.attrs[f"{name}{len(chunks)}"])
        if not chunks:
            return None
    return [item.decode("utf8") if isinstance(item, bytes) else str(item)
            for chunk in chunks for item in np.atleast_1d(chunk)]


def _hf_name(tf_path: str) -> tuple[str | None, bool]:
    """TF path (without the model's name) -> (HF PyTorch name, transpose?); None if not in the table."""
    if tf_path.endswith(_WORD_EMBEDDINGS_LEAF):
        tf_path = tf_path[: -len("weight")] + FRAMEWORK_LEAVES["tf"]["embedding"]
    *modules, leaf = tf_path.split("/")
    torch_modules = []
    for part in modules:
        match = _TF_LAYER.match(part)
        torch_modules.extend(["layer", match.group(1)] if match else [part])
    kinds = [kind for kind, tf_leaf in FRAMEWORK_LEAVES["tf"].items() if tf_leaf == leaf]
    for kind in kinds:
        torch_leaf = {"dense": "weight", "ln_scale": "weight", "embedding": "weight"}.get(kind, "bias")
        # The table decides: the name must map back to this exact TF path under this kind.
        row = Param(".".join([*torch_modules, torch_leaf]), (), kind)
        if row.framework_path("tf") == tf_path and _kind_fits(kind, torch_modules):
            return row.key, kind == "dense"
    return None, False


def _kind_fits(kind: str, modules: list[str]) -> bool:
    """`bias` and `weight` leaves are ambiguous in TF spelling; the owning module says which kind."""
    last = modules[-1] if modules else ""
    is_norm = last in ("LayerNorm", "layer_norm")
    if kind in ("ln_scale", "ln_bias"):
        return is_norm
    if kind == "embedding":
        return last.endswith("_embeddings")
    if kind == "vector":
        return modules == ["lm_head"]
    return not is_norm and not last.endswith("_embeddings") and modules != ["lm_head"]


def _put(state: dict[str, np.ndarray], name: str, value: np.ndarray, file: Path) -> None:
    """A weight listed twice (the LM head's tied embeddings) must be the same array both times."""
    if name in state and (state[name].shape != value.shape or not np.array_equal(state[name], value)):
        raise CheckpointError(f"{file} holds two different values for {name} (a tied weight must be one array)")
    state[name] = value

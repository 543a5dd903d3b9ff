"""The causal LM as a cached decoder in ONNX: one graph for the prompt and for every generated token.

Inputs: input_ids (B, L), attention_mask (B, P+L) covering the cached and the current tokens, and per
layer past_key_values.{i}.key / .value (B, nh, P, hd); outputs: logits (B, L, V) and present.{i}.key /
.value (B, nh, P+L, hd). P = 0 (an empty cache) is the plain causal LM: every runtime that runs a
causal-lm export without a cache feeds empty tensors there (runtime/sessions.py, the web and Android
runtimes). The names are optimum's (prelnedge.tasks.cache_input_names).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prelnedge.checkpoint.load import LoadedCheckpoint
from prelnedge.export.onnx import EXAMPLE_SIZES, OPSET, exporter_chatter_silenced, save_program
from prelnedge.tasks import cache_input_names, cache_output_names

if TYPE_CHECKING:
    from prelnedge.export import ExportConfig

# The traced cache length: neither 0 nor 1 (torch.export specialises those) and not the example's L,
# so no relation between P and L can be baked in; P = 0 is validated after export.
EXAMPLE_PAST = 4


def export_onnx_decoder(checkpoint: LoadedCheckpoint, work: Path, cfg: ExportConfig) -> dict:
    """The causal LM's cached decoder (see the module docstring); no setting of cfg changes it."""
    import torch

    from prelnedge.models.torch import build_torch_model

    config, task = checkpoint.config, checkpoint.task
    model = build_torch_model(checkpoint)
    layers = config.num_hidden_layers
    past_names, present_names = cache_input_names(layers), cache_output_names(layers)

    class Decoder(torch.nn.Module):
        """Flat tensors in and out, in the order of the names given to the exporter."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, *flat_past):
            past = [(flat_past[2 * i], flat_past[2 * i + 1]) for i in range(layers)]
            out = self.model(input_ids, attention_mask, past=past)
            return (out["logits"], *(out[name] for name in present_names))

    batch, length = EXAMPLE_SIZES["B"], EXAMPLE_SIZES["L"]
    ids = torch.full((batch, length), 5, dtype=torch.int64)
    mask = torch.ones((batch, EXAMPLE_PAST + length), dtype=torch.int64)
    cache_shape = (batch, config.num_attention_heads, EXAMPLE_PAST, config.head_dim)
    past = tuple(torch.randn(cache_shape) for _ in past_names)
    auto = torch.export.Dim.AUTO  # the mask's length is P + L: let the exporter derive the relation
    cache_axes = {0: auto, 2: auto}
    dynamic = {"input_ids": {0: auto, 1: auto}, "attention_mask": {0: auto, 1: auto},
               "flat_past": (cache_axes,) * len(past_names)}
    with exporter_chatter_silenced():
        program = torch.onnx.export(
            Decoder().eval(), (ids, mask, *past), dynamo=True, opset_version=OPSET,
            input_names=["input_ids", "attention_mask", *past_names], output_names=["logits", *present_names],
            dynamic_shapes=dynamic, verbose=False)
    info = save_program(program, checkpoint, work)
    _name_axes(work / info["model_file"], past_names, present_names)
    info["cache"] = {"inputs": list(past_names), "outputs": list(present_names), "axes": ["B", "nh", "P", "hd"],
                     "heads": config.num_attention_heads, "head_dim": config.head_dim, "dtype": "float32",
                     "empty_past": "P = 0: the plain causal LM (prompt) call"}
    return info


def _name_axes(path: Path, past_names: tuple[str, ...], present_names: tuple[str, ...]) -> None:
    """The exporter names dynamic axes s21, s70, ...: give the boundary tensors readable names (optimum's),
    which tools reading the session's metadata show. Labels only: nothing is computed from them."""
    import onnx

    batch, new, total = "batch_size", "sequence_length", "total_sequence_length"
    axes = {"input_ids": (batch, new), "attention_mask": (batch, total), "logits": (batch, new, None),
            **{name: (batch, None, "past_sequence_length", None) for name in past_names},
            **{name: (batch, None, total, None) for name in present_names}}
    model = onnx.load(str(path), load_external_data=False)  # external tensors keep their location
    for value in [*model.graph.input, *model.graph.output]:
        for dim, label in zip(value.type.tensor_type.shape.dim, axes[value.name]):
            if label is not None:
                dim.dim_param = label
    onnx.save(model, str(path))

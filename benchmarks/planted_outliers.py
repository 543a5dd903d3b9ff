"""Outliers like those of trained transformers, planted into a random checkpoint, for `prelnedge tune`.

Trained encoders have a few hidden dimensions with activations tens to hundreds of times the rest
(large LayerNorm gains in those dimensions) and a few outsized weight columns. Random checkpoints
have neither, so every unit quantizes about equally well and there is nothing for a search to find.
Two plantings, each on a transformers model before it is saved:

- `plant_activation_outliers(model, layer, dims, gain)`: the LayerNorm in front of layer `layer`'s
  FFN gets gain x its weight and bias in `dims` hidden dimensions, and the FFN's first linear layer
  (ffn.in) gets the same input columns divided by gain. The float model computes exactly what it
  computed before (up to rounding), but ffn.in now reads activations `gain` times larger in those
  dimensions (int8 activation ranges are set by them: the other dimensions lose their resolution)
  through weight rows `gain` times smaller (per-tensor int8 and block int4 weights round them to 0).
  Quantizing that one unit wrecks the output; every other unit is as before.
- `plant_weight_columns(model, layer, dims, scale)`: layer `layer`'s attention output projection
  (attn.out) writes `dims` residual dimensions `scale` times larger (its weight rows and bias for those
  output features): the outsized weight columns of a per-tensor int8 table, and massive residual
  dimensions downstream. This one changes the float model (it is the model then).
"""

from __future__ import annotations

import torch


def _encoder_layer(model, layer: int):
    base = getattr(model, model.base_model_prefix)
    return base.encoder.layer[layer]


def plant_activation_outliers(model, layer: int, dims: tuple[int, ...], gain: float) -> None:
    block = _encoder_layer(model, layer)
    norm, dense = block.intermediate.LayerNorm, block.intermediate.dense  # pre-LN: LayerNorm -> ffn.in
    index = torch.tensor(dims)
    with torch.no_grad():
        norm.weight[index] *= gain
        norm.bias[index] *= gain
        dense.weight[:, index] /= gain  # torch Linear weight is (out, in): columns are input features


def plant_weight_columns(model, layer: int, dims: tuple[int, ...], scale: float) -> None:
    dense = _encoder_layer(model, layer).attention.output.dense
    index = torch.tensor(dims)
    with torch.no_grad():
        dense.weight[index, :] *= scale
        dense.bias[index] *= scale

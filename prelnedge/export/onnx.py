"""PyTorch reference -> ONNX through torch.onnx's dynamo exporter.

The legacy TorchScript exporter froze the padding-mask logic into a constant for a pre-LN model
(measured with torch 2.13: max diff 0.17 at the traced length), so only `dynamo=True` is used, and every
export is validated afterwards at lengths other than the traced one.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from prelnedge.checkpoint.load import LoadedCheckpoint

if TYPE_CHECKING:
    from prelnedge.export import ExportConfig

# Opset 20 has a Gelu op: torch.onnx writes F.gelu as one Gelu node there, where opset 18 spells the exact
# GELU as Div, Erf, Add, Mul, Mul, which ONNX Runtime 1.32 did not fuse back (profile, issue 13: Erf, Div
# and Mul were 15 % of an int8-dynamic base-size call). Measured at base size, b1 s128, CPU time per
# call in one interleaved run: int8-dynamic 63 -> 51 ms. ORT runs Gelu-20 on CPU and wasm.
OPSET = 20
EXTERNAL_DATA_BYTES = 2 * 2**30  # protobuf's hard limit for one file
# The example the exporter traces, per registry axis: sizes that are neither 1 nor the validation
# shapes, so nothing shape-specific can hide in the graph; every axis is dynamic.
EXAMPLE_SIZES = {"B": 2, "C": 3, "L": 7}
DIM_NAMES = {"B": "batch", "C": "choices", "L": "sequence"}


def export_onnx(checkpoint: LoadedCheckpoint, work: Path, cfg: ExportConfig) -> dict:
    """The encoder tasks' graph (inputs ids and mask); the causal LM's cached decoder is
    prelnedge.export.onnx_decoder's (prelnedge.export picks by task). No setting of cfg changes it."""
    import torch

    from prelnedge.models.torch import build_torch_model

    task = checkpoint.task
    model = build_torch_model(checkpoint)

    class Wrapped(torch.nn.Module):
        """Outputs as a tuple in registry order, so ONNX output names are the registry's."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            out = self.model(input_ids, attention_mask)
            return tuple(out[name] for name in task.output_names)

    input_axes = task.inputs[0].axes  # e.g. ("B", "L"), or ("B", "C", "L") for choices
    example_shape = tuple(EXAMPLE_SIZES[axis] for axis in input_axes)
    ids = torch.full(example_shape, 5, dtype=torch.int64)
    mask = torch.ones(example_shape, dtype=torch.int64)
    limits = {"L": checkpoint.config.max_tokens}  # other axes are unbounded
    axes = {i: torch.export.Dim(DIM_NAMES[axis], max=limits.get(axis)) for i, axis in enumerate(input_axes)}
    with exporter_chatter_silenced():
        program = torch.onnx.export(
            Wrapped().eval(), (ids, mask), dynamo=True, opset_version=OPSET,
            input_names=list(task.input_names), output_names=list(task.output_names),
            dynamic_shapes={"input_ids": axes, "attention_mask": axes}, verbose=False)
    return save_program(program, checkpoint, work)


def save_program(program, checkpoint: LoadedCheckpoint, work: Path) -> dict:
    """Write the exported program as model.onnx (external data past protobuf's limit); the export record."""
    _drop_source_paths(program.model)
    params_bytes = sum(v.nbytes for v in checkpoint.state.values())
    external = params_bytes >= EXTERNAL_DATA_BYTES * 0.9
    program.save(str(work / "model.onnx"), external_data=external)
    return {"model_file": "model.onnx", "opset": OPSET, "external_data": external,
            "input_dtype": "int64", "exporter": "torch.onnx.export(dynamo=True)",
            "optimizations": {f"opset {OPSET}": "exact GELU exported as one Gelu op (not Erf arithmetic)"}}


def _drop_source_paths(model) -> None:
    """The exporter records each node's Python stack trace, with the absolute paths of the source
    files that traced it: the same checkpoint would give other bytes on another machine or install
    (a Ray worker's), and a shipped model would carry the builder's folder names."""
    import onnx_ir as ir

    for node in ir.traversal.RecursiveGraphIterator(model.graph):
        node.metadata_props.pop("pkg.torch.onnx.stack_trace", None)
    for function in model.functions.values():
        for node in ir.traversal.RecursiveGraphIterator(function):
            node.metadata_props.pop("pkg.torch.onnx.stack_trace", None)


@contextmanager
def exporter_chatter_silenced() -> Iterator[None]:
    """For the export call only: the exporter's notes say nothing about our model (the validation
    stage that follows is what tells the user whether the export is right), and nothing else's
    warnings or log lines are hidden. Measured with torch 2.13: "torchvision is not installed.
    Skipping torchvision::nms" (log warnings of torch.onnx's op registry), "The axis name: batch will
    not be used, since it shares the same shape constraints with another axis" (UserWarning), and a
    treespec FutureWarning raised from inside torch.export."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx\.")
            warnings.filterwarnings("ignore", category=FutureWarning, message=r".*\btreespec\b")
            yield
    finally:
        logger.setLevel(level)

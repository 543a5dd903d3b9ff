"""The reference models: one file per framework (torch.py, tf.py, flax.py, mirroring each other's
names and Hugging Face's parameter paths) and the loader that
turns a checkpoint into a float reference (reference.py)."""

# THE framework registry: framework -> module exposing build_forward(checkpoint) -> forward(input_ids,
# attention_mask, output_hidden_states). Module names only, so reading it imports no framework.
FRAMEWORK_MODULES = {
    "torch": "prelnedge.models.torch",
    "tf": "prelnedge.models.tf",
    "flax": "prelnedge.models.flax",
}
FRAMEWORKS = tuple(FRAMEWORK_MODULES)
DEFAULT_REFERENCE = "torch"  # the reference without an export: transformers' own framework


def build_forward(framework: str, checkpoint):
    """`framework`'s float reference for a loaded checkpoint as a numpy callable
    forward(input_ids, attention_mask, output_hidden_states) -> {output name: array}. Imports the
    framework now."""
    import importlib

    return importlib.import_module(FRAMEWORK_MODULES[framework]).build_forward(checkpoint)

"""The decoder `prelnedge generate` runs for a loaded causal LM. It sits in models/ because the PyTorch
reference's cached step is model code; the decoders themselves are the runtime's (prelnedge.runtime.generate)."""

from __future__ import annotations

from prelnedge.runtime.generate import CachedDecoder, Decoder, RecomputeDecoder, cached_step_of


def decoder_for(model) -> Decoder:
    """The decoder for a loaded causal LM: an exported folder (runtime.sessions.ExportedModel) whose session
    has a key/value cache, or the PyTorch float reference (models.reference.ReferenceModel), decode with the
    cache; anything else (TFLite, the TF or Flax reference) recomputes the whole sequence per token."""
    step = cached_step_of(getattr(model, "session", None))
    if step is not None:
        return CachedDecoder(step)
    if getattr(model, "framework", None) == "torch":
        from prelnedge.models.torch import build_cached_step  # torch only when the reference is torch's

        return CachedDecoder(build_cached_step(model.checkpoint))
    return RecomputeDecoder(model)

"""`torch.load` for files a user hands us: never executes pickled code, and says in one line why a file
cannot be read.

torch's own message for a refused file is several lines that end by suggesting `weights_only=False`,
which would let an untrusted file run code: we keep only the reason (a bad opcode, a truncated archive,
an object type that is not plain tensors) and never repeat that advice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prelnedge.errors import CheckpointError


def torch_load(file: Path, what: str, allowed: tuple[type, ...] = ()) -> Any:
    """Load `file` with `weights_only=True` (plus the `allowed` plain types); CheckpointError otherwise."""
    import torch

    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
        raise CheckpointError(f"cannot read {file} as {what}: {load_failure_reason(exc)}") from None


def load_failure_reason(exc: BaseException) -> str:
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1]
        first = next((line.strip() for line in detail.splitlines() if line.strip()), "")
        if first.startswith("Unsupported global:"):
            name = first.split("GLOBAL", 1)[-1].split()[0] if "GLOBAL" in first else first
            return (f"it holds a pickled {name} object, which prelnedge does not unpickle (unpickling can run "
                    "code); save a plain state dict of tensors")
        return f"not a PyTorch tensor file (unpickling stopped: {first.rstrip('.')})"
    if isinstance(exc, EOFError) or "Ran out of input" in text:
        return "the file is empty or cut short"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    if "zip archive" in first or "central directory" in first:
        return f"not a PyTorch file, or a damaged one ({first})"
    return first

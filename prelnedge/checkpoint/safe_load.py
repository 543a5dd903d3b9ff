"""`torch.load` for files a user hands us: never executes pickled code, and says in one line why a file
cannot be read.

torch's own message for a refused file is several lines that end by suggesting `weights_only=False`,
which would let an untrusted file run code: we keep only the reason (a bad opcode, a truncated archive,
an object type that is not plain tensors) and never repeat that advice.
"""

from __future__ import annotations

import re
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


# Lines of torch's message that are advice (re-run with weights_only=False, allow-list the global),
# not the reason: torch rewords them between versions, so they are recognised by these fragments.
_ADVICE = ("weights_only", "Weights only load failed", "trusted source", "trust the source", "documentation of torch.load",
           "pytorch.org", "add_safe_globals", "safe_globals(", "file an issue", "recommended steps")
_GLOBAL = re.compile(r"GLOBAL\s+([\w.]+)")


def load_failure_reason(exc: BaseException) -> str:
    """Why torch refused the file, in words that never suggest loading it unsafely."""
    text = str(exc)
    named = _GLOBAL.search(text)
    if named:
        return (f"it asks the unpickler to load {named.group(1)} (unpickling a file's functions or classes can "
                "run code), which prelnedge never does; save a plain state dict of tensors")
    reasons = [line.strip().removeprefix("WeightsUnpickler error:").strip() for line in text.splitlines()]
    reasons = [line for line in reasons if line and not any(fragment in line for fragment in _ADVICE)]
    if "WeightsUnpickler error" in text or "Unsupported operand" in text:
        return f"not a PyTorch tensor file (unpickling stopped: {(reasons or ['unreadable data'])[0].rstrip('.')})"
    if isinstance(exc, EOFError) or "Ran out of input" in text:
        return "the file is empty or cut short"
    first = reasons[0] if reasons else type(exc).__name__
    if "zip archive" in first or "central directory" in first:
        return f"not a PyTorch file, or a damaged one ({first})"
    return first

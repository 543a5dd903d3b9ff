"""Park a loaded checkpoint's weights on disk while a converter runs, and read them back afterwards.

Why (issue 13): the TFLite converter's peak (its MLIR module, the flatbuffer and the result each hold
every weight) came on top of the checkpoint's own float32 copy, which the export stage keeps for the
float reference it builds after the conversion. At base size that copy is 0.47 GiB of a 4.3 GiB peak.
"""

from __future__ import annotations

import gc
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from prelnedge.checkpoint.load import LoadedCheckpoint


@contextmanager
def weights_parked(checkpoint: LoadedCheckpoint, folder: Path) -> Iterator[None]:
    """Inside the block checkpoint.state is empty; afterwards (also after an error) it holds the same
    arrays, bit for bit and in the same order, read back from `folder` (created, then removed)."""
    state = checkpoint.state
    names = list(state)
    folder.mkdir()
    try:
        for i, name in enumerate(names):
            np.save(folder / f"{i}.npy", state[name], allow_pickle=False)
            del state[name]  # only once it is on disk
        gc.collect()
        yield
    finally:
        kept = dict(state)
        state.clear()
        for i, name in enumerate(names):
            state[name] = kept[name] if name in kept else np.load(folder / f"{i}.npy", allow_pickle=False)
        shutil.rmtree(folder, ignore_errors=True)

"""sha256 of files, streamed (checkpoints can be several GB)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_files(files: list[Path]) -> str:
    """One digest over the files' names and bytes, in the order given."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(Path(file).name.encode())
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def sha256_file(file: Path) -> str:
    """The plain content digest, as `sha256sum` prints it."""
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

"""ONNX Runtime session options for timing several sessions in one process (issue 13): a fixed number
of intra-op threads, one inter-op thread, and thread spinning off (a session timed right after another
one that spins looks up to 1.7x slower). The options live in prelnedge.timing, the timing module that
`prelnedge report` and every script here share; this name stays for the scripts that import it."""

from __future__ import annotations

from prelnedge.timing import ort_session_options as fair_session_options

__all__ = ["fair_session_options"]

"""ONNX Runtime session options for timing several sessions in one process (issue 13): a fixed number
of intra-op threads, one inter-op thread, and thread spinning off (a session timed right after another
one that spins looks up to 1.7x slower)."""

from __future__ import annotations


def fair_session_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options

"""Quantization-accuracy reports: one cell per quantization mode (build.py) and its Markdown,
plots and CI gate (render.py)."""

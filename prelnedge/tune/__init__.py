"""Accuracy-aware quantization: per-unit sensitivity, mixed-precision search under a budget.

- `candidate.py`: THE evaluation of one candidate (export, recipe, evaluation data, settings) -> its
  figures; a pure top-level function with a content-hash key, so an executor can cache, resume and
  spread candidates (the search never evaluates anything itself).
- `budget.py`: the one budget a run keeps (`--min-sqnr` or `--max-drop`), checked before any work.
- `search.py`: sensitivity ranking and the greedy revert with a step back, over an `evaluate` callback.
- `dispatch.py`: candidates as executor cells (prelnedge.executor: in this process or on Ray), the
  cache on the driver; the ranking's independent reverts go out as one batch.
- `run.py`: the driver (`prelnedge tune`): refusals, the search, validation of the kept model, OUT.
- `render.py`: tune.md, tune.html and the plots.
"""

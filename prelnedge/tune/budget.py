"""The one budget a tune run keeps, checked before any work.

`--min-sqnr DB`: every output's SQNR against the float model, over the search examples, at least DB
(no labels needed). `--max-drop X`: the task metric (exact match, accuracy, ...) on labelled examples
at most X under the float model's (absolute, as NNCF's `drop_type` ABSOLUTE).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from prelnedge.errors import UserError
from prelnedge.tasks import Task

MIN_SQNR = "min-sqnr"
MIN_GAIN_DB = 0.1  # a greedy step must gain more than this (Budget.improves)
MAX_DROP = "max-drop"


@dataclass(frozen=True)
class Budget:
    kind: str  # MIN_SQNR or MAX_DROP
    value: float
    metric: str | None = None  # MAX_DROP: the task metric it bounds
    # the mode's own floors (prelnedge.verify.tolerances), which the kept model must also clear: its folder
    # is validated against them, so a candidate under them meets nothing (a weak --min-sqnr for int4 found
    # a 12 dB recipe whose span agreement, 0.35, was under int4's 0.4 floor)
    floor_sqnr_db: float = float("-inf")
    floor_agreement: float = 0.0

    def __post_init__(self) -> None:
        if self.kind == MIN_SQNR and not 0 < self.value < 200:
            raise UserError(f"--min-sqnr must be a number of dB above 0 and under 200 (a float model's own "
                            f"summation noise sits near 130 dB); got {self.value:g}")
        if self.kind == MAX_DROP and not 0 <= self.value < 1:
            raise UserError(f"--max-drop is an absolute drop of a metric in [0, 1], from 0 up to under 1; "
                            f"got {self.value:g}")
        if self.kind not in (MIN_SQNR, MAX_DROP):
            raise UserError(f"unknown budget {self.kind!r}; use --min-sqnr DB or --max-drop X")

    def check_task(self, task: Task) -> "Budget":
        """The budget with its metric resolved; refused when the task has no such metric."""
        if self.kind == MIN_SQNR:
            if self.metric is not None:
                raise UserError("--metric goes with --max-drop; --min-sqnr needs no metric")
            return self
        metrics = task.judged.metric
        if not metrics:
            raise UserError(f"task {task.name} has no labelled metric for --max-drop; use --min-sqnr DB")
        metric = self.metric or metrics[0]
        if metric not in metrics:
            raise UserError(f"task {task.name} has no metric {metric!r}; its metrics: {', '.join(metrics)}")
        return dataclasses.replace(self, metric=metric)

    def with_floors(self, tolerance) -> "Budget":
        """The budget that also asks for a mode's floors (a prelnedge.verify.tolerances.Tolerance)."""
        return dataclasses.replace(self, floor_sqnr_db=tolerance.min_sqnr_db, floor_agreement=tolerance.min_agreement)

    def clears_floors(self, figures: dict) -> bool:
        return (figures["min_sqnr_db"] >= self.floor_sqnr_db
                and all(value >= self.floor_agreement for value in figures["agreement"].values()))

    def meets(self, figures: dict, float_figures: dict) -> bool:
        if not self.clears_floors(figures):
            return False
        if self.kind == MIN_SQNR:
            return figures["min_sqnr_db"] >= self.value
        return figures.get("metric") is not None and self.drop(figures, float_figures) <= self.value + 1e-12

    def drop(self, figures: dict, float_figures: dict) -> float:
        return float(float_figures["metric"] - figures["metric"])

    def score(self, figures: dict) -> tuple[float, float]:
        """Higher is better: the budget's own number first, SQNR to break ties (a metric on a few
        hundred items often ties)."""
        if self.kind == MIN_SQNR:
            return (figures["min_sqnr_db"], 0.0)
        return (figures.get("metric") or 0.0, figures["min_sqnr_db"])

    def improves(self, new: dict, old: dict) -> bool:
        """A greedy step is kept only for a real gain: SQNR up by more than MIN_GAIN_DB, or (max-drop) the metric
        up, or the metric equal and SQNR up by more than MIN_GAIN_DB. Without it, hundredths of a dB (noise of
        the evaluation set) bought float units: 14 of 39 units on the hidden-512 TFLite proof for +0.1 dB."""
        (a, b), (c, d) = self.score(new), self.score(old)
        if self.kind == MIN_SQNR:
            return a > c + MIN_GAIN_DB
        return a > c + 1e-12 or (abs(a - c) <= 1e-12 and b > d + MIN_GAIN_DB)

    def describe(self) -> str:
        if self.kind == MIN_SQNR:
            return f"SQNR >= {self.value:g} dB on every output"
        return f"{self.metric} drop <= {self.value:g} vs float"

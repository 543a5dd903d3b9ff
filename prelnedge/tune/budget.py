"""The one budget a tune run keeps, checked before any work.

`--min-sqnr DB`: every output's SQNR against the float model, over the search examples, at least DB
(no labels needed). `--max-drop X`: the task metric (exact match, accuracy, ...) on labelled examples
at most X under the float model's (absolute, as NNCF's `drop_type` ABSOLUTE).
"""

from __future__ import annotations

from dataclasses import dataclass

from prelnedge.errors import UserError
from prelnedge.tasks import Task

MIN_SQNR = "min-sqnr"
MAX_DROP = "max-drop"


@dataclass(frozen=True)
class Budget:
    kind: str  # MIN_SQNR or MAX_DROP
    value: float
    metric: str | None = None  # MAX_DROP: the task metric it bounds

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
        return Budget(self.kind, self.value, metric)

    def meets(self, figures: dict, float_figures: dict) -> bool:
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

    def describe(self) -> str:
        if self.kind == MIN_SQNR:
            return f"SQNR >= {self.value:g} dB on every output"
        return f"{self.metric} drop <= {self.value:g} vs float"

"""The accuracy-budget search over mixed-precision recipes. It never evaluates anything itself: it
asks `evaluate(recipe, data)` for figures (prelnedge.tune.candidate, through the driver's cache),
so the candidates it asks for can be cached, resumed and run by any executor.

The method follows OpenVINO NNCF's accuracy control, because it spends evaluations where they
matter and needs no gradients: quantize everything; if the budget is missed, rank the units by how
much reverting each ALONE restores the budget's number on the items the quantized model gets most
wrong (a ranking subset; the unit that wrecks the output restores the most); then revert units in
that order, one more per step, each step judged on the whole search set, and step back (drop the
unit again) when a step made things worse or gained no more than 0.1 dB (Budget.improves); stop
when the budget holds. Two additions: for int4 the fallback is a ladder (int4 -> int8 for every unit
in turn, then -> float), and once the budget holds each earlier revert is tried away again, latest
first, so the kept recipe holds no unit it does not need. Of every candidate judged on the whole search set, the smallest that meets the budget is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from prelnedge.quantize.recipe import Recipe
from prelnedge.quantize.units import Unit
from prelnedge.tune.budget import Budget

Evaluate = Callable[[Recipe | None, str], dict]  # (recipe or None for float, "search" | "ranking") -> figures
# [(recipe, set name), ...] -> (index, figures) per request, in any order (as an executor finishes them)
EvaluateMany = Callable[[list[tuple[Recipe | None, str]]], Iterable[tuple[int, dict]]]


@dataclass
class SearchResult:
    float_figures: dict
    plain: dict
    sensitivity: list[dict] = field(default_factory=list)
    trace: list[dict] = field(default_factory=list)  # every candidate judged on the search set, in order
    chosen: dict | None = None  # the trace entry kept

    def frontier(self) -> list[dict]:
        """Trace entries no other entry beats in both size and the budget's number."""
        entries = sorted(self.trace, key=lambda e: (e["size_bytes"], -e["score"][0], -e["score"][1]))
        best, kept = None, []
        for entry in entries:
            if best is None or tuple(entry["score"]) > best:
                kept.append(entry)
                best = tuple(entry["score"])
        return kept

    def best(self) -> dict:
        return max(self.trace, key=lambda e: tuple(e["score"]))


def search(units: list[Unit], base: Recipe, budget: Budget, evaluate: Evaluate, *,
           max_candidates: int = 200, on_step: Callable[[dict], None] = lambda entry: None,
           confirm: Callable[[Recipe], str] = lambda recipe: "",
           evaluate_many: EvaluateMany | None = None) -> SearchResult:
    """confirm(recipe): "" when a candidate that meets the budget also passes what its folder will be
    validated by (the quantize stage's own examples and the mode's floors), else why not.
    evaluate_many: the independent evaluations (the ranking's, each unit reverted alone) as one batch,
    so that an executor can run them side by side; default: `evaluate` one by one."""
    evaluate_many = evaluate_many or (lambda requests: ((i, evaluate(*r)) for i, r in enumerate(requests)))
    float_figures = evaluate(None, "search")
    result = SearchResult(float_figures, {})

    def judge(recipe: Recipe, step: str, unit: str | None = None) -> dict:
        figures = evaluate(recipe, "search")
        meets = budget.meets(figures, float_figures)
        refused = confirm(recipe) if meets else ""
        entry = {"candidate": len(result.trace), "step": step, "unit": unit, "recipe": recipe.to_json(),
                 "kept_units": [name for name, _ in recipe.overrides],
                 "size_bytes": figures["size_bytes"], "min_sqnr_db": figures["min_sqnr_db"],
                 "metric": figures.get("metric"), "score": list(budget.score(figures)),
                 "meets": meets and not refused, "seconds": figures["seconds"],
                 "cached": figures.get("cached", False)}
        if refused:
            entry["refused"] = refused
        result.trace.append(entry)
        on_step(entry)
        return entry

    plain = judge(base, "plain")
    result.plain = plain
    current = (base, plain)
    for precision in base.precisions[1:]:
        if current[1]["meets"] or len(result.trace) >= max_candidates:
            break
        order = _rank(units, current[0], precision, budget, evaluate, evaluate_many, result, on_step)
        for unit in order:
            if len(result.trace) >= max_candidates:
                break
            recipe = current[0].with_unit(unit, precision)
            if recipe == current[0]:
                continue
            entry = judge(recipe, f"revert to {precision}", unit)
            if entry["meets"] or budget.improves(figures_of(entry), figures_of(current[1])):
                current = (recipe, entry)
                if entry["meets"]:
                    break
            else:
                entry["step"] += " (stepped back: worse)"
    if current[1]["meets"]:
        current = _prune(current, budget, judge, max_candidates, result)
    meeting = [entry for entry in result.trace if entry["meets"]]
    result.chosen = min(meeting, key=lambda e: (e["size_bytes"], -e["score"][0])) if meeting else None
    return result


def figures_of(entry: dict) -> dict:
    """The figures Budget.score reads, from a trace entry."""
    return {"min_sqnr_db": entry["min_sqnr_db"], "metric": entry["metric"]}


def _rank(units: list[Unit], recipe: Recipe, precision: str, budget: Budget, evaluate: Evaluate,
          evaluate_many: EvaluateMany, result: SearchResult, on_step) -> list[str]:
    """Units by how much reverting each alone (to `precision`) restores the budget's number on the
    ranking subset; records one sensitivity row per unit. The reverts are independent of each other:
    asked for as one batch, rows recorded as they come back, ordered by unit afterwards (so ties
    rank the same whatever order they finished in)."""
    start = evaluate(recipe, "ranking")
    todo = [unit for unit in units if not _wider(recipe.precision(unit.name), precision, recipe)]
    found: dict[int, dict] = {}
    for index, figures in evaluate_many([(recipe.with_unit(unit.name, precision), "ranking") for unit in todo]):
        unit = todo[index]
        score, base = budget.score(figures), budget.score(start)
        row = {"unit": unit.name, "precision": precision, "op": unit.op, "weights": unit.weights,
               "gain": [score[0] - base[0], score[1] - base[1]], "min_sqnr_db": figures["min_sqnr_db"],
               "sqnr_gain_db": figures["min_sqnr_db"] - start["min_sqnr_db"], "metric": figures.get("metric"),
               "extra_bytes": figures["size_bytes"] - start["size_bytes"], "seconds": figures["seconds"],
               "cached": figures.get("cached", False)}
        found[index] = row
        on_step({"step": "sensitivity", **row})
    rows = [found[index] for index in sorted(found)]
    rows.sort(key=lambda row: (-row["gain"][0], -row["gain"][1], row["extra_bytes"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    result.sensitivity.extend(rows)
    return [row["unit"] for row in rows]


def _wider(have: str, want: str, recipe: Recipe) -> bool:
    """The unit already holds `want` or more bits."""
    return recipe.precisions.index(have) >= recipe.precisions.index(want)


def _prune(current, budget: Budget, judge, max_candidates: int, result: SearchResult):
    """Try each kept unit back at the mode's own precision, latest first (the last one made the budget
    hold, so it stays); leave it out when the budget still holds."""
    recipe, entry = current
    added: list[str] = []
    for step in result.trace:
        if step["unit"] and step["unit"] in dict(recipe.overrides) and step["unit"] not in added:
            added.append(step["unit"])
    for unit in reversed(added[:-1]):
        if len(result.trace) >= max_candidates:
            break
        narrower = recipe.with_unit(unit, recipe.default)
        trial = judge(narrower, f"prune (back to {recipe.default})", unit)
        if trial["meets"]:
            recipe, entry = narrower, trial
    return recipe, entry

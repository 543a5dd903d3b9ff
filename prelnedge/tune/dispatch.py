"""Candidates as executor cells: the driver's side of evaluation (the cache, then the executor) and the
cell each evaluation runs as, here or on a Ray worker.

The cell's inputs are what `Candidate.key` hashes, in a form that travels: the export folder as a
Path (the executor ships it through the object store; no shared filesystem), the recipe as JSON, the
examples as plain dicts and the settings; the calibration file and the moved source checkpoint are
shipped the same way when a candidate needs them. The cache stays on the driver: a cached candidate
is never dispatched, and the figures a worker returns are stored under the key the driver computed.
"""

from __future__ import annotations

import dataclasses
import itertools
from contextlib import closing
from pathlib import Path
from typing import Iterable, Iterator

from prelnedge.errors import UserError, ValidationError
from prelnedge.quantize.compose import composable
from prelnedge.tune.candidate import Candidate, CandidateCache, EvalSet, Settings, evaluate_candidate

CANDIDATE_CELL = "prelnedge.tune.dispatch:candidate_cell"
QUANTIZER_WRITTEN = ("held-out",)  # evaluation sets never judged on composed models


def candidate_cell(out: Path, *, export: Path, export_sha256: str, recipe: dict | None, data: str,
                   examples: list[dict], settings: dict, calibration: Path | None = None,
                   checkpoint: Path | None = None, composed: bool = False) -> dict:
    """One candidate's figures (prelnedge.tune.candidate.evaluate_candidate), wherever it runs. Writes
    no artifact: the figures are the result."""
    from prelnedge.quantize.recipe import Recipe

    local = Settings(**{**settings, "calibration": str(calibration) if calibration else None,
                        "checkpoint": str(checkpoint) if checkpoint else None})
    candidate = Candidate(str(export), export_sha256, Recipe.from_json(recipe) if recipe else None,
                          EvalSet(data, tuple(_example(row) for row in examples)), local, composed)
    return evaluate_candidate(candidate)


def _example(row: dict):
    """An Example back from its JSON (lists to the tuples it holds, so that it hashes)."""
    from prelnedge.examples import Example

    return Example(**{**row, "choices": tuple(row.get("choices", ())), "answers": tuple(row.get("answers", ())),
                      "entities": tuple(tuple(span) for span in row.get("entities", ()))})


class Evaluator:
    """Figures for (recipe, evaluation set) requests: from the cache, else from the executor's cells,
    streamed back as they finish. Counts what was evaluated and what was served from the cache."""

    def __init__(self, executor, cache: CandidateCache, export: Path, export_sha256: str, settings: Settings,
                 scratch: Path, checkpoint: Path | None = None) -> None:
        self.executor, self.cache, self.scratch = executor, cache, scratch
        self.export, self.export_sha256, self.settings = Path(export), export_sha256, settings
        self.checkpoint = checkpoint  # TFLite: the source checkpoint, shipped to where candidates run
        self.counts = {"evaluated": 0, "cached": 0}
        self._names = itertools.count()

    def candidate(self, recipe, data: EvalSet) -> Candidate:
        """Search sets are judged on composed models (prelnedge.quantize.compose: the same numbers,
        one quantizer run per precision instead of one per candidate); the held-out figures that
        tune.json reports are measured on models the quantizer itself wrote."""
        composed = composable(recipe) and data.name not in QUANTIZER_WRITTEN
        return Candidate(str(self.export), self.export_sha256, recipe, data, self.settings, composed)

    def one(self, recipe, data: EvalSet) -> dict:
        return dict(self.many([(recipe, data)]))[0]

    def many(self, requests: Iterable[tuple]) -> Iterator[tuple[int, dict]]:
        """(index into requests, figures) for each request, cached ones first, the others as their
        cells finish (in any order). Requests with the same key are evaluated once."""
        waiting: dict[str, list[int]] = {}
        cells = []
        for index, (recipe, data) in enumerate(requests):
            candidate = self.candidate(recipe, data)
            figures = self.cache.get(candidate.key)
            if figures is not None:
                self.counts["cached"] += 1
                yield index, {**figures, "cached": True}
            elif candidate.key in waiting:
                waiting[candidate.key].append(index)
            else:
                waiting[candidate.key] = [index]
                cells.append((self._cell(candidate), candidate.key))
        if not cells:
            return
        keys = {cell.name: key for cell, key in cells}
        # closing: a failed candidate ends the run, and the executor cancels what is still running
        with closing(self.executor.run([cell for cell, _ in cells], into=self.scratch)) as outcomes:
            for outcome in outcomes:
                key = keys[outcome.name]
                what = f"candidate {outcome.name} on {self.executor.description}"
                if outcome.status == "refused":
                    raise UserError(f"{what} was refused: {outcome.reason}")
                if outcome.status != "ok":
                    raise ValidationError(f"{what} failed after {outcome.attempts} attempt(s): {outcome.reason}")
                if outcome.figures.get("key") != key:  # the inputs did not travel intact: never cache that
                    raise ValidationError(f"{what} came back with key {outcome.figures.get('key')}, not {key}")
                self.cache.put(key, outcome.figures)
                self.counts["evaluated"] += 1
                for index in waiting[key]:
                    yield index, outcome.figures

    def _cell(self, candidate: Candidate):
        from prelnedge.executor import Cell

        recipe = candidate.recipe.to_json() if candidate.recipe else None
        calibration = Path(self.settings.calibration) if self.settings.calibration else None
        needs_checkpoint = candidate.recipe is not None and candidate.recipe.target == "tflite"
        name = f"{candidate.data.name} {recipe['mode'] if recipe else 'float'} #{next(self._names)}"
        units = ", ".join(f"{unit} {precision}" for unit, precision in (recipe or {}).get("units", {}).items())
        return Cell.make(CANDIDATE_CELL, name + (f" ({units})" if units else ""), export=self.export,
                         export_sha256=self.export_sha256, recipe=recipe, data=candidate.data.name,
                         examples=[dataclasses.asdict(example) for example in candidate.data.examples],
                         settings=dataclasses.asdict(self.settings) | {"calibration": None, "checkpoint": None},
                         calibration=calibration, checkpoint=self.checkpoint if needs_checkpoint else None,
                         composed=candidate.composed)

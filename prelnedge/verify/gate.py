"""The report's regression gate: a report against an earlier report (its baseline) of the same model
and task. Pure functions of the two reports' content (report.json), so they are tested on dicts."""

from __future__ import annotations

import math

from prelnedge.errors import UserError

# How much worse a cell may get before a report fails against its baseline. Reruns of one model are
# deterministic (fixed calibration, fixed evaluation texts, same tools), so these only absorb a tool
# upgrade's rounding, not a real change in fidelity.
GATE_SQNR_DB = 1.0
GATE_AGREEMENT = 0.02
GATE_METRIC = 0.01


def gate_settings() -> dict[str, float]:
    """What a report records of the gate it applies."""
    return {"sqnr_db": GATE_SQNR_DB, "agreement": GATE_AGREEMENT, "metric": GATE_METRIC}


def baseline_problem(data: dict) -> str | None:
    """What the gate would trip over in a baseline (missing keys, wrong types), or None."""
    if not isinstance(data.get("task"), str):
        return "lacks its task"
    if not isinstance(data.get("cells"), list):
        return "lacks its list of cells"
    for i, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or not all(isinstance(cell.get(k), str) for k in ("target", "mode", "status")):
            return f"cell {i} lacks target, mode or status"
        if cell["status"] != "ok":
            continue
        outputs = cell.get("outputs")
        if not isinstance(outputs, dict) or not all(
                isinstance(stats, dict) and isinstance(stats.get("sqnr_db"), (int, float)) for stats in outputs.values()):
            return f"cell {i} ({cell['target']}:{cell['mode']}) lacks its outputs' sqnr_db"
        for key in ("agreement", "task_metric"):
            values = cell.get(key) or {}
            if not isinstance(values, dict) or not all(isinstance(v, (int, float)) for v in values.values()):
                return f"cell {i} ({cell['target']}:{cell['mode']}) has a {key} that is not an object of numbers"
    return None


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 1e9  # identical outputs: SQNR inf compares as very large


def check_comparable(baseline: dict, task: str, model_sha256: str | None) -> None:
    """Refuse (one line) a baseline of another task, or of another model (its checkpoint's sha256,
    when known): the gate compares one model's cells against that same model's earlier report."""
    if baseline.get("task") != task:
        raise UserError(f"the baseline is a {baseline.get('task')} report and this one is {task}; "
                        "give a baseline made for the same task")
    if model_sha256 is None:
        return
    before = baseline.get("model_sha256")
    if before is None:
        raise UserError(f"the baseline ({baseline.get('model')}) does not record its model's sha256 (made by an "
                        "older prelnedge); make the baseline again")
    if before != model_sha256:
        raise UserError(f"the baseline was made from another model ({baseline.get('model')}, checkpoint sha256 "
                        f"{before[:12]}…) than this report (sha256 {model_sha256[:12]}…); give a baseline of the "
                        "same model")


def faults(report: dict) -> list[str]:
    """One line per cell that did not run to a verdict (it crashed, its worker died, retries ran out):
    a failure whatever the baseline says, since nothing was measured."""
    return [f"{c['target']}:{c['mode']}: failed to run: {c.get('reason')}" for c in report["cells"]
            if c.get("status") == "failed" and c.get("fault")]


def gate(report: dict, baseline: dict) -> list[str]:
    """One line per cell that failed to run, or got worse than the baseline beyond the gate's
    tolerance; a baseline of another task or model is refused (UserError)."""
    check_comparable(baseline, report["task"], report.get("model_sha256"))
    now = {f"{c['target']}:{c['mode']}": c for c in report["cells"]}
    problems = faults(report)
    faulted = {line.split(": ", 1)[0] for line in problems}
    for old in baseline["cells"]:
        key = f"{old['target']}:{old['mode']}"
        if old.get("status") != "ok":
            continue
        new = now.get(key)
        if new is None or key in faulted:
            continue  # not asked for this time (--targets/--modes), or already named as a fault
        if new.get("status") != "ok":
            problems.append(f"{key}: passed in the baseline, now {new.get('status')}: {new.get('reason')}")
            continue
        for name, stats in old["outputs"].items():
            before, after = _finite(stats["sqnr_db"]), _finite(new["outputs"].get(name, {}).get("sqnr_db", -1e9))
            if after < before - GATE_SQNR_DB:
                problems.append(f"{key}: {name} SQNR {after:.1f} dB, baseline {before:.1f} dB "
                                f"(allowed drop {GATE_SQNR_DB:g} dB)")
        for measure, before in old.get("agreement", {}).items():
            after = new.get("agreement", {}).get(measure, -1.0)
            if after < before - GATE_AGREEMENT:
                problems.append(f"{key}: {measure} {after:.3f}, baseline {before:.3f} (allowed drop {GATE_AGREEMENT:g})")
        for measure, before in (old.get("task_metric") or {}).items():
            after = (new.get("task_metric") or {}).get(measure)
            if measure != "examples" and after is not None and after < before - GATE_METRIC:
                problems.append(f"{key}: task {measure} {after:.3f}, baseline {before:.3f} (allowed drop {GATE_METRIC:g})")
    return problems

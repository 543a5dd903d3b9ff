"""The quantization modes as a Markdown table, written from the registry (never by hand).

`prelnedge info --modes` prints it and `docs/modes.md` holds it; a test keeps the file equal to what
this function writes, so the documented modes, floors and refusals are the ones the code applies.
"""

from __future__ import annotations

from prelnedge.quantize import MODES, QuantMode
from prelnedge.tasks import TASKS

HEADER = ("| target | mode | what it is | calibration | judged by (vs the float model) | not for |\n"
          "|---|---|---|---|---|---|")


def _floors(mode: QuantMode) -> str:
    rule = mode.tolerance
    return f"SQNR >= {rule.min_sqnr_db:g} dB, agreement >= {rule.min_agreement:g}"


def _refusals(mode: QuantMode) -> str:
    """Frameworks and tasks the registry refuses for this mode, each with its reason."""
    parts = [f"`{framework}` export: {reason}" for framework, reason in mode.refused_frameworks.items()]
    by_reason: dict[str, list[str]] = {}
    for task in TASKS.values():
        reason = mode.refuses_task(task)
        if reason:
            by_reason.setdefault(reason, []).append(task.name)
    parts += [f"{', '.join(f'`{name}`' for name in names)}: {reason}" for reason, names in by_reason.items()]
    return "; ".join(parts) or "—"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def modes_markdown() -> str:
    """One row per registered mode, in registry order."""
    rows = [HEADER]
    for mode in MODES:
        summary = mode.summary + (f". CPU cost: {mode.cpu_cost}" if mode.cpu_cost else "")
        calibration = "yes (`--calibration`)" if mode.needs_calibration else "no"
        rows.append(f"| {mode.target} | `{mode.name}` | {_cell(summary)} | {calibration} | {_floors(mode)} "
                    f"| {_cell(_refusals(mode))} |")
    return "\n".join(rows) + "\n"


def modes_document() -> str:
    """docs/modes.md: the table with a line saying where it comes from."""
    return ("# Quantization modes\n\n"
            "Written from the mode registry (`prelnedge/quantize/__init__.py`) by `prelnedge info --modes`; "
            "`tests/test_modes_doc.py` fails when this file and the registry disagree. Rebuild it with\n"
            "`prelnedge info --modes > docs/modes.md`.\n\n" + modes_markdown())

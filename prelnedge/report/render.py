"""report.md, report.html (self-contained: plots inlined as base64 PNG) and the PNG plots.

Both documents are made from the same parts (the facts paragraphs, the table, the gate verdict), so
the HTML says everything the Markdown says.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from prelnedge.timing import machine_line

PLOTS = {"fidelity_vs_size.png": ("size (MiB)", "size_bytes"),
         "fidelity_vs_latency.png": ("median batch-1 latency (ms)", "latency_ms")}
# An axis whose largest value is this many times its smallest is drawn on a log scale: one mode 30x
# slower than the rest would otherwise squeeze every other cell into one corner.
LOG_SCALE_RATIO = 10.0
SQNR_CAP_DB = 140.0  # float cells reach 120+ dB; keep the fidelity axis readable
MARKERS = {"onnx": "o", "tflite": "s"}

HEADER = ["target", "mode", "status", "size MiB (vs fp32)", "latency ms", "SQNR dB per output",
          "agreement with float", "task metric / note"]


def _ok(report: dict) -> list[dict]:
    return [c for c in report["cells"] if c.get("status") == "ok"]


def output_order(report: dict) -> list[str]:
    """The task's outputs in its registry order (then any others, sorted): every row lists them so."""
    from prelnedge.tasks import get_task

    known = list(get_task(report["task"]).output_names)
    seen = {name for c in _ok(report) for name in c["outputs"]}
    return [n for n in known if n in seen] + sorted(seen - set(known))


def axis_scale(values: list[float]) -> str:
    positive = [v for v in values if v > 0]
    return "log" if positive and max(positive) / min(positive) >= LOG_SCALE_RATIO else "linear"


def figure(report: dict, xlabel: str, field: str):
    """The fidelity-vs-field scatter. Points are told apart by a legend beside the axes (target by
    marker, each cell its own colour), not by labels at the points, which collide when cells sit close."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    cells = [c for c in _ok(report) if field in c]
    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=110)
    colours = plt.get_cmap("tab10")
    xs = [c[field] / 2**20 if field == "size_bytes" else c[field] for c in cells]
    for i, (cell, x) in enumerate(zip(cells, xs)):
        ax.scatter(x, min(cell["min_sqnr_db"], SQNR_CAP_DB), marker=MARKERS.get(cell["target"], "^"), s=55,
                   color=colours(i % 10), label=f"{cell['target']}:{cell['mode']}")
    ax.set_xscale(axis_scale(xs))
    if ax.get_xscale() == "log":
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        # plain numbers at 1-2-5 steps; matplotlib's default labels minor ticks too (3x10^0 and 4x10^0 collide)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel + (" (log scale)" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel(f"worst output SQNR vs float\n(dB, capped at {SQNR_CAP_DB:g})")
    ax.set_title(f"{report['task']}: fidelity vs {xlabel.split(' (')[0]}")
    ax.grid(True, which="both", alpha=0.3)
    if cells:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _plot(report: dict, path: Path, xlabel: str, field: str) -> None:
    import matplotlib.pyplot as plt

    fig = figure(report, xlabel, field)
    fig.savefig(path)
    plt.close(fig)


def _rows(report: dict) -> list[list[str]]:
    order = output_order(report)
    rows = []
    for c in report["cells"]:
        if c.get("status") != "ok":
            rows.append([c["target"], c["mode"], c.get("status", "?"), "", "", "", "", c.get("reason", "")[:160]])
            continue
        agreement = ", ".join(f"{k} {v:.3f}" for k, v in sorted(c["agreement"].items()))
        metric = ", ".join(f"{k} {v:.3f}" for k, v in (c.get("task_metric") or {}).items() if k != "examples")
        sqnr = ", ".join(f"{k} {c['outputs'][k]['sqnr_db']:.1f}" for k in order if k in c["outputs"])
        rows.append([c["target"], c["mode"], "ok", f"{c['size_bytes'] / 2**20:.2f} ({c['size_ratio']:.2f}x)",
                     f"{c['latency_ms']:.2f}" if "latency_ms" in c else "", sqnr, agreement, metric])
    return rows


def facts(report: dict) -> list[str]:
    """The paragraphs both documents carry above the table: model, method, evaluation, gate rule."""
    sha = report.get("model_sha256")
    model = f"Model: {report['model']}" + (f" (checkpoint sha256 {sha[:12]}…)" if sha else "") + "."
    method = ("Method: fidelity is measured against the float reference on held-out texts at batch 1 (worst "
              "SQNR per output, agreement of the decoded task answers); latency is the median of "
              "repeated batch-1 calls, all cells timed in one run, interleaved (compare ratios, not "
              "absolute times); size is the model file."
              + (f" Timed on {machine_line(report['machine'])}." if report.get("machine") else ""))
    if report.get("eval_file"):
        size = report.get("eval_examples")
        evaluation = (f"Task metric: {report['eval_file']}" + (f" ({size} examples)" if size is not None else "")
                      + ".")
    else:
        evaluation = "Task metric: none (no --eval file given)."
    if report.get("executor"):  # reports made before the executor do not say
        method += (f" Cells ran on {report['executor']}; latency was timed on {report['latency_timed_on']}.")
    gate = report["gate"]
    tolerance = (f"Gate tolerance: SQNR drop {gate['sqnr_db']} dB, agreement drop {gate['agreement']}, "
                 f"task metric drop {gate['metric']}.")
    return [model, method, evaluation, tolerance]


def cost_notes(report: dict) -> list[str]:
    """One line per cell whose mode has a known CPU price (the registry's cpu_cost), so a slow cell
    is explained where its latency is shown; where this report was timed on another CPU than the one
    the price was measured on, the line says so (the factor may differ there)."""
    from prelnedge.quantize import CPU_COST_MEASURED_ON

    here = (report.get("machine") or {}).get("cpu")
    elsewhere = (f" [that figure is from {CPU_COST_MEASURED_ON}; this report ran on {here}]"
                 if here and here != CPU_COST_MEASURED_ON else "")
    return [f"{c['target']}:{c['mode']}: {c['cpu_cost']}{elsewhere}" for c in _ok(report) if c.get("cpu_cost")]


def verdict(report: dict) -> list[str]:
    """The gate's outcome: a headline naming what was compared, then one line per regression."""
    gate = report.get("baseline")
    if gate is None:
        return []
    compared = f"{gate['path']} (same model: {gate.get('model', report['model'])}, task {report['task']})"
    if not gate["regressions"]:
        return [f"Gate: PASS against {compared}"]
    return [f"Gate: FAIL against {compared}", *gate["regressions"]]


def write_outputs(report: dict, folder: Path) -> None:
    for name, (xlabel, field) in PLOTS.items():
        _plot(report, folder / name, xlabel, field)
    rows, paragraphs, gate, notes = _rows(report), facts(report), verdict(report), cost_notes(report)
    title = f"Quantization report: {report['task']}"

    md = [f"# {title}", ""]
    for paragraph in paragraphs:
        md += [paragraph, ""]
    md += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    md += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    md += [""]
    if notes:
        md += ["CPU cost of some modes:", ""] + [f"- {line}" for line in notes] + [""]
    if gate:
        md += [gate[0], ""] + ([f"- {line}" for line in gate[1:]] + [""] if gate[1:] else [])
    md += ["![fidelity vs size](fidelity_vs_size.png)", "", "![fidelity vs latency](fidelity_vs_latency.png)", ""]
    (folder / "report.md").write_text("\n".join(md), encoding="utf-8")

    esc = html.escape
    images = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,'
        f'{base64.b64encode((folder / name).read_bytes()).decode()}"></figure>' for name in PLOTS)
    table = "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in HEADER) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows) + "</table>"
    notes_html = ("<p>CPU cost of some modes:</p><ul>" + "".join(f"<li>{esc(line)}</li>" for line in notes)
                  + "</ul>") if notes else ""
    gate_html = ""
    if gate:
        gate_html = f"<p><strong>{esc(gate[0])}</strong></p>" + (
            "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in gate[1:]) + "</ul>" if gate[1:] else "")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>prelnedge report: {esc(report['task'])}"
            "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:4px 8px;font-size:13px}img{max-width:100%}</style></head><body>"
            f"<h1>{esc(title)}</h1>" + "".join(f"<p>{esc(p)}</p>" for p in paragraphs)
            + f"{table}{notes_html}{gate_html}{images}</body></html>")
    (folder / "report.html").write_text(page, encoding="utf-8")

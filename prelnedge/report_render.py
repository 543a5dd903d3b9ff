"""report.md, report.html (self-contained: plots inlined as base64 PNG) and the PNG plots."""

from __future__ import annotations

import base64
import html
from pathlib import Path

PLOTS = {"fidelity_vs_size.png": ("size (MiB)", "size_bytes"),
         "fidelity_vs_latency.png": ("median batch-1 latency (ms)", "latency_ms")}


def _ok(report: dict) -> list[dict]:
    return [c for c in report["cells"] if c.get("status") == "ok"]


def _plot(report: dict, path: Path, xlabel: str, field: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    markers = {"onnx": "o", "tflite": "s"}
    for cell in _ok(report):
        if field not in cell:
            continue
        x = cell[field] / 2**20 if field == "size_bytes" else cell[field]
        y = min(cell["min_sqnr_db"], 140.0)  # float cells reach 120+ dB; keep the axis readable
        ax.scatter(x, y, marker=markers.get(cell["target"], "^"), s=50)
        ax.annotate(f"{cell['target']}:{cell['mode']}", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("worst output SQNR vs float (dB, capped at 140)")
    ax.set_title(f"{report['task']}: fidelity vs {xlabel.split(' (')[0]}")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _rows(report: dict) -> list[list[str]]:
    rows = []
    for c in report["cells"]:
        if c.get("status") != "ok":
            rows.append([c["target"], c["mode"], c.get("status", "?"), "", "", "", "", c.get("reason", "")[:160]])
            continue
        agreement = ", ".join(f"{k} {v:.3f}" for k, v in c["agreement"].items())
        metric = ", ".join(f"{k} {v:.3f}" for k, v in (c.get("task_metric") or {}).items() if k != "examples")
        sqnr = ", ".join(f"{k} {v['sqnr_db']:.1f}" for k, v in c["outputs"].items())
        rows.append([c["target"], c["mode"], "ok", f"{c['size_bytes'] / 2**20:.2f} ({c['size_ratio']:.2f}x)",
                     f"{c['latency_ms']:.2f}" if "latency_ms" in c else "", sqnr, agreement, metric])
    return rows


HEADER = ["target", "mode", "status", "size MiB (vs fp32)", "latency ms", "SQNR dB per output",
          "agreement with float", "task metric / note"]


def write_outputs(report: dict, folder: Path) -> None:
    for name, (xlabel, field) in PLOTS.items():
        _plot(report, folder / name, xlabel, field)
    rows = _rows(report)
    gate = report.get("baseline")
    verdict = ""
    if gate is not None:
        verdict = ("Gate: PASS against " + gate["path"]) if not gate["regressions"] else \
            "Gate: FAIL against " + gate["path"] + "\n\n" + "\n".join(f"- {line}" for line in gate["regressions"])
    md = [f"# Quantization report: {report['task']}", "",
          f"Model: {report['model']}. Fidelity is measured against the float reference on held-out texts at "
          "batch 1; latency is the median of repeated batch-1 calls, all cells timed in one run (compare "
          "ratios, not absolute times).", "",
          "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    md += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    md += ["", f"Gate tolerance: SQNR drop {report['gate']['sqnr_db']} dB, agreement drop "
               f"{report['gate']['agreement']}, task metric drop {report['gate']['metric']}.", ""]
    if verdict:
        md += [verdict, ""]
    md += [f"![fidelity vs size](fidelity_vs_size.png)", "", f"![fidelity vs latency](fidelity_vs_latency.png)", ""]
    (folder / "report.md").write_text("\n".join(md), encoding="utf-8")

    images = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode((folder / name).read_bytes()).decode()}"></figure>' for name in PLOTS)
    table = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in HEADER) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows) + "</table>"
    verdict_html = f"<pre>{html.escape(verdict)}</pre>" if verdict else ""
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>prelnedge report: {html.escape(report['task'])}"
            "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:4px 8px;font-size:13px}img{max-width:100%}</style></head><body>"
            f"<h1>Quantization report: {html.escape(report['task'])}</h1><p>Model: {html.escape(report['model'])}</p>"
            f"{table}{verdict_html}{images}</body></html>")
    (folder / "report.html").write_text(page, encoding="utf-8")

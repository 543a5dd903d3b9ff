"""tune.md, tune.html (plots inlined) and the two plots, all drawn from tune.json's numbers alone.

- sensitivity.png: one bar per unit, the budget's number gained when that unit alone is reverted
  (SQNR dB, or the metric), the units the kept recipe holds wider drawn in another colour;
- frontier.png: every candidate judged on the search set, size against the budget's number, the
  Pareto frontier joined, the budget line, and the plain, kept and float models marked.

When nothing met the budget (tune.json "met" false) the best candidate takes the kept one's place,
named as what it is: the closest the search came, not a model that was written.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

PLOTS = ("sensitivity.png", "frontier.png")
SQNR_CAP_DB = 80.0  # identical outputs record 999 dB; the plots stop here


def _is_sqnr(report: dict) -> bool:
    return report["budget"]["kind"] == "min-sqnr"


def _value(report: dict, entry: dict) -> float:
    """The y of a candidate: its worst SQNR (capped) or its metric."""
    if _is_sqnr(report):
        return min(entry["min_sqnr_db"], SQNR_CAP_DB)
    return entry["metric"]


def shown(report: dict) -> tuple[dict, str]:
    """(the trace entry to mark, its name): the kept candidate, or the best when the budget was not met."""
    if report.get("met", True):
        return report["chosen"], "kept"
    return report["best"], "best (misses the budget)"


def sensitivity_points(report: dict) -> list[tuple[str, float, bool]]:
    """(label, gain, kept) per sensitivity row, in rank order: what the bar chart draws."""
    kept = set(shown(report)[0]["recipe"]["units"])
    rows = sorted(report["sensitivity"], key=lambda row: (row["precision"], row["rank"]))
    return [(f"{row['unit']} -> {row['precision']}", row["gain"][0], row["unit"] in kept) for row in rows]


def frontier_points(report: dict) -> list[tuple[int, float, float]]:
    """(candidate, size MiB, y) per trace entry: what the scatter draws."""
    return [(entry["candidate"], entry["size_bytes"] / 2**20, _value(report, entry)) for entry in report["trace"]]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def sensitivity_figure(report: dict):
    """The bar chart: one bar per sensitivity row (rank order), kept units in red."""
    plt = _pyplot()
    points = sensitivity_points(report)
    fig, ax = plt.subplots(figsize=(8.5, max(2.5, 0.22 * len(points) + 1.2)), dpi=110)
    if points:
        labels, gains, kept = zip(*points)
        ax.barh(range(len(points)), gains, color=["#d62728" if k else "#1f77b4" for k in kept])
        ax.set_yticks(range(len(points)), labels, fontsize=7)
        ax.invert_yaxis()
    ax.set_xlabel("SQNR gained when reverted alone (dB)" if _is_sqnr(report)
                  else f"{report['budget']['metric']} gained when reverted alone")
    ax.set_title(f"{report['task']} {report['target']} {report['mode']}: sensitivity per unit (red: "
                 + ("kept wider)" if report.get("met", True) else "wider in the best candidate; budget not met)"))
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def frontier_figure(report: dict):
    """Size against the budget's number for every candidate, the frontier joined, plain/kept marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=110)
    trace = {entry["candidate"]: entry for entry in report["trace"]}
    points = frontier_points(report)
    ax.scatter([x for _, x, _ in points], [y for _, _, y in points], s=18, color="#999999", label="candidate")
    front = [trace[i] for i in report["frontier"]]
    ax.plot([e["size_bytes"] / 2**20 for e in front], [_value(report, e) for e in front], "-o", color="#1f77b4",
            markersize=4, label="frontier")
    plain, (chosen, chosen_name) = report["plain"], shown(report)
    ax.scatter([plain["size_bytes"] / 2**20], [_value(report, plain)], marker="s", s=60, color="#ff7f0e",
               label="plain " + report["mode"], zorder=3)
    ax.scatter([chosen["size_bytes"] / 2**20], [_value(report, chosen)], marker="*", s=160, color="#d62728",
               label=chosen_name, zorder=3)
    budget = report["budget"]
    line = budget["value"] if _is_sqnr(report) else report["float"]["metric"] - budget["value"]
    ax.axhline(line, color="#2ca02c", linestyle="--", label=f"budget ({budget['text']})")
    ax.set_xlabel("model size (MiB)")
    ax.set_ylabel("worst output SQNR vs float (dB)" if _is_sqnr(report) else budget["metric"])
    ax.set_title(f"{report['task']} {report['target']} {report['mode']}: every candidate, frontier joined "
                 f"(float {report['float']['size_bytes'] / 2**20:.2f} MiB)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def _plots(report: dict, folder: Path) -> None:
    plt = _pyplot()
    for name, make in zip(PLOTS, (sensitivity_figure, frontier_figure)):
        fig = make(report)
        fig.savefig(folder / name)
        plt.close(fig)


def _fmt_metric(value) -> str:
    return "" if value is None else f"{value:.3f}"


def markdown(report: dict) -> str:
    held = report["held_out"]
    entry, _ = shown(report)
    units = ", ".join(f"{u} {p}" for u, p in entry["recipe"]["units"].items())
    recipe_line = f"Kept recipe: {units or 'none'} (every other unit {entry['recipe']['default']})."
    if not report.get("met", True):
        recipe_line = (f"Budget not met: no recipe short of float meets {report['budget']['text']}; no model "
                       f"was written. The best candidate ({entry['candidate']}) kept {units or 'no unit'} wider "
                       f"(every other unit {entry['recipe']['default']}); the frontier below shows what each size reaches.")
    lines = [f"# prelnedge tune: {report['task']} {report['target']} {report['mode']}", "",
             f"Budget: {report['budget']['text']}. Search on {report['evaluation']['search_examples']} examples "
             f"from {report['evaluation']['source']} (units ranked on the {report['evaluation']['ranking_examples']} "
             f"the plain model gets most wrong); held-out figures on {report['evaluation']['held_out_examples']} "
             f"other examples. {report['candidates']['judged']} candidates judged on the search set, "
             f"{report['candidates']['sensitivity']} sensitivity evaluations, {report['candidates']['evaluated']} "
             f"evaluated and {report['candidates']['cached']} from the cache, {report['seconds']:.1f} s.", "",
             recipe_line, "",
             "## Held out", "", "| model | size (MiB) | worst SQNR (dB) | metric | drop |", "|---|---|---|---|---|"]
    for name, row in held.items():
        lines.append(f"| {name} | {row['size_bytes'] / 2**20:.2f} | {min(row['min_sqnr_db'], 999):.1f} | "
                     f"{_fmt_metric(row.get('metric'))} | {_fmt_metric(row.get('drop'))} |")
    lines += ["", "## Sensitivity", "", "| rank | unit | to | worst SQNR (dB) | gain | metric | extra bytes |",
              "|---|---|---|---|---|---|---|"]
    for row in sorted(report["sensitivity"], key=lambda r: (r["precision"], r["rank"])):
        lines.append(f"| {row['rank']} | {row['unit']} | {row['precision']} | {row['min_sqnr_db']:.1f} | "
                     f"{row['gain'][0]:+.3f} | {_fmt_metric(row.get('metric'))} | {row['extra_bytes']} |")
    lines += ["", "## Trace", "", "| candidate | step | unit | units kept wider | worst SQNR (dB) | metric | size (MiB) "
              "| meets | time (s) |", "|---|---|---|---|---|---|---|---|---|"]
    frontier = set(report["frontier"])
    for e in report["trace"]:
        lines.append(f"| {e['candidate']}{' (frontier)' if e['candidate'] in frontier else ''} | {e['step']} | "
                     f"{e['unit'] or ''} | {len(e['kept_units'])} | {e['min_sqnr_db']:.1f} | {_fmt_metric(e['metric'])} | "
                     f"{e['size_bytes'] / 2**20:.3f} | {'yes' if e['meets'] else 'no: ' + e['refused'] if e.get('refused') else 'no'} | "
                     f"{'cached' if e['cached'] else e['seconds']} |")
    lines += ["", *(f"![{name}]({name})" for name in PLOTS), ""]
    return "\n".join(lines)


def write_documents(report: dict, folder: Path) -> None:
    _plots(report, folder)
    text = markdown(report)
    (folder / "tune.md").write_text(text, encoding="utf-8")
    body, in_table = [], False
    for line in text.split("![")[0].splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            if not in_table:
                body.append("<table>")
                in_table = True
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if line.startswith("|---"):
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    joined = "\n".join(body)
    images = "".join(f'<figure><img alt="{name}" src="data:image/png;base64,'
                     f'{base64.b64encode((folder / name).read_bytes()).decode()}"></figure>' for name in PLOTS)
    (folder / "tune.html").write_text(
        "<!doctype html><meta charset=utf-8><title>prelnedge tune</title><style>body{font-family:sans-serif;"
        "max-width:70em}td{padding:2px 8px;border-bottom:1px solid #ddd}</style>\n" + joined + images + "\n",
        encoding="utf-8")

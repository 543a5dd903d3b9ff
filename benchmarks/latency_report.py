"""The latency benchmark's outputs: latency.json (everything), latency.md (the tables) and latency.png.

Every runner the run was asked for gets a row in every table; a cell it has no time for says why
(its build failed, prelnedge refused the mode, it is a slow runner outside --slow-configs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.latency_build import DIY, EAGER
EAGER_TARGET = 0.22  # issue 13: the integer modes' target, as a fraction of eager
# Issue 13's targets: (what it asks, the runner, [(reference runner, largest ratio allowed)]).
# "Faster than" is a ratio below 1; "<=" allows 1.
TARGETS = (
    ("ONNX int8-static <= 0.22x eager and faster than int8-dynamic", "onnx int8-static",
     [(EAGER, EAGER_TARGET), ("onnx int8-dynamic", 1.0 - 1e-9)]),
    ("ONNX int8-dynamic <= 0.22x eager and <= 0.85x do-it-yourself", "onnx int8-dynamic",
     [(EAGER, EAGER_TARGET), (DIY, 0.85)]),
    ("ONNX int4 <= int8-dynamic", "onnx int4", [("onnx int8-dynamic", 1.0)]),
    ("TFLite full integer (int8-full) <= 0.22x eager", "tflite int8-full", [(EAGER, EAGER_TARGET)]),
    ("TFLite int8-static (mixed int8/float) <= 0.22x eager", "tflite int8-static", [(EAGER, EAGER_TARGET)]),
)


def write_outputs(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "latency.md").write_text(render_markdown(result))
    plot(out / "latency.png", result)


def _ratio(part: dict) -> str:
    return f"{part['ratio']:.2f}x [{part['min']:.2f}-{part['max']:.2f}]"


def _cells(result: dict) -> dict:
    """Table name -> (explanation, cell function of a row)."""
    return {
        "Wall time, ratio to Hugging Face eager": (
            "median of per-round ratios [min-max over rounds]",
            lambda row: _ratio(row["vs_eager"]) if "vs_eager" in row else "-"),
        "Wall time, ratio to the do-it-yourself row": (
            "median of per-round ratios [min-max over rounds]; in brackets after it, the ratio of median CPU "
            "time per call",
            lambda row: (_ratio(row["vs_diy"]) + f" (CPU {row['vs_diy']['cpu_ratio']:.2f}x)")
            if "ratio" in row.get("vs_diy", {}) else "-"),
        "Wall time per call (ms)": (
            "median [p25-p75] (calls timed)",
            lambda row: f"{row['median_ms']:.1f} [{row['p25_ms']:.1f}-{row['p75_ms']:.1f}] ({row['samples']})"),
        "CPU time of the timing process per call (ms)": (
            "median [p25-p75]. Waiting for a core does not count, so on a loaded machine this is steadier "
            "than wall time; ONNX Runtime's threads do not spin here, PyTorch's and XNNPACK's may, which "
            "counts against them",
            lambda row: f"{row['cpu_ms']:.1f} [{row['cpu_p25_ms']:.1f}-{row['cpu_p75_ms']:.1f}]"),
    }


def _why_not(result: dict, runner: str, config: str) -> str:
    if runner in result.get("not_built", {}):
        return "not built"
    key = config.replace("seq ", "").replace(", batch ", "x")
    if runner in result.get("slow_skipped", {}).get(key, []):
        return "skipped (slow)"
    return "-"


def table(result: dict, cell) -> list[str]:
    configs = list(result["configs"])
    lines = ["| runner | " + " | ".join(configs) + " |", "|---|" + "---|" * len(configs)]
    for runner in result["runners"]:
        cells = []
        for config in configs:
            row = result["configs"][config]["rows"].get(runner)
            cells.append(cell(row) if row is not None else _why_not(result, runner, config))
        label = runner + (" (row by row)" if runner in result.get("row_by_row", []) else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def header(result: dict) -> list[str]:
    loads = ", ".join(f"{config}: {data['load_after']}" for config, data in result["configs"].items())
    flags = f" ({', '.join(result['cpu_flags'])})" if result.get("cpu_flags") else ""  # AMX/VNNI decide int8 speed
    lines = [f"Command: `{result['command']}`", "",
             f"- When: {result['when']}; CPU: {result['cpu']}{flags}, {result['cpus']} logical CPUs; "
             f"{result['threads']} threads per runtime; timing process niceness {result['niceness']} "
             f"(build steps run niced, in their own processes).",
             f"- Load average (1, 5, 15 min): {result['load_before']} before timing, {result['load_after']} after; "
             f"after each configuration: {loads}.",
             f"- {result['rounds']} interleaved rounds per configuration, order rotated each round, "
             f"up to {result['budget_s']} s (1-5 calls) per runner per round; ONNX Runtime thread spinning off. "
             f"Peak RSS of the timing process {result['peak_rss_gib']:.1f} GiB.",
             "- Inputs: unpadded rows of SEQ tokens (`<s>`, random ordinary tokens, `</s>`)."]
    if result.get("row_by_row"):
        lines.append(f"- Row by row: {', '.join(result['row_by_row'])} take unpadded single rows only (prelnedge's "
                     "runtime calls them once per row), so batch 8 is 8 calls of one row.")
    if result.get("slow_runners"):
        where = ", ".join(result["slow_configs"]) or "none"
        lines.append(f"- Slow runners {', '.join(result['slow_runners'])} (LiteRT's int16 reference kernels) were "
                     f"timed only at {where} (`--slow-configs`); elsewhere their cells say \"skipped (slow)\".")
    if result.get("left_out"):
        lines.append(f"- Left out of this run (`--runners`): {', '.join(result['left_out'])}.")
    return lines


def pair_ratio(rows: dict, mine: str, reference: str) -> tuple[float, float] | None:
    """(median over rounds of mine/reference wall time, ratio of median CPU times), None without both."""
    if mine not in rows or reference not in rows:
        return None
    per_round = sorted(a / b for a, b in zip(rows[mine]["round_ms"], rows[reference]["round_ms"]))
    return float(np.median(per_round)), rows[mine]["cpu_ms"] / rows[reference]["cpu_ms"]


def _short(runner: str) -> str:
    return {EAGER: "eager", DIY: "diy"}.get(runner, runner.split(" ", 1)[-1])


def target_table(result: dict) -> list[str]:
    """Issue 13's targets per configuration: met / not met by wall-time ratio (CPU-time ratio after it)."""
    configs = list(result["configs"])
    lines = ["| target | " + " | ".join(configs) + " |", "|---|" + "---|" * len(configs)]
    for text, runner, bounds in TARGETS:
        if runner not in result["runners"]:
            continue
        cells = []
        for config in configs:
            rows = result["configs"][config]["rows"]
            measured = [(ref, bound, pair_ratio(rows, runner, ref)) for ref, bound in bounds]
            if any(m is None for _, _, m in measured):
                cells.append(_why_not(result, runner, config) if runner not in rows else "-")
                continue
            met = all(m[0] <= bound for _, bound, m in measured)
            cells.append(("met" if met else "**not met**") + ": " + ", ".join(
                f"{m[0]:.2f}x {_short(ref)} (CPU {m[1]:.2f}x)" for ref, _, m in measured))
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    return lines


def render_markdown(result: dict) -> str:
    lines = [f"# Latency, {result['model']}", ""] + header(result) + [""]
    lines += ["### Issue 13's targets", "", "Wall-time ratio (median over rounds of the per-round ratio) decides "
              "met / not met; the ratio of median CPU times per call follows in brackets.", ""]
    lines += target_table(result) + [""]
    for title, (explain, cell) in _cells(result).items():
        lines += [f"### {title}", "", explain + ".", ""] + table(result, cell) + [""]
    if result.get("not_built"):
        lines += ["Not timed (prelnedge refused the mode, or its build failed: prelnedge writes no artifact "
                  "that fails validation):", ""]
        lines += [f"- {runner}: {why}" for runner, why in result["not_built"].items()] + [""]
    if result.get("builds"):
        lines += ["Build steps: " + "; ".join(f"{step} {how}" for step, how in result["builds"].items()) + ".", ""]
    return "\n".join(lines)


def plot(path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = list(result["configs"])
    runners = [r for r in result["runners"] if any("vs_eager" in result["configs"][c]["rows"].get(r, {})
                                                   for c in configs) and not r.startswith("hf eager")]
    if not runners:
        return
    fig, ax = plt.subplots(figsize=(11, 0.45 * len(runners) * max(1, len(configs)) ** 0.5 + 2))
    height = 0.8 / len(configs)
    for i, config in enumerate(configs):
        values = [result["configs"][config]["rows"].get(r, {}).get("vs_eager", {}).get("ratio", np.nan)
                  for r in runners]
        ax.barh(np.arange(len(runners)) + i * height, values, height, label=config)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.axvline(EAGER_TARGET, color="red", linewidth=0.8, linestyle="--", label=f"{EAGER_TARGET}x target")
    ax.set_yticks(np.arange(len(runners)) + 0.4 - height / 2, runners)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("wall time / Hugging Face eager (log; lower is faster)")
    ax.set_title(f"{result['model']}\nload average {result['load_before']} -> {result['load_after']}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

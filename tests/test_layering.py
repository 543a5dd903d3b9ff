"""Imports flow one way (issue 27; /work/shared/STYLE.md "The house").

The layer order, lowest first, in one sentence: plain utilities (errors, hashing, timing, the quiet
terminal and progress) -> output folders, artifacts and the executor -> what a model and a task are
(config, tasks, task examples) -> the runtime that runs an exported model (sessions, tokenizer,
post-processing: what the JS and Java runtimes mirror, so it needs neither checkpoints nor model code)
-> checkpoint -> models -> verify -> export -> quantize -> what chains or searches stages (the
export-then-quantize pipeline, tune, train) -> report and bundle -> cli.

A module may import its own layer or any layer below it, never one above, not even lazily inside a
function (a lazy import hides a cycle, it does not remove it): what two stages share moves down to
where both can read it. Every import statement under prelnedge/ is read from the source (AST), so
lazy and TYPE_CHECKING imports count. A new package or top-level module must be placed in LAYERS
before this test passes.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "prelnedge"

# Lowest first. A unit is a subpackage or a top-level module of prelnedge ("__init__" is the package's
# own facade: PreLNConfig, the task registry and load_reference). Units in one tuple may import each
# other as long as no cycle forms (test_no_cycle_between_units).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "hashing", "timing", "threads", "quiet", "progress"),
    ("output_folder", "artifact", "executor"),  # executor: runs cells locally or on Ray (report, tune)
    ("config", "tasks", "examples"),
    ("runtime",),
    ("checkpoint",),
    ("models",),
    ("__init__",),
    ("verify",),
    ("export",),
    ("quantize",),
    ("pipeline", "tune", "train"),  # chains of stages: export then quantize; tune: the quantization search
    ("report", "bundle"),
    ("cli", "__main__"),
)
RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}

# Edges against the order that remain on purpose, each with the reason; this list only shrinks.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> tuple[str, ...]:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _unit(module: tuple[str, ...]) -> str:
    return module[1] if len(module) > 1 else "__init__"


def _is_module(module: tuple[str, ...]) -> bool:
    path = PACKAGE.parent.joinpath(*module)
    return path.is_dir() or path.with_suffix(".py").is_file()


def imports_of(path: Path) -> list[tuple[tuple[str, ...], int]]:
    """Every prelnedge module `path` imports (at any depth of the file), with its line."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(tuple(alias.name.split(".")), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = base + tuple(node.module.split(".") if node.module else ())
            else:
                module = tuple(node.module.split("."))
            for alias in node.names:  # `from prelnedge import quiet` imports the module quiet
                sub = module + (alias.name,)
                found.append((sub if _is_module(sub) else module, node.lineno))
    return [(module, line) for module, line in found if module[0] == PACKAGE.name]


def unit_edges() -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the import sites, as 'file:line'."""
    edges = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _unit(_module_name(path))
        for module, line in imports_of(path):
            target = _unit(module)
            if target != source:
                edges[(source, target)].append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return edges


def _cycles(edges) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    graph = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_unit_has_a_layer():
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    missing = sorted(units - set(RANK))
    assert not missing, f"place {missing} in tests/test_layering.py LAYERS (lowest first)"


def test_imports_follow_the_layer_order():
    upward = [f"{s} ({RANK.get(s)}) imports {t} ({RANK.get(t)}) at {', '.join(sites)}"
              for (s, t), sites in sorted(unit_edges().items())
              if s in RANK and t in RANK and RANK[t] > RANK[s] and (s, t) not in KNOWN_UPWARD]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_known_upward_edges_still_exist():
    """A known exception that was fixed leaves the list, so it cannot quietly come back."""
    gone = [edge for edge in KNOWN_UPWARD if edge not in unit_edges()]
    assert not gone, f"no longer imported, remove from KNOWN_UPWARD: {gone}"


def test_no_cycle_between_units():
    edges = unit_edges()
    cycles = _cycles([e for e in edges if e not in KNOWN_UPWARD])
    detail = [f"{' <-> '.join(c)}: " + "; ".join(f"{s}->{t} at {edges[(s, t)][0]}" for (s, t) in edges
                                                 if s in c and t in c) for c in cycles]
    assert not cycles, "import cycles between packages / top-level modules:\n" + "\n".join(detail)


def test_the_checker_sees_lazy_imports():
    """The graph is built from every import statement, inside functions included."""
    edges = unit_edges()
    assert ("artifact", "output_folder") in edges  # a module-level import
    assert ("cli", "report") in edges  # cli imports report inside a function only
    assert _cycles([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == [["a", "b", "c"]]


# Module-level cycles inside one package that remain, each with the reason; this list only shrinks.
KNOWN_MODULE_CYCLES: dict[tuple[str, str], str] = {}


def test_no_new_cycle_between_modules():
    """Finer than the units: any two modules of prelnedge/, inside one package too."""
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        source = _module_name(path)
        for module, _ in imports_of(path):
            while module and not _is_module(module):  # `from a.b import name`: the module a.b
                module = module[:-1]
            if module != source:
                edges.add((".".join(source), ".".join(module)))
    cycles = [tuple(c) for c in _cycles(edges)]
    assert sorted(cycles) == sorted(KNOWN_MODULE_CYCLES), f"module cycles: {cycles}"

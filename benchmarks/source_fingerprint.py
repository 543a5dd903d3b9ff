"""Digests of Python source that ignore comments and layout, down to one function and what it uses.

The latency benchmark rebuilds an artifact only when something it was built from changed. One file
(prelnedge/quantize/onnx.py) holds several modes; hashing the whole file would rebuild every mode when
one changes. So a mode's own module is reduced to the top-level statements its function needs
(transitively: helpers, constants, imports), and the mode registry to its own entry. Digests are
taken over `ast.dump` (no line numbers), so a comment or a blank line changes nothing.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path


def _defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _body(tree: ast.Module) -> list[ast.stmt]:
    """Top-level statements without the module docstring and `from __future__` lines."""
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    return [n for n in body if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]


def needed_statements(source: str, roots: set[str]) -> list[ast.stmt]:
    """The top-level statements that define `roots` and, transitively, every module-level name they
    use. Statements that define nothing (module-level calls, `if` blocks) are always kept: they run
    on import whichever function is used."""
    body = _body(ast.parse(source))
    defines = [_defined_names(node) for node in body]
    keep = {i for i, names in enumerate(defines) if not names}
    wanted, seen = set(roots), set()
    while wanted - seen:
        name = (wanted - seen).pop()
        seen.add(name)
        for i, names in enumerate(defines):
            if name in names and i not in keep:
                keep.add(i)
                wanted |= _used_names(body[i])
    missing = set(roots) - set().union(*defines) if defines else set(roots)
    if missing:
        raise ValueError(f"not defined at the top level: {', '.join(sorted(missing))}")
    return [body[i] for i in sorted(keep)]


def _digest(nodes: list[ast.AST]) -> str:
    return hashlib.sha256("\n".join(ast.dump(n) for n in nodes).encode()).hexdigest()


def module_digest(path: Path) -> str:
    """The whole module, comments and layout aside."""
    return _digest(_body(ast.parse(Path(path).read_text(encoding="utf-8"))))


def function_digest(path: Path, function: str) -> str:
    """One top-level function of a module with everything at module level that it uses."""
    return _digest(needed_statements(Path(path).read_text(encoding="utf-8"), {function}))


def registry_digest(path: Path, registry: str, keep_entry) -> str:
    """A registry module with the tuple `registry` cut down to the entries `keep_entry(call)` keeps
    (an ast.Call), so adding or changing another entry leaves this digest alone."""
    body = _body(ast.parse(Path(path).read_text(encoding="utf-8")))
    for node in body:
        value = getattr(node, "value", None)
        if registry in _defined_names(node) and isinstance(value, (ast.Tuple, ast.List)):
            value.elts = [e for e in value.elts if isinstance(e, ast.Call) and keep_entry(e)]
    return _digest(body)


def call_literals(call: ast.Call, fields: tuple[str, ...]) -> tuple:
    """A registry entry's first fields (positional or by keyword), where they are literals."""
    values = dict(zip(fields, call.args))
    values.update({k.arg: k.value for k in call.keywords if k.arg in fields})
    return tuple(v.value if isinstance(v, ast.Constant) else None
                 for v in (values.get(f) for f in fields))

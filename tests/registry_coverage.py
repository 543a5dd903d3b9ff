"""Coverage checks for registry-driven tests: read a test's parametrization back from its marks, so
a test narrowed to fewer tasks, frameworks or exporters than the registries hold fails loudly."""

from __future__ import annotations

from typing import Callable, Iterable


def parametrized_values(test: Callable, argnames: str) -> list:
    """The values `test` is parametrized over for `argnames` (as written in its decorator)."""
    marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize" and m.args[0] == argnames]
    assert len(marks) == 1, f"{test.__name__} is not parametrized over {argnames}"
    return list(marks[0].args[1])


def uncovered(test: Callable, argnames: str, registered: Iterable) -> list:
    """Registered values `test` does not reach, in registry order; also fails when the test skips."""
    skips = [m.name for m in getattr(test, "pytestmark", []) if m.name in ("skip", "skipif", "xfail")]
    assert not skips, f"{test.__name__} is marked {skips}: a coverage test cannot count skipped cases"
    reached = set(parametrized_values(test, argnames))
    return [value for value in registered if value not in reached]

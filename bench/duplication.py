"""Measure sync/async twin code: how many lines exist only to offer an
``async def aX`` next to a sync ``X`` (DEP 0009's stage-2 wrappers).

For every class and module in a source tree, an ``async def`` named ``a<name>``
whose sibling ``<name>`` is defined in the same scope counts as a twin; its
lines (decorators and docstring included) are added up. Run on Django's
installed source and on oneloop's own package, so the evidence report can say
how much duplicated surface each approach carries.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from typing import Any


def _scopes(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    """Bodies of the module and of every class in it."""
    yield tree.body  # type: ignore[attr-defined]
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            yield node.body


def _lines(node: ast.AST) -> int:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return (node.end_lineno or node.lineno) - first + 1


def twins_in_file(path: str) -> list[dict[str, Any]]:
    """The async twins defined in one Python file."""
    with open(path, encoding="utf-8") as f:
        try:
            tree = ast.parse(f.read(), path)
        except SyntaxError:
            return []
    found = []
    for body in _scopes(tree):
        sync_names = {
            n.name
            for n in body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        for node in body:
            if (
                isinstance(node, ast.AsyncFunctionDef)
                and node.name.startswith("a")
                and node.name[1:] in sync_names
            ):
                found.append({"name": node.name, "lines": _lines(node)})
    return found


def measure_tree(root: str, skip: tuple[str, ...] = ("tests", "test")) -> dict:
    """Twin count and lines under ``root`` (test folders skipped)."""
    files = twins = lines = total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".")]
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                total += sum(1 for _ in f)
            found = twins_in_file(path)
            if found:
                files += 1
                twins += len(found)
                lines += sum(t["lines"] for t in found)
    return {
        "files_with_twins": files,
        "twins": twins,
        "twin_lines": lines,
        "total_lines": total,
    }


def measure() -> dict[str, Any]:
    """Twin code in the installed Django and in oneloop."""
    import django

    import oneloop

    return {
        "django": {"version": django.get_version(),
                   **measure_tree(os.path.dirname(django.__file__))},
        "oneloop": measure_tree(os.path.dirname(oneloop.__file__)),
    }  # fmt: skip


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=1))

"""Find oneloop functions whose body mirrors a Django function.

Every function and method in oneloop's package is set against the functions
of the installed Django by their normalised syntax trees. A oneloop function
whose best Django match covers enough of it counts as *mirrored*: its lines
(docstring excluded) add up to the duplication figure of
``docs/evidence.md``. ``python -m bench.mirror`` prints the list.

**Normalisation**, so that what a copy changes on the way does not hide it.
A function's body becomes a sequence of tokens: the type of every syntax
node, depth first, and beside it

- for a parameter or local variable, one token for all of them (a copy
  with renamed locals still matches, whatever order it introduces them in);
- for a global name, an attribute or a keyword argument, its name: these
  are what the code calls, its contract with Django, kept so that two
  bodies of the same shape that call different things differ; ``aX`` reads
  as ``X`` when Django defines an ``X`` (a twin's ``self.aclose()`` is the
  ``self.close()`` it mirrors);
- nothing for a constant's value (messages and defaults get reworded).

The docstring is dropped, and so are ``await``, ``async for`` and ``async
with``: an async twin reads as the sync code it copies.

**Similarity** is *coverage*: the share of the oneloop function's tokens
that lie in a run of :data:`RUN` consecutive tokens (about one statement)
found in the Django function too, in any order. Coverage is of the oneloop
side only, so a fragment copied out of a long Django method (a header loop)
scores as high as a whole copy, and a large function that merely calls
Django scores low. Runs that more than :data:`COMMON` Django functions
share are idioms (``super().__init__(*args, **kwargs)``, ``self.x = x``)
and count for nothing.

**What is compared.** A function of :data:`MIN_TOKENS` tokens or more is
set against every Django function that shares a run with it, and counts at
:data:`THRESHOLD`. A shorter one is set only against Django's functions of
its own name (``aX`` read as ``X``), the methods it overrides or twins,
and counts at :data:`SHORT_THRESHOLD`: a few statements are too little to
tell a copy from chance otherwise, and a thin override (``super()`` plus a
line) covers little of the method it extends. A function inside a mirrored
one is not counted again. Django's functions are indexed by their runs
once, so a pass over its ~150,000 lines takes a few seconds.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

THRESHOLD = 0.6
"""Lowest coverage that counts a function of :data:`MIN_TOKENS` or more as
mirrored. On oneloop's tree the hand-written twins of Django code score
0.6 and above (the forked ``load_middleware`` 0.61, the SMTP backend's
``asend_messages`` 0.65, the test client's handler 0.72, the cache client
0.75 to 1.0); the best match of every other function stays at or below
0.53. ``python -m bench.mirror --floor 0.3`` lists both sides of the gap."""
SHORT_THRESHOLD = 0.7
"""The same for a shorter function, matched by name only: two-line
``__init__`` methods that set attributes reach 0.64 against an unrelated
``__init__``, the short twins of the cache backend 0.73 and above."""
MIN_TOKENS = 40
"""Tokens in the shortest body compared by content (about four lines)."""
RUN = 8
"""Tokens in the shortest run that counts as shared (about one statement)."""
COMMON = 50
"""Django functions a run may appear in before it counts as an idiom."""
LOCAL = "v"
"""The token of every parameter and local variable."""

Function = ast.FunctionDef | ast.AsyncFunctionDef
_SKIP = (ast.expr_context, ast.Await)
_ASYNC = {"AsyncFor": "For", "AsyncWith": "With", "AsyncFunctionDef": "FunctionDef"}


@dataclasses.dataclass(frozen=True)
class Body:
    """One function's normalised body, and where it is."""

    name: str
    """Qualified name: ``module.Class.method``."""
    path: str
    first: int
    last: int
    lines: int
    """Lines from the first decorator to the end, docstring excluded."""
    tokens: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Mirror:
    """A oneloop function and the Django function it mirrors."""

    ours: Body
    theirs: Body
    score: float


def _docstring_lines(node: Function) -> int:
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return (first.end_lineno or first.lineno) - first.lineno + 1
    return 0


def _unasync(name: str, sync_names: frozenset[str]) -> str:
    return name[1:] if name.startswith("a") and name[1:] in sync_names else name


def tokens(node: Function, sync_names: frozenset[str] = frozenset()) -> list[str]:
    """The normalised token sequence of a function's body (see the module
    docstring); ``sync_names`` are the names an ``aX`` may be the twin of."""
    local = {
        n.arg if isinstance(n, ast.arg) else n.id
        for n in ast.walk(node)
        if isinstance(n, ast.arg)
        or (isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store | ast.Del))
    }
    out: list[str] = []

    def visit(n: ast.AST) -> None:
        if not isinstance(n, _SKIP):
            kind = type(n).__name__
            out.append(_ASYNC.get(kind, kind))
        if isinstance(n, ast.Name):
            out.append(LOCAL if n.id in local else _unasync(n.id, sync_names))
        elif isinstance(n, ast.arg):
            out.append(LOCAL)
        elif isinstance(n, ast.Attribute):
            out.append("." + _unasync(n.attr, sync_names))
        elif isinstance(n, ast.keyword):
            out.append(f"{n.arg}=")
        elif isinstance(n, Function | ast.ClassDef):
            out.append(LOCAL)
        for child in ast.iter_child_nodes(n):
            visit(child)

    body = node.body[1:] if _docstring_lines(node) else node.body
    for stmt in body:
        visit(stmt)
    return out


def _functions(tree: ast.AST, prefix: str) -> Iterator[tuple[str, Function]]:
    """Every function in ``tree`` with its qualified name, outer ones first."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, Function):
            yield f"{prefix}.{node.name}", node
            yield from _functions(node, f"{prefix}.{node.name}")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}.{node.name}")
        elif not isinstance(node, ast.expr):
            yield from _functions(node, prefix)


def parse(root: str) -> Iterator[tuple[str, str, ast.Module]]:
    """(module name, path, tree) for every Python file under the package
    directory ``root``."""
    base = os.path.dirname(root)
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            module = os.path.relpath(path, base)[:-3].replace(os.sep, ".")
            with open(path, encoding="utf-8", errors="replace") as f:
                try:
                    tree = ast.parse(f.read(), path)
                except SyntaxError:
                    continue
            yield module.removesuffix(".__init__"), path, tree


Tree = tuple[str, str, ast.Module]


def bodies(trees: list[Tree], sync_names: frozenset[str]) -> list[Body]:
    """Every function in ``trees`` (from :func:`parse`), normalised."""
    found = []
    for module, path, tree in trees:
        for name, node in _functions(tree, module):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            last = node.end_lineno or node.lineno
            found.append(Body(
                name=name, path=path, first=first, last=last,
                lines=last - first + 1 - _docstring_lines(node),
                tokens=tuple(tokens(node, sync_names)),
            ))  # fmt: skip
    return found


def defined_names(trees: list[Tree]) -> frozenset[str]:
    """The names of every function defined in ``trees``."""
    return frozenset(
        node.name
        for _, _, tree in trees
        for node in ast.walk(tree)
        if isinstance(node, Function)
    )


def _grams(tokens: tuple[str, ...]) -> list[int]:
    """The runs of :data:`RUN` tokens, hashed, by start position."""
    return [hash(tokens[i : i + RUN]) for i in range(len(tokens) - RUN + 1)]


def coverage(ours: list[int | None], theirs: set[int]) -> float:
    """Share of the tokens behind the runs ``ours`` (None: a run that does
    not count) that lie in a run also found in ``theirs``."""
    covered = reach = 0
    for i, gram in enumerate(ours):
        if gram is not None and gram in theirs:
            covered += i + RUN - max(i, reach)
            reach = i + RUN
    return covered / (len(ours) + RUN - 1)


def short_name(body: Body, sync_names: frozenset[str]) -> str:
    """A function's own name, ``aX`` read as ``X`` when ``X`` is known."""
    return _unasync(body.name.rpartition(".")[2], sync_names)


class Index:
    """Django's functions by the runs of tokens they contain and by name."""

    def __init__(self, bodies: list[Body], sync_names: frozenset[str]) -> None:
        self.sync_names = sync_names
        self.bodies = [b for b in bodies if len(b.tokens) >= RUN]
        self.grams = [set(_grams(b.tokens)) for b in self.bodies]
        self.holders: dict[int, list[int]] = {}
        self.named: dict[str, list[int]] = {}
        for k, (body, grams) in enumerate(zip(self.bodies, self.grams, strict=True)):
            self.named.setdefault(short_name(body, sync_names), []).append(k)
            for gram in grams:
                self.holders.setdefault(gram, []).append(k)

    def best(self, body: Body) -> tuple[float, Body | None]:
        """The Django function that covers most of ``body``, and how much:
        by content for a body of :data:`MIN_TOKENS` or more, by name for a
        shorter one (see the module docstring)."""
        grams = [
            g if len(self.holders.get(g, ())) <= COMMON else None
            for g in _grams(body.tokens)
        ]
        candidates = set(self.named.get(short_name(body, self.sync_names), ()))
        if len(body.tokens) >= MIN_TOKENS:
            candidates.update(k for g in grams if g for k in self.holders.get(g, ()))
        best, found = 0.0, None
        for k in sorted(candidates):
            score = coverage(grams, self.grams[k])
            if score > best:
                best, found = score, self.bodies[k]
        return best, found


def mirrors(ours: list[Body], index: Index, floor: float | None = None) -> list[Mirror]:
    """Each function of ``ours`` that ``index`` covers to the threshold of
    its size (:data:`THRESHOLD`, :data:`SHORT_THRESHOLD`), or to ``floor``
    when given. A function inside a counted one is not counted again."""
    found: list[Mirror] = []
    for body in ours:
        if len(body.tokens) < RUN or any(
            m.ours.path == body.path and m.ours.first <= body.first <= m.ours.last
            for m in found
        ):
            continue
        score, match = index.best(body)
        if floor is None:
            short = len(body.tokens) < MIN_TOKENS
            floor_here = SHORT_THRESHOLD if short else THRESHOLD
        else:
            floor_here = floor
        if match and score >= floor_here:
            found.append(Mirror(body, match, score))
    return found


GENERATED_MARK = "GENERATED by"
"""Words in a module docstring that mark it as generated from Django's source
(and checked against it by the tests), as psycopg marks its sync modules."""


def _generated(tree: ast.Module) -> bool:
    return GENERATED_MARK in (ast.get_docstring(tree) or "")


def _total_lines(trees: list[Tree]) -> int:
    total = 0
    for _, path, _ in trees:
        with open(path, encoding="utf-8", errors="replace") as f:
            total += sum(1 for _ in f)
    return total


def measure(floor: float | None = None) -> dict[str, Any]:
    """oneloop's functions that mirror a function of the installed Django:
    one row each, best first, with the total of their lines."""
    import django

    import oneloop

    django_root = os.path.dirname(django.__file__)
    ours_root = os.path.dirname(oneloop.__file__)
    theirs, ours = list(parse(django_root)), list(parse(ours_root))
    names = defined_names(theirs)
    index = Index(bodies(theirs, names), names)
    found = mirrors(bodies(ours, names), index, floor)
    found.sort(key=lambda m: (-m.ours.lines, m.ours.name))
    generated = {path for _, path, tree in ours if _generated(tree)}
    top = os.path.dirname(ours_root)
    return {
        "django": django.get_version(),
        "threshold": THRESHOLD,
        "short_threshold": SHORT_THRESHOLD,
        "min_tokens": MIN_TOKENS,
        "rows": [
            {
                "function": m.ours.name,
                "path": os.path.relpath(m.ours.path, top),
                "first": m.ours.first,
                "last": m.ours.last,
                "lines": m.ours.lines,
                "mirrors": m.theirs.name,
                "score": round(m.score, 2),
                "generated": m.ours.path in generated,
            }
            for m in found
        ],
        "lines": sum(m.ours.lines for m in found if m.ours.path not in generated),
        "generated_lines": sum(m.ours.lines for m in found if m.ours.path in generated),
        "total_lines": _total_lines(ours),
    }


def main(argv: list[str] | None = None) -> int:
    """Print oneloop's mirrored functions, one line each, then the total."""
    parser = argparse.ArgumentParser(prog="python -m bench.mirror")
    parser.add_argument(
        "--floor", type=float,
        help="list every function whose best match reaches this score, "
        "instead of the thresholds (to see both sides of them)",
    )  # fmt: skip
    found = measure(parser.parse_args(argv).floor)
    for row in found["rows"]:
        print(
            f"{row['score']:.2f} {row['lines']:4d}  {row['path']}:{row['first']} "
            f"{row['function']}  ~ {row['mirrors']}"
            + ("  (generated)" if row["generated"] else "")
        )
    print(
        f"{len(found['rows'])} functions mirror Django {found['django']}: "
        f"{found['lines']} lines written by hand, {found['generated_lines']} "
        f"generated from its source (oneloop: {found['total_lines']} lines)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

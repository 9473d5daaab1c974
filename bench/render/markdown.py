"""Markdown building blocks shared by every renderer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    """A Markdown table, one line per row."""
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def number(value: float | None, digits: int = 0) -> str:
    """``value`` with thousands separators and ``digits`` decimals; "-" for
    a missing figure."""
    return "-" if value is None else f"{value:,.{digits}f}"


def fmt(value: Any, digits: int = 0) -> str:
    """A table cell: a float as :func:`number` writes it, anything else as
    it is (a count, a name); "-" for a missing figure."""
    return number(value, digits) if isinstance(value, float | None) else str(value)


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``1.23x``; "-" when either is missing or zero."""
    return f"{a / b:.2f}x" if a and b else "-"

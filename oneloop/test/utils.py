"""``CaptureQueriesContext`` (and so ``assertNumQueries``) in async tests."""

from __future__ import annotations

from typing import Any

from django.test import utils as django_utils

__all__ = ["PATCHES"]


_stock_enter = django_utils.CaptureQueriesContext.__enter__


def _capture_queries_enter(
    self: django_utils.CaptureQueriesContext,
) -> django_utils.CaptureQueriesContext:
    """Django's ``CaptureQueriesContext.__enter__``, minus its
    ``ensure_connection()`` call when the connection is already open.

    That call is guarded by ``@async_unsafe``: in an ``async def`` test it
    raises ``SynchronousOnlyOperation`` even though the test's connection is
    open (a ``TestCase`` transaction holds it), and with a connection open it
    does nothing anyway. The queries of every task that uses the connection
    (the test's, its child tasks', the test client's requests) are counted.
    """
    connection = self.connection
    if connection.connection is None:
        return _stock_enter(self)
    connection.ensure_connection = _already_connected  # type: ignore[method-assign]
    try:
        return _stock_enter(self)
    finally:
        del connection.ensure_connection


def _already_connected() -> None:
    """Stands in for ``ensure_connection()`` on an open connection."""


PATCHES: list[tuple[Any, str, Any]] = [
    (django_utils.CaptureQueriesContext, "__enter__", _capture_queries_enter),
]

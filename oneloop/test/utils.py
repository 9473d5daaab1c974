"""``CaptureQueriesContext`` (and so ``assertNumQueries``) in async tests."""

from __future__ import annotations

from typing import Any

from django.core.signals import request_started
from django.db import reset_queries
from django.test import utils as django_utils

__all__ = ["PATCHES"]


def _capture_queries_enter(
    self: django_utils.CaptureQueriesContext,
) -> django_utils.CaptureQueriesContext:
    """``CaptureQueriesContext.__enter__`` that connects only when there is
    no connection yet.

    Django's calls ``ensure_connection()`` unconditionally, which is guarded
    by ``@async_unsafe``: in an ``async def`` test it raises
    ``SynchronousOnlyOperation`` even though the test's connection is open
    (a ``TestCase`` transaction holds it). Skipping the call when connected
    changes nothing else; the queries of every task that uses the
    connection (the test's, its child tasks', the test client's requests)
    are counted.
    """
    self.force_debug_cursor = self.connection.force_debug_cursor
    self.connection.force_debug_cursor = True
    # Run any initialization queries if needed so that they won't be
    # included as part of the count.
    if self.connection.connection is None:
        self.connection.ensure_connection()
    self.initial_queries = len(self.connection.queries_log)
    self.final_queries = None
    request_started.disconnect(reset_queries)
    return self


PATCHES: list[tuple[Any, str, Any]] = [
    (django_utils.CaptureQueriesContext, "__enter__", _capture_queries_enter),
]

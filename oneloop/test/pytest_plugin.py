"""pytest plugin: async tests see the test's connection outside bridges too.

pytest-asyncio runs an ``async def`` test in a context copied before
pytest-django opened the test's transaction, and Django keeps connections
per context on a thread whose loop runs. Code that runs in a bridge (every
ORM ``a*()`` method, ``oneloop.atomic``, the test client) already uses the
test's pinned connection; this plugin makes code that reaches
``django.db.connection`` directly on the loop see it too, for example
``django_assert_num_queries``.

Enable it in the project's root ``conftest.py``::

    pytest_plugins = ["oneloop.test.pytest_plugin"]
"""

from __future__ import annotations

import unittest
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from oneloop.test.testcases import share_test_connections

__all__ = ["oneloop_test_connections"]

# pytest-django's fixtures that open the test's transaction (or not).
_DATABASE_FIXTURES = (
    "_django_db_marker",
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
)


@pytest.fixture(autouse=True)
def _oneloop_database_first(request: pytest.FixtureRequest) -> None:
    """Set up the test's database fixtures before the test's loop uses them
    (sync: a transaction is not opened from inside a running loop)."""
    if isinstance(request.instance, unittest.TestCase):
        return  # Django's TestCase opens its transaction around the test
    for name in _DATABASE_FIXTURES:
        if name in request.fixturenames:
            request.getfixturevalue(name)


@pytest_asyncio.fixture(autouse=True)
async def oneloop_test_connections(
    _oneloop_database_first: None,
) -> AsyncIterator[None]:
    """In the test's context, ``django.db.connections`` are the pinned ones."""
    with share_test_connections():
        yield

"""pytest plugin: async tests see the test's connection outside bridges too.

pytest-asyncio runs an ``async def`` test in a context copied before
pytest-django opened the test's transaction, and Django keeps connections
per context on a thread whose loop runs. Code that runs in a bridge (every
ORM ``a*()`` method, ``oneloop.atomic``, the test client) already uses the
test's pinned connection; this plugin makes code that reaches
``django.db.connection`` directly on the loop see it too, for example
``django_assert_num_queries``.

pytest loads it by itself (a ``pytest11`` entry point of the distribution):
there is nothing to add to a project's ``conftest.py``. It does nothing
unless pytest-asyncio is installed and the Django settings in use have
``"oneloop"`` in ``INSTALLED_APPS``.
"""

from __future__ import annotations

import unittest
from collections.abc import AsyncIterator

import pytest

__all__ = ["oneloop_test_connections"]

# pytest-django's fixtures that open the test's transaction (or not).
_DATABASE_FIXTURES = (
    "_django_db_marker",
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
)


def _active() -> bool:
    """Whether this test run is a oneloop project's: Django is set up with
    ``"oneloop"`` installed."""
    from django.apps import apps
    from django.conf import settings

    return settings.configured and apps.ready and apps.is_installed("oneloop")


@pytest.fixture(autouse=True)
def _oneloop_database_first(request: pytest.FixtureRequest) -> None:
    """Set up the test's database fixtures before the test's loop uses them
    (sync: a transaction is not opened from inside a running loop)."""
    if isinstance(request.instance, unittest.TestCase) or not _active():
        return  # Django's TestCase opens its transaction around the test
    for name in _DATABASE_FIXTURES:
        if name in request.fixturenames:
            request.getfixturevalue(name)


try:
    import pytest_asyncio
except ImportError:  # no async tests to help
    pass
else:

    @pytest_asyncio.fixture(autouse=True)
    async def oneloop_test_connections(
        _oneloop_database_first: None,
    ) -> AsyncIterator[None]:
        """In the test's context, ``django.db.connections`` are the pinned
        ones."""
        if not _active():
            yield
            return
        from oneloop.test.testcases import share_test_connections

        with share_test_connections():
            yield

"""Testing a oneloop project: ``django.test``, with the test's data seen by
every task.

``oneloop.install()`` applies ``PATCHES`` (see ``docs/testing.md``):

* while a ``TestCase`` transaction is open, every task on any thread uses
  the test's connection, so ``async def`` tests, test-client requests and
  child tasks of ``gather`` see the test's rows and roll back with it;
* ``django.test.Client`` and ``AsyncClient`` serve requests as oneloop's
  ASGI handler does (sync views in bridge greenlets);
* ``LiveServerTestCase`` (and pytest-django's ``live_server``) serve the
  project with oneloop's ASGI handler on uvicorn;
* ``assertNumQueries`` works inside ``async def`` tests.
"""

from __future__ import annotations

from typing import Any

from oneloop.test import client, testcases, utils
from oneloop.test.client import AsyncClient, AsyncClientHandler, Client, ClientHandler
from oneloop.test.testcases import LiveServerTestCase, LiveServerThread

__all__ = [
    "PATCHES",
    "AsyncClient",
    "AsyncClientHandler",
    "Client",
    "ClientHandler",
    "LiveServerTestCase",
    "LiveServerThread",
]

# (owner, attribute, replacement) for oneloop.patches.install().
PATCHES: list[tuple[Any, str, Any]] = [
    *testcases.PATCHES,
    *client.PATCHES,
    *utils.PATCHES,
]

import threading

import pytest
from django.db import connections
from django.db.backends.signals import connection_created


class QueryThreads:
    """Records the thread of every query run through Django's cursor, on
    every connection made while it is active."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def __call__(self, execute, sql, params, many, context):
        self.threads.append(threading.get_ident())
        return execute(sql, params, many, context)

    def on_connect(self, sender, connection, **kwargs):
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)


@pytest.fixture
def query_threads():
    recorder = QueryThreads()
    # Connections made from now on, and this thread's own (which tests pin
    # for an in-memory SQLite database).
    connection_created.connect(recorder.on_connect)
    existing = connections.all()
    for conn in existing:
        conn.execute_wrappers.append(recorder)
    yield recorder
    connection_created.disconnect(recorder.on_connect)
    for conn in existing:
        conn.execute_wrappers.remove(recorder)

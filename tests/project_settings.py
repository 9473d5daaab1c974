"""Settings shared by the projects the suite serves in processes of their
own (``tests/asgi/project``, ``tests/channels/project``)."""

from __future__ import annotations

import os
from typing import Any


def postgresql(name: str, *, stock: bool, pool_max: int, timeout: float) -> dict:
    """A ``DATABASES`` entry on the suite's PostgreSQL server, pooled: on
    oneloop's ENGINE, or with ``stock`` on Django's own (the comparisons)."""
    engine = "django" if stock else "oneloop"
    pool: dict[str, Any] = {"min_size": 1, "max_size": pool_max, "timeout": timeout}
    return {
        "ENGINE": f"{engine}.db.backends.postgresql",
        "NAME": name,
        "USER": os.environ.get("ONELOOP_TEST_PG_USER", "postgres"),
        "HOST": os.environ.get("ONELOOP_TEST_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("ONELOOP_TEST_PG_PORT", "5432"),
        "OPTIONS": {"pool": pool},
    }

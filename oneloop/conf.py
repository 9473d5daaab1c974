"""oneloop's settings: the ``ONELOOP`` dict in Django settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings

__all__ = ["DEFAULTS", "get"]

DEFAULTS: dict[str, Any] = {
    # How sync views and MiddlewareMixin middleware run under oneloop's ASGI
    # handler: "greenlet" (on the loop, in a bridge) or "thread" (stock).
    "SYNC_VIEWS": "greenlet",
    # Warn when the loop is blocked longer than this many milliseconds
    # (None: off).
    "BLOCK_WARN_MS": 100,
}


def get(name: str) -> Any:
    """The value of ``ONELOOP[name]``, or its default."""
    return getattr(settings, "ONELOOP", {}).get(name, DEFAULTS[name])

"""oneloop's settings: the ``ONELOOP`` dict in Django settings."""

from __future__ import annotations

from numbers import Real
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["DEFAULTS", "SYNC_VIEWS_CHOICES", "clean_up_timeout", "get", "problems"]

DEFAULTS: dict[str, Any] = {
    # How sync views and MiddlewareMixin middleware run under oneloop's ASGI
    # handler: "greenlet" (on the loop, in a bridge) or "thread" (stock).
    "SYNC_VIEWS": "greenlet",
    # Warn when the loop is blocked longer than this many milliseconds
    # (None: off).
    "BLOCK_WARN_MS": 100,
    # Seconds the clean-up after a cancellation (rollback, giving connections
    # back) stays shielded from further cancellations; past it, a repeated
    # cancellation ends it and the connection is discarded.
    "CLEANUP_TIMEOUT": 5.0,
}
SYNC_VIEWS_CHOICES = ("greenlet", "thread")


def get(name: str) -> Any:
    """The value of ``ONELOOP[name]``, or its default."""
    return (getattr(settings, "ONELOOP", None) or {}).get(name, DEFAULTS[name])


def clean_up_timeout() -> float:
    """``ONELOOP["CLEANUP_TIMEOUT"]``; the default when settings are not
    configured (the bridge also serves code that runs without Django set up)."""
    try:
        return float(get("CLEANUP_TIMEOUT"))
    except ImproperlyConfigured:
        return float(DEFAULTS["CLEANUP_TIMEOUT"])


def problems() -> list[tuple[str, str]]:
    """What is wrong with ``settings.ONELOOP``: (what, what to do) pairs.
    Read by the system check and by the ASGI handler at start-up."""
    values = getattr(settings, "ONELOOP", None)
    if values is None:
        return []
    if not isinstance(values, dict):
        return [
            (
                f"ONELOOP is {values!r}.",
                'Use a dict, e.g. {"SYNC_VIEWS": "greenlet", "BLOCK_WARN_MS": 100}.',
            )
        ]
    found = []
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        found.append(
            (
                f"ONELOOP has unknown keys: {', '.join(unknown)}.",
                f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            )
        )
    sync_views = values.get("SYNC_VIEWS", DEFAULTS["SYNC_VIEWS"])
    if sync_views not in SYNC_VIEWS_CHOICES:
        found.append(
            (
                f"ONELOOP['SYNC_VIEWS'] is {sync_views!r}.",
                'Use "greenlet" (sync views on the loop, the default) or "thread" '
                "(Django's stock threads).",
            )
        )
    block = values.get("BLOCK_WARN_MS", DEFAULTS["BLOCK_WARN_MS"])
    if block is not None and (
        not isinstance(block, Real) or isinstance(block, bool) or block <= 0
    ):
        found.append(
            (
                f"ONELOOP['BLOCK_WARN_MS'] is {block!r}.",
                "Use a number of milliseconds above 0 (default 100), or None to "
                "turn the loop-block watchdog off.",
            )
        )
    clean_up = values.get("CLEANUP_TIMEOUT", DEFAULTS["CLEANUP_TIMEOUT"])
    if not isinstance(clean_up, Real) or isinstance(clean_up, bool) or clean_up <= 0:
        found.append(
            (
                f"ONELOOP['CLEANUP_TIMEOUT'] is {clean_up!r}.",
                "Use a number of seconds above 0 (default 5): how long the "
                "clean-up after a cancellation is shielded from another one.",
            )
        )
    return found

"""Async-native cache backends for Django.

``CACHES = {"default": {"BACKEND": "oneloop.cache.backends.redis.RedisCache",
"LOCATION": "redis://127.0.0.1:6379/0"}}`` — see ``docs/cache.md``.

The backend module imports ``redis`` only when a cache is used, so importing
this package does not need the ``[redis]`` extra.
"""

from __future__ import annotations

__all__ = ["aclose_pools"]


async def aclose_pools() -> None:
    """Close every async cache connection pool that the running loop opened.

    Loops run by ``asyncio.run()`` / ``asyncio.Runner`` (uvicorn,
    pytest-asyncio) close them by themselves at shutdown; call this from a
    shutdown hook of a loop that is closed by hand.
    """
    from oneloop.cache.backends.redis import aclose_pools as close_redis_pools

    await close_redis_pools()

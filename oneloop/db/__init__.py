"""oneloop's database support: per-task connections on async-native drivers."""

from __future__ import annotations

__all__ = ["aclose_pools"]


async def aclose_pools() -> None:
    """Close the database connection pools of the running loop.

    oneloop's ASGI handler calls it at lifespan shutdown; pools also close by
    themselves when ``asyncio.run()`` (or ``asyncio.Runner``) shuts the loop
    down. Call it yourself if you run and close a loop by hand.
    """
    from oneloop.db.backends._pools import aclose_pools as close_pools

    await close_pools()

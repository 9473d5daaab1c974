"""oneloop's database support: per-task connections on async-native drivers."""

from __future__ import annotations

__all__ = ["aclose_pools"]


async def aclose_pools() -> None:
    """Close the PostgreSQL connection pools of the running loop (ASGI
    lifespan shutdown calls it; ``asyncio.run`` shutdown does it anyway)."""
    try:
        from oneloop.db.backends.postgresql.base import aclose_pools as close_pg
    except ImportError:  # psycopg is not installed: no pools to close
        return
    await close_pg()

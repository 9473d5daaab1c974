"""django-oneloop: one event loop for all of Django.

Django's sync code runs on the event loop inside greenlets; only the real IO
points (database driver, Redis, SMTP) become awaits on async-native drivers.
"""

from oneloop.bridge import (
    MissingBridge,
    await_,
    gather,
    in_bridge,
    offload,
    run_sync,
    sync_to_async,
)
from oneloop.connections import aclose_connections, close_connections
from oneloop.db import aclose_pools
from oneloop.dual import dual
from oneloop.patches import install, uninstall
from oneloop.transaction import atomic

__version__ = "0.1.0"

__all__ = [
    "MissingBridge",
    "aclose_connections",
    "aclose_pools",
    "atomic",
    "await_",
    "close_connections",
    "dual",
    "gather",
    "in_bridge",
    "install",
    "offload",
    "run_sync",
    "sync_to_async",
    "uninstall",
]

"""Reads go to the ``replica`` alias, writes and migrations to ``default``.

With PostgreSQL, point ``DATABASE_REPLICA_URL`` at a streaming replica (or a
PgBouncer in front of one); by default the replica alias is a second
connection to the primary, which is enough to see the routing work.
"""

from __future__ import annotations

from typing import Any


class PrimaryReplicaRouter:
    """Django database router: read from the replica, write to the primary."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        return "replica"

    def db_for_write(self, model: type, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # Both aliases hold the same data, so objects may be related freely.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == "default"

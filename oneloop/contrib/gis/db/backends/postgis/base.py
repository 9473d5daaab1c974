"""PostGIS ENGINE: Django's PostGIS backend on oneloop's PostgreSQL ENGINE.

Outside a bridge this is Django's PostGIS backend, unchanged. Inside one the
connection is psycopg's ``AsyncConnection`` behind oneloop's facade, and it
gets the same geometry, geography and raster types (loaders and dumpers) as
Django gives a sync connection.
"""

from __future__ import annotations

from typing import Any

from django.contrib.gis.db.backends.postgis import base as postgis
from psycopg.types import TypeInfo

from oneloop.bridge import await_
from oneloop.db.backends.postgresql import base as oneloop_postgresql
from oneloop.db.backends.postgresql._facade import ConnectionFacade

from .features import DatabaseFeatures

__all__ = ["DatabaseWrapper"]


class DatabaseWrapper(postgis.DatabaseWrapper, oneloop_postgresql.DatabaseWrapper):
    """Django's PostGIS ``DatabaseWrapper`` that goes async in a bridge."""

    features_class = DatabaseFeatures

    def register_geometry_adapters(
        self, pg_connection: Any, clear_caches: bool = False
    ) -> None:
        """Register PostGIS's types on a new connection, as Django does; on
        the async connection of a bridge too.

        Django looks the types up with ``TypeInfo.fetch(connection)``, which
        only a sync connection answers at once: for the facade, the lookup is
        awaited here and the result goes into Django's per-alias cache, so
        Django's own code then registers the types on the async connection.
        """
        if isinstance(pg_connection, ConnectionFacade):
            pg_connection = pg_connection.async_connection
            for typename, registry in self._type_infos.items():
                if clear_caches or self.alias not in registry:
                    registry[self.alias] = await_(
                        TypeInfo.fetch(pg_connection, typename)
                    )
            clear_caches = False
        super().register_geometry_adapters(pg_connection, clear_caches)

"""Django's test suite (its ``gis_tests``) on oneloop's PostGIS ENGINE."""

from compat.settings.base import *  # noqa: F403
from compat.settings.base import postgresql_databases

DATABASES = postgresql_databases("oneloop.contrib.gis.db.backends.postgis")

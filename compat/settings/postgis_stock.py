"""Django's test suite (its ``gis_tests``) on Django's own PostGIS ENGINE: the
baseline."""

from compat.settings.base import *  # noqa: F403
from compat.settings.base import postgresql_databases

DATABASES = postgresql_databases("django.contrib.gis.db.backends.postgis")

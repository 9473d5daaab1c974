"""Django's test suite on Django's own postgresql ENGINE: the baseline."""

from compat.settings.base import *  # noqa: F403
from compat.settings.base import postgresql_databases

DATABASES = postgresql_databases("django.db.backends.postgresql")

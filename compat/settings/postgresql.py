"""Django's test suite on oneloop's postgresql ENGINE."""

from compat.settings.base import *  # noqa: F403
from compat.settings.base import postgresql_databases

DATABASES = postgresql_databases("oneloop.db.backends.postgresql")

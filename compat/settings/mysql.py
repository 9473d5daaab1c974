"""Django's test suite on oneloop's mysql ENGINE."""

from compat.settings.base import *  # noqa: F403
from compat.settings.base import mysql_databases

DATABASES = mysql_databases("oneloop.db.backends.mysql")

"""Django's test suite on Django's own mysql ENGINE: the baseline."""

from compat.settings.base import *  # noqa: F403
from compat.settings.base import mysql_databases

DATABASES = mysql_databases("django.db.backends.mysql")

from django.apps import AppConfig
from django.db.backends.signals import connection_created

from tests.sleeping_sql import register_sleep


class ProjectConfig(AppConfig):
    name = "tests.channels.project"
    label = "channels_project"

    def ready(self) -> None:
        # SQLite connections get oneloop_sleep(), PostgreSQL has pg_sleep().
        connection_created.connect(register_sleep)

"""The ``"oneloop"`` Django app: installing it installs oneloop."""

from django.apps import AppConfig


class OneloopConfig(AppConfig):
    name = "oneloop"
    verbose_name = "oneloop"

    def ready(self) -> None:
        from oneloop import checks  # noqa: F401  (registers the system checks)
        from oneloop.patches import install

        install()

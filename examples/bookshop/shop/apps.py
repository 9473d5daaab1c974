"""The bookshop's one app."""

from django.apps import AppConfig, apps


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Bookshop"

    def ready(self) -> None:
        if apps.is_installed("oneloop"):
            # Async validators and awaitables met in templates need oneloop's
            # form and template adapters; make sure both are in place.
            from oneloop import forms, template

            if not forms.installed():
                forms.install()
            if not template.installed():
                template.install()

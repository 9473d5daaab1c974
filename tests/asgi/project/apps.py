import threading

from django.apps import AppConfig
from django.core.signals import request_finished, request_started


def _on_started(sender, **kwargs):
    from tests.asgi.project.views import started_thread

    started_thread.set(threading.get_ident())


def _on_finished(sender, **kwargs):
    from tests.asgi.project.views import finished_threads

    finished_threads.append(threading.get_ident())
    del finished_threads[:-50]


class ProjectConfig(AppConfig):
    name = "tests.asgi.project"
    label = "asgiproject"

    def ready(self):
        request_started.connect(_on_started, dispatch_uid="asgiproject-started")
        request_finished.connect(_on_finished, dispatch_uid="asgiproject-finished")

"""The Channels routing with Django's stock handler on the "http" route:
what the ``oneloop.W101`` check warns about."""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.channels.project.settings")

application = ProtocolTypeRouter(
    {"http": get_asgi_application(), "websocket": URLRouter([])}
)

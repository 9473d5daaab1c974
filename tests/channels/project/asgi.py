"""The standard Channels routing, with oneloop's handler for HTTP (Django's
with ``ONELOOP_CHANNELS_STOCK=1``).

As the Channels docs write it: Django is set up (by
``get_asgi_application()``) before the consumers and their models are
imported."""

import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.channels.project.settings")

if os.environ.get("ONELOOP_CHANNELS_STOCK") == "1":
    from django.core.asgi import get_asgi_application
else:
    from oneloop.asgi import get_asgi_application

http = get_asgi_application()

from tests.channels.project.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http,
        # oneloop's handler answers the lifespan protocol too.
        "lifespan": http,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

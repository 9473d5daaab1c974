"""ASGI entry point: ``uvicorn bookshop.asgi:application``.

Channels' standard routing: HTTP (and the lifespan protocol) goes to
oneloop's handler, which runs sync views and middleware on the event loop;
WebSockets go to the shop's consumers. With ``BOOKSHOP_STOCK=1`` HTTP goes to
Django's own handler, for comparison. Static files (the admin's CSS) are
served by Django's static-files handler, so the demo needs nothing but
uvicorn.
"""

import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bookshop.settings")

if os.environ.get("BOOKSHOP_STOCK") == "1":
    from django.core.asgi import get_asgi_application
else:
    from oneloop.asgi import get_asgi_application

http = ASGIStaticFilesHandler(get_asgi_application())

# Django is set up: the consumers and their models can be imported.
from shop.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http,
        "lifespan": http,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

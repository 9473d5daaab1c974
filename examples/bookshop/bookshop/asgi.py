"""ASGI entry point: ``uvicorn bookshop.asgi:application``.

oneloop's handler runs sync views and middleware on the event loop; with
``BOOKSHOP_STOCK=1`` it is Django's own handler, for comparison. Static files
(the admin's CSS) are served by Django's static-files handler, so the demo
needs nothing but uvicorn.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bookshop.settings")

if os.environ.get("BOOKSHOP_STOCK") == "1":
    from django.core.asgi import get_asgi_application
else:
    from oneloop.asgi import get_asgi_application

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

application = ASGIStaticFilesHandler(get_asgi_application())

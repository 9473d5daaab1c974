"""ASGI application of the reliability project: oneloop's handler."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.reliability.project.settings")

from oneloop.asgi import get_asgi_application

application = get_asgi_application()

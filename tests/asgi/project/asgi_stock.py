"""Django's stock ASGI handler on the same project, for comparisons."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi.project.settings")

from django.core.asgi import get_asgi_application

application = get_asgi_application()

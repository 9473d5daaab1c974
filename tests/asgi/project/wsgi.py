"""Django's stock WSGI handler on the same project, for comparisons."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi.project.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

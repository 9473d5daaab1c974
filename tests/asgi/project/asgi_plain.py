"""oneloop's handler alone (no static files wrapper), for benchmarks."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi.project.settings")

from oneloop.asgi import get_asgi_application

application = get_asgi_application()

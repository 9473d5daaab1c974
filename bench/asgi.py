"""ASGI entry point of the benchmark's Django project.

Stock Django's handler, or oneloop's (``oneloop.asgi.get_asgi_application``)
when ``BENCH_SYSTEM=oneloop``.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

if os.environ.get("BENCH_SYSTEM") == "oneloop":
    from oneloop.asgi import get_asgi_application
else:
    from django.core.asgi import get_asgi_application

application = get_asgi_application()

"""The test project's ASGI application: oneloop's handler behind Django's
static files handler (as ``runserver`` would put it)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi.project.settings")

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from oneloop.asgi import get_asgi_application

application = ASGIStaticFilesHandler(get_asgi_application())

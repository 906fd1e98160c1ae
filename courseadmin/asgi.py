"""ASGI entry point of the example course site, for an ASGI server such as uvicorn."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseadmin.settings")

application = get_asgi_application()

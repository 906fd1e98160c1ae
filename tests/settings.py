"""Settings for the test suite: the smallest Django project that hosts adminflow.

``DATABASE_URL`` picks the database (SQLite in memory by default), so the
same suite runs against PostgreSQL in CI.
"""

import os
import tempfile
from pathlib import Path

import django
import environ

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "adminflow-tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.messages",
    "django.contrib.sessions",
    "adminflow",
    "tests.testapp",
    "courseadmin.course",
]

# The example site's own templates (its emails) live in the top-level templates/.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# What the admin needs, so the admin pages (the course's, adminflow's) can be tested.
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# The test runner swaps in the in-memory email backend. Django 6.1 warns unless
# MAILERS is set (it replaces EMAIL_BACKEND); drop this with Django 5.2 support.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}

DATABASES = {
    "default": environ.Env.db_url_config(os.environ.get("DATABASE_URL", "sqlite://:memory:"))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Runs write from several threads at once (step workers, the heartbeat and log
    # writer). An in-memory test database's shared cache refuses a second writer
    # outright ("table is locked"); a file makes it wait its turn, and IMMEDIATE
    # transactions take the write lock up front instead of failing to upgrade to it.
    # Not syncing to disk keeps a throwaway file about as fast as memory.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"adminflow-tests-{os.getpid()}.sqlite3")
    }
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE", init_command="PRAGMA synchronous=OFF"
    )

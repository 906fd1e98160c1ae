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
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.messages",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "adminflow",
    "tests.testapp",
    "courseadmin.course",
    # The database Tasks backend, its table migrated, for the tests that drive db_worker.
    "django_tasks_db",
]
# Django 5.2 has the Tasks framework only as the django-tasks backport, an app of its
# own (its checks, and its backends reset when a test changes TASKS). Drop with 5.2.
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")
tasks_package = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"

# Runs are sent to ADMINFLOW["TASK_BACKEND"]: by default the immediate backend, which
# executes each task as it is enqueued. A test sets it to "database" to queue runs for
# a real db_worker.
TASKS = {
    "default": {"BACKEND": f"{tasks_package}.backends.immediate.ImmediateBackend"},
    "database": {"BACKEND": "django_tasks_db.DatabaseBackend"},
}
# Tests run background runs at once on purpose; a real site would be warned.
SILENCED_SYSTEM_CHECKS = ["adminflow.W002"]

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

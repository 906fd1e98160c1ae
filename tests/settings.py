"""Settings for the test suite: the smallest Django project that hosts adminflow.

``DATABASE_URL`` picks the database (SQLite in memory by default), so the
same suite runs against PostgreSQL in CI.
"""

import os

import environ

SECRET_KEY = "adminflow-tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "adminflow",
    "tests.testapp",
]

DATABASES = {
    "default": environ.Env.db_url_config(os.environ.get("DATABASE_URL", "sqlite://:memory:"))
}

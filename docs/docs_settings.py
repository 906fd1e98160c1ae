"""The smallest Django site that installs adminflow, so autodoc can import its models."""

import django

SECRET_KEY = "adminflow-docs-only"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.sessions",
    "adminflow",
]
# Django 5.2 has the Tasks framework as the django-tasks backport. Drop with 5.2.
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

"""Settings of the example course site.

Whatever differs between a laptop and a server comes from the environment or
from a ``.env`` file in the project root (``.env.example`` lists every
variable); real environment variables win over the file. With nothing set,
the site runs in debug mode on ``db.sqlite3`` in the project root, which is
what the README's quick start needs.
"""

from __future__ import annotations

from pathlib import Path

import django
import environ

from courseadmin.mail import mail_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # a missing file is not an error

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    # Good enough for a laptop; refused outright once DEBUG is off.
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-courseadmin-dev-only-key")
else:
    SECRET_KEY = env.str("SECRET_KEY")  # raises ImproperlyConfigured naming SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The site, its task worker and runflow write to one file, each run from several
    # threads. IMMEDIATE transactions take the write lock up front (one that has to
    # upgrade a read lock fails at once instead of waiting its turn); a writer waits
    # up to 20 s for the lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(transaction_mode="IMMEDIATE", timeout=20)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "adminflow",
    "django_tasks_db",
    "courseadmin.course",
]
# Django 5.2 has the Tasks framework only as the django-tasks backport, an app of its
# own; Django 6 has it built in (django.tasks). Drop this with Django 5.2 support.
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "courseadmin.urls"
WSGI_APPLICATION = "courseadmin.wsgi.application"

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
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Email, from one URL: smtp+tls://USER:PASSWORD@smtp.example.edu:587 sends for real;
# the default prints each message to the console.
vars().update(mail_settings(env.str("EMAIL_URL", default="consolemail://")))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="course-staff@example.edu")

# Who receives the roster-sync summary (the StaffSummary step).
COURSE_STAFF_EMAILS = env.list("COURSE_STAFF_EMAILS", default=["course-staff@example.edu"])

# Runs started in the admin (or by `runflow NAME --enqueue`) are queued in the database;
# `python manage.py db_worker` executes them.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# adminflow's settings: see the README's "Settings" table for every key and its
# default. The demo beats more often than the default 5 s, so a cancel asked for
# in the admin reaches the worker quickly.
ADMINFLOW = {"HEARTBEAT_INTERVAL": 2.0}

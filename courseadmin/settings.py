"""Settings of the example course site.

Whatever differs between a laptop and a server comes from the environment or
from a ``.env`` file in the project root (``.env.example`` lists every
variable); real environment variables win over the file. With nothing set,
the site runs in debug mode on ``db.sqlite3`` in the project root, which is
what the README's quick start needs.
"""

from __future__ import annotations

from pathlib import Path

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

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "adminflow",
    "courseadmin.course",
]

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

# adminflow's settings, each at its default; change a value here to tune the site.
ADMINFLOW = {
    # Seconds between a running run's heartbeats.
    "HEARTBEAT_INTERVAL": 5.0,
    # Seconds without a heartbeat after which a running run counts as lost.
    "STALE_AFTER": 60.0,
    # Log lines are written in batches of at most this many rows, or after
    # LOG_FLUSH_INTERVAL seconds, whichever comes first.
    "LOG_BATCH_SIZE": 500,
    "LOG_FLUSH_INTERVAL": 1.0,
    # Longer log lines are cut, with a marker saying how much was dropped.
    "MAX_LOG_LINE_LENGTH": 10_000,
    # Lines past this many in one run are counted, not stored.
    "MAX_LOG_LINES_PER_RUN": 200_000,
    # Rows per INSERT/UPSERT statement when storing records.
    "STORE_BATCH_SIZE": 1_000,
    # The Tasks backend alias and queue that background runs are sent to.
    "TASK_BACKEND": "default",
    "TASK_QUEUE": "default",
}

# adminflow, the tutorial's app, and a queue for the runs started in the admin
import django

INSTALLED_APPS += ["adminflow", "django_tasks_db", "roster"]
if django.VERSION < (6, 0):  # Django 5.2: the Tasks framework is the django-tasks backport
    INSTALLED_APPS += ["django_tasks"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Runs write from several threads at once: SQLite takes its write lock up front.
DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}

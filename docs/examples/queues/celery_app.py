import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
app = Celery("mysite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.worker_prefetch_multiplier = 1  # a busy worker leaves queued runs to idle ones
app.autodiscover_tasks()  # imports adminflow.tasks in the worker

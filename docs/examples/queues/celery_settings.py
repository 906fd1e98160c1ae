CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"  # RabbitMQ
# CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"           # or Redis
TASKS = {
    "default": {
        "BACKEND": "django_tasks_celery.CeleryBackend",
        "OPTIONS": {"CELERY_APP": "mysite.celery.app"},
    }
}
# adminflow reads no task results: without a result backend, silence the
# package's warnings about it (or set CELERY_RESULT_BACKEND).
SILENCED_SYSTEM_CHECKS = ["django_tasks_celery.W001", "django_tasks_celery.W002"]

INSTALLED_APPS += ["adminflow", "django_rq", "django_tasks_rq"]
if django.VERSION < (6, 0):
    INSTALLED_APPS += ["django_tasks"]

RQ_QUEUES = {
    # RQ stops a job that runs longer than DEFAULT_TIMEOUT seconds (180 unless
    # set): make it longer than your longest run, or -1 for no limit.
    "default": {"URL": "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 3600},
}
TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}

"""The queue servers and the settings that point the Tasks framework at them.

The test process (through pytest-django's ``settings``) and the worker
processes (``worker_settings``) take their settings from here, so both
sides agree on where a queue lives. Each test session works on a queue of
its own, named by :func:`session_queue_name`, so that two sessions sharing
the servers never take each other's tasks.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from typing import Any

import django
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
RABBITMQ_HOST, RABBITMQ_PORT = "127.0.0.1", 5672
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
RABBITMQ_URL = f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}//"
BROKERS = {"rabbitmq": RABBITMQ_URL, "redis": REDIS_URL}
"""The Celery brokers the tests use, by name."""

QUEUE_ENV = "ADMINFLOW_TEST_QUEUE"
"""Names the queue of this session, for the worker processes."""
BROKER_ENV = "ADMINFLOW_TEST_BROKER"
"""Names the Celery worker's broker (a key of :data:`BROKERS`)."""

CELERY_SUPPORTED = django.VERSION >= (6, 0) and sys.version_info >= (3, 12)
"""django-tasks-celery is built on django.tasks: Django 6, so Python 3.12+."""
CELERY_UNSUPPORTED = (
    "needs Django 6 on Python 3.12+ (django-tasks-celery builds on django.tasks), "
    f"found Django {django.get_version()} on Python {sys.version.split()[0]}"
)


def session_queue_name() -> str:
    """Return a queue name no other test session uses."""
    return f"adminflow-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def rq_settings(queue: str) -> dict[str, Any]:
    """Return the settings that send runs to RQ queue ``queue`` on the local Redis.

    ``DEFAULT_TIMEOUT`` is RQ's limit on one job: a job past it is killed, so
    it must exceed the longest run (-1: no limit).
    """
    return {
        "RQ_QUEUES": {queue: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600}},
        "TASKS": {"rq": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [queue]}},
        "ADMINFLOW": {"TASK_BACKEND": "rq", "TASK_QUEUE": queue},
    }


def celery_settings(queue: str, broker: str) -> dict[str, Any]:
    """Return the settings that send runs to Celery queue ``queue`` on ``broker``.

    The backend is the default one, as in the Celery how-to's setup (docs/howto/queues.md): the worker
    then registers adminflow's task with Celery as it imports it.
    """
    backend = {
        "BACKEND": "django_tasks_celery.CeleryBackend",
        "QUEUES": ["default", queue],
        "OPTIONS": {"CELERY_APP": f"tests.queues.celery_app.{broker}_app"},
    }
    return {
        "TASKS": {"default": backend},
        "ADMINFLOW": {"TASK_BACKEND": "default", "TASK_QUEUE": queue},
    }


def delete_rq_queue(connection: Redis, name: str) -> None:
    """Delete RQ queue ``name``: its jobs, their results, its registries."""
    queue = Queue(name, connection=connection)
    registries = [
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.started_job_registry,
        queue.deferred_job_registry,
        queue.scheduled_job_registry,
        queue.canceled_job_registry,
    ]
    for registry in registries:
        for job_id in registry.get_job_ids(cleanup=False):
            with contextlib.suppress(NoSuchJobError):
                Job.fetch(job_id, connection=connection).delete()
    queue.delete(delete_jobs=True)
    for key in connection.scan_iter(match=f"*{name}*"):
        connection.delete(key)

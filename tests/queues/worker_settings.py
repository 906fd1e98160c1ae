"""Settings of the queue tests' worker processes: the suite's own, on this session's queue.

The test that starts a worker passes the queue (and, for Celery, the
broker) in the environment, with ``DATABASE_URL`` naming its test database.
"""

import os

from tests.queues.backends import BROKER_ENV, QUEUE_ENV, celery_settings, rq_settings
from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, TASKS

_queue = os.environ[QUEUE_ENV]
_broker = os.environ.get(BROKER_ENV)
_backend = celery_settings(_queue, _broker) if _broker else rq_settings(_queue)

# As the RQ how-to (docs/howto/queues.md) says; django_rq brings the rqworker command.
INSTALLED_APPS = [*INSTALLED_APPS, "django_rq", "django_tasks_rq"]
RQ_QUEUES = rq_settings(_queue)["RQ_QUEUES"]
TASKS = {**TASKS, **_backend["TASKS"]}
ADMINFLOW = _backend["ADMINFLOW"]

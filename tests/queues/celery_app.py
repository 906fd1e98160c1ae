"""The Celery apps of the Celery tests: one on RabbitMQ, one on Redis.

A site has one, in its own ``celery.py``; the tests try both brokers. The
test process sends through them (the Tasks backend's ``CELERY_APP`` option
names one) and each worker runs one::

    celery -A tests.queues.celery_app:rabbitmq_app worker -Q <queue>

``autodiscover_tasks()`` has the worker import every installed app's
``tasks`` module once Django is set up, among them ``adminflow.tasks``:
defining its task on a Celery Tasks backend registers it with Celery.
"""

from __future__ import annotations

from celery import Celery

from .backends import BROKERS


def make_app(broker: str) -> Celery:
    """Return a Celery app on broker ``broker`` (a key of BROKERS)."""
    app = Celery(f"adminflow-tests-{broker}", broker=BROKERS[broker], set_as_current=False)
    app.conf.update(
        # Take one task at a time, so a busy worker leaves the rest to others.
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # No remote control: it would leave a queue per worker behind on the broker.
        worker_enable_remote_control=False,
    )
    app.autodiscover_tasks()
    return app


rabbitmq_app = make_app("rabbitmq")
redis_app = make_app("redis")

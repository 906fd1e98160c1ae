"""Fixtures of the queue tests: real RQ and Celery workers, in processes of their own.

Each worker runs on this test's database (``DATABASE_URL``) and on this
session's queue, on the local Redis or RabbitMQ; a test without its server
skips, saying which (see :mod:`tests.servers`). Workers are stopped after
each test, killed if they do not stop in time, and what they printed is
shown if the test failed. What the session left in Redis and RabbitMQ is
deleted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis import Redis
from rq import Queue, Worker

from tests.run_helpers import database_url
from tests.servers import need_server

from .backends import (
    BROKER_ENV,
    BROKERS,
    CELERY_SUPPORTED,
    CELERY_UNSUPPORTED,
    QUEUE_ENV,
    RABBITMQ_HOST,
    RABBITMQ_PORT,
    REDIS_HOST,
    REDIS_PORT,
    REDIS_URL,
    celery_settings,
    delete_rq_queue,
    rq_settings,
    session_queue_name,
)
from .workers import Workers

WORKER_SETTINGS = "tests.queues.worker_settings"


@pytest.fixture(scope="session")
def queue_name() -> str:
    """The queue this session's runs are sent to, on whichever server."""
    return session_queue_name()


@pytest.fixture(scope="session")
def redis_connection(queue_name) -> Iterator[Redis]:
    """Return a connection to the local Redis; skip if none answers.

    What the session left there under its queue's name is deleted after it.
    """
    need_server("Redis", REDIS_HOST, REDIS_PORT)
    connection = Redis.from_url(REDIS_URL)
    yield connection
    delete_rq_queue(connection, queue_name)
    connection.close()


@pytest.fixture
def workers(transactional_db, tmp_path) -> Iterator[Workers]:
    """Return the test's worker processes (none yet), on its database; stop them after it."""
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS}
    env.pop(BROKER_ENV, None)
    started = Workers(tmp_path / "workers.log", env)
    yield started
    started.stop()
    print(f"worker output:\n{started.log()}")


@pytest.fixture
def rq_workers(
    redis_connection, queue_name, settings, workers
) -> Callable[[int], list[subprocess.Popen]]:
    """Send runs to this session's RQ queue; return a function that starts ``n`` ``rqworker``s.

    It returns once all the test's workers have registered with Redis.
    """
    apply_settings(settings, rq_settings(queue_name))
    workers.env[QUEUE_ENV] = queue_name
    queue = Queue(queue_name, connection=redis_connection)
    command = [
        *(sys.executable, "-m", "django", "rqworker", f"--settings={WORKER_SETTINGS}"),
        *("--job-class", "django_tasks_rq.Job", queue_name),
    ]

    def start(count: int) -> list[subprocess.Popen]:
        started = [workers.start(command) for _ in range(count)]
        workers.wait_until(
            lambda: Worker.count(queue=queue) >= len(workers.processes), "the RQ workers"
        )
        return started

    return start


@pytest.fixture(params=sorted(BROKERS))
def celery_worker(request, queue_name, settings, workers) -> Iterator[subprocess.Popen]:
    """Send runs to this session's Celery queue on each broker; start a worker on it."""
    if not CELERY_SUPPORTED:
        pytest.skip(CELERY_UNSUPPORTED)
    broker = request.param
    if broker == "redis":
        request.getfixturevalue("redis_connection")  # which deletes the queue's keys after
    else:
        need_server("RabbitMQ", RABBITMQ_HOST, RABBITMQ_PORT)
    apply_settings(settings, celery_settings(queue_name, broker))
    workers.env.update({QUEUE_ENV: queue_name, BROKER_ENV: broker})
    app = f"tests.queues.celery_app:{broker}_app"
    process = workers.start(
        [
            *(sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queue_name),
            *("--concurrency", "1", "--loglevel", "INFO", "--hostname", f"{queue_name}@%h"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ]
    )
    try:
        workers.wait_until(lambda: " ready." in workers.log(), "the Celery worker")
        yield process
    finally:
        workers.stop()
        if broker == "rabbitmq":
            delete_rabbitmq_queue(queue_name)


def delete_rabbitmq_queue(name: str) -> None:
    """Delete queue ``name`` and its exchange, which the Celery worker declared, on RabbitMQ."""
    from kombu import Connection  # installed with Celery, so on Python 3.12+ only

    with Connection(BROKERS["rabbitmq"]) as connection:
        connection.default_channel.queue_delete(name)
        connection.default_channel.exchange_delete(name)


def apply_settings(settings: Any, values: dict[str, Any]) -> None:
    """Set ``values`` on pytest-django's ``settings``, merging TASKS into the suite's own."""
    for name, value in values.items():
        setattr(settings, name, {**settings.TASKS, **value} if name == "TASKS" else value)

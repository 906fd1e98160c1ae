"""Which task workers are alive: each leaves a ``Worker`` row that it keeps fresh.

A Tasks backend cannot say whether anyone consumes its queue: a run sent to
one with no worker running waits, until ``ADMINFLOW["QUEUED_TIMEOUT"]`` fails
it. So task workers leave a trace. A worker writes its row (``host:pid``)
when it takes a run (:func:`worker_took_run`, from
:func:`adminflow.tasks.execute_queued_run`), and its run's heartbeat keeps
the row fresh while it executes the run (:func:`worker_beat`). A worker seen
within ``ADMINFLOW["WORKER_SEEN_WITHIN"]`` seconds counts as alive.

An idle worker leaves no trace: "none seen" means that none took or ran a
run lately, not that none is running. What users are told says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.timesince import timesince

from ..compat import task_backends
from ..conf import adminflow_settings
from ..models import FlowRun, Worker
from ..states import FlowRunStatus


def worker_took_run(name: str) -> None:
    """Note that task worker ``name`` took a run: one upsert, safe when workers race."""
    now = timezone.now()
    Worker.objects.bulk_create(
        [Worker(name=name, first_seen_at=now, last_seen_at=now)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["last_seen_at"],
    )


def worker_beat(name: str, now: datetime) -> None:
    """Mark task worker ``name`` alive at ``now``, by name: a process without a row (a
    ``runflow`` executing its own run) changes nothing."""
    Worker.objects.filter(name=name).update(last_seen_at=now)


@dataclass(frozen=True)
class WorkerSighting:
    """The task worker seen last, and whether that was recently enough to count it alive."""

    name: str
    """Its ``host:pid``; blank if no worker was ever seen."""
    last_seen_at: datetime | None
    alive: bool
    """Whether it was seen within ``ADMINFLOW["WORKER_SEEN_WITHIN"]`` seconds."""


def last_worker_seen(now: datetime | None = None) -> WorkerSighting:
    """Return the task worker seen last and whether it counts as alive, in one query."""
    last = Worker.objects.order_by("-last_seen_at").values_list("name", "last_seen_at").first()
    if last is None:
        return WorkerSighting(name="", last_seen_at=None, alive=False)
    name, seen = last
    within = timedelta(seconds=adminflow_settings.WORKER_SEEN_WITHIN)
    return WorkerSighting(
        name=name, last_seen_at=seen, alive=seen >= (now or timezone.now()) - within
    )


def waits_for_worker(status: str, worker: str) -> bool:
    """Return whether a run in ``status``, held by ``worker``, waits for a task worker.

    A queued run that a process holds (``runflow``, or a worker that took its
    task) is about to start; only an unheld one waits.
    """
    return status == FlowRunStatus.QUEUED and not worker


def no_worker_warning(runs: Sequence[FlowRun]) -> str | None:
    """Return a warning if ``runs``, just sent to a task worker, may wait for none; else None.

    Only runs the backend accepted (they have a task id) and that no worker
    took yet wait: a run the backend refused is failed already, and one not
    yet sent (the caller's transaction sends it as it commits) may still be
    refused. The workers are looked at (one query) only if some run waits.
    """
    waiting = [run.pk for run in runs if run.task_id and waits_for_worker(run.status, run.worker)]
    if not waiting:
        return None
    sighting = last_worker_seen()
    if sighting.alive:
        return None
    ids = ", ".join(str(pk) for pk in waiting)
    runs_wait = f"Run {ids} waits" if len(waiting) == 1 else f"Runs {ids} wait"
    return (
        f"{runs_wait} for a task worker, and {_seen(sighting)}. If no worker is running, "
        f"{_how_to_start_a_worker()}: a queued run that no worker takes is failed after "
        f"ADMINFLOW['QUEUED_TIMEOUT'] ({adminflow_settings.QUEUED_TIMEOUT:g} seconds)."
    )


def _seen(sighting: WorkerSighting) -> str:
    """Return when a worker was last seen, as the rest of a sentence."""
    if sighting.last_seen_at is None:
        return "no worker has ever been seen taking a run"
    seen = timezone.localtime(sighting.last_seen_at)
    ago = timesince(seen, depth=1).replace("\xa0", " ")
    return (
        f"none has been seen within ADMINFLOW['WORKER_SEEN_WITHIN'] "
        f"({adminflow_settings.WORKER_SEEN_WITHIN:g} seconds): the last, {sighting.name}, "
        f"was seen at {seen:%Y-%m-%d %H:%M:%S %Z} ({ago} ago)"
    )


def _how_to_start_a_worker() -> str:
    """Return how to start a worker for the backend and queue runs are sent to."""
    backend, queue = adminflow_settings.TASK_BACKEND, adminflow_settings.TASK_QUEUE
    # The database backend (django-tasks-db, or the backport's own) has its worker command.
    if type(task_backends[backend]).__name__ != "DatabaseBackend":
        return f"start a worker for Tasks backend '{backend}', queue '{queue}'"
    command = "manage.py db_worker"
    if backend != "default":
        command += f" --backend {backend}"
    if queue != "default":
        command += f" --queue-name {queue}"
    return f"start one with `{command}`"

"""Background runs through Django's Tasks framework.

:func:`enqueue_run` sends a queued run to a Tasks backend; a worker of that
backend calls :func:`execute_queued_run`, which executes it with
:func:`adminflow.runs.execute_run`. The task carries only the run's id:
the ``FlowRun`` row stays the source of truth, because Tasks backends may
lose results, cannot cancel, and leave a task whose worker was killed
"running" forever. So a run is cancelled on its row (the task then finds it
no longer queued and leaves it alone), and a run whose worker died is found
by its missing heartbeat (:func:`adminflow.runs.reap_stale_runs`), whatever
the backend says about the task. The worker holds the run (and so heartbeats
it) from the moment it takes the task, before anything else, so that dying
before the run starts fails the run too rather than leaving it queued.
"""

from __future__ import annotations

import logging
import traceback
from functools import partial
from typing import Any

from django.db import transaction

from .compat import task, task_backends
from .conf import adminflow_settings
from .models import FlowRun
from .runs import execute_run, fail_active_run, hold_run
from .states import FlowRunStatus, IllegalTransition

logger = logging.getLogger(__name__)


# Declared on the default backend and queue, as the Tasks framework checks a
# task where it is defined; enqueue_run sends it where ADMINFLOW says.
@task
def execute_queued_run(run_id: int) -> str:
    """Execute run ``run_id`` if it is still queued; return the status it is left in.

    The task may wait in its queue for long: a run that is no longer queued
    by then (cancelled meanwhile, or taken by another worker) is left alone,
    and a run that no longer exists is only logged.
    """
    run = FlowRun.objects.select_related("flow").filter(pk=run_id).first()
    if run is None:
        logger.warning("Run %s no longer exists: nothing to execute.", run_id)
        return "missing"
    if not hold_run(run):
        run.refresh_from_db(fields=["status"])
        logger.info(
            "Run %s of flow '%s' is %s, no longer queued: left alone.",
            run.pk,
            run.flow.name,
            run.status,
        )
        return str(run.status)
    try:
        execute_run(run)
    except IllegalTransition:
        # Claimed by someone else between the check above and the claim.
        logger.info(
            "Run %s of flow '%s' was taken by another worker: left alone.", run.pk, run.flow.name
        )
    return str(run.status)


def enqueue_run(run: FlowRun) -> None:
    """Send the queued ``run`` to the Tasks backend once the current transaction commits.

    The task goes to backend ``ADMINFLOW["TASK_BACKEND"]``, queue
    ``ADMINFLOW["TASK_QUEUE"]``, with priority ``ADMINFLOW["TASK_PRIORITY"]``
    where the backend supports priorities. Its id is kept on ``run.task_id``.
    If the transaction rolls back, nothing is sent (and the run was never
    saved). If the backend refuses the task, the run is marked failed with
    the reason rather than left queued with nothing to execute it; nothing
    is raised, so the caller's request or command goes on.
    """
    transaction.on_commit(partial(_send, run), using=run._state.db)


def _send(run: FlowRun) -> None:
    backend, queue = adminflow_settings.TASK_BACKEND, adminflow_settings.TASK_QUEUE
    try:
        result = _task_for(backend, queue).enqueue(run.pk)
    except Exception as exc:  # whatever the backend raises, the run must not stay queued
        _fail_unsent(run, backend, queue, exc)
        return
    run.task_id = str(result.id)
    FlowRun.objects.filter(pk=run.pk).update(task_id=run.task_id)


def _task_for(backend: str, queue: str) -> Any:
    """Return the run task aimed at ``backend`` and ``queue``; raise what the backend refuses."""
    options: dict[str, Any] = {"backend": backend, "queue_name": queue}
    if task_backends[backend].supports_priority:
        options["priority"] = adminflow_settings.TASK_PRIORITY
    return execute_queued_run.using(**options)


def _fail_unsent(run: FlowRun, backend: str, queue: str, exc: Exception) -> None:
    """Mark ``run`` failed because its task could not be sent, if it is still queued."""
    error = (
        f"run {run.pk} of flow '{run.flow.name}' could not be sent to the Tasks backend "
        f"'{backend}' (queue '{queue}'): {type(exc).__name__}: {exc}"
    )
    logger.error("%s", error, exc_info=exc)
    tb = "".join(traceback.format_exception(exc))
    fail_active_run(run, error, traceback=tb, status=FlowRunStatus.QUEUED)

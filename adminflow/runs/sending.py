"""Sending a queued run to a Tasks backend, whose worker executes it.

The task carries only the run's id (:func:`adminflow.tasks.execute_queued_run`):
the ``FlowRun`` row stays the source of truth, because Tasks backends may
lose results, cannot cancel, and leave a task whose worker was killed
"running" forever.
"""

from __future__ import annotations

import logging
import traceback
from functools import partial
from typing import Any

from django.db import transaction

from ..compat import task_backends
from ..conf import adminflow_settings
from ..models import FlowRun
from ..states import FlowRunStatus
from ..tasks import execute_queued_run
from .status import move_run

logger = logging.getLogger(__name__)


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
    run.status = FlowRunStatus.QUEUED  # what it was sent as; if it moved since, it stays
    move_run(
        run, FlowRunStatus.FAILED, error=error, traceback="".join(traceback.format_exception(exc))
    )

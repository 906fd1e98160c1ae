"""The task a Tasks worker executes for a background run: :func:`execute_queued_run`.

It lives at this path for good: queued tasks name it, so moving it would
strand the tasks already queued when a site upgrades. The run service sends
it (:func:`adminflow.runs.enqueue_run`) with the run's id only. A run is
cancelled on its row (the task then finds it no longer queued and leaves it
alone), and a run whose worker died is found by its missing heartbeat
(:func:`adminflow.runs.reap_stale_runs`), whatever the backend says about the
task. The worker holds the run (and so heartbeats it) from the moment it
takes the task, before anything else, so that dying before the run starts
fails the run too rather than leaving it queued. Taking a run is also how a
worker is seen alive (:mod:`adminflow.runs.workers`).
"""

from __future__ import annotations

import logging

from .compat import task
from .models import FlowRun
from .states import IllegalTransition

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
    # Imported here: the run service sends this task, so it imports this module.
    from .runs import execute_run, hold_run, this_worker
    from .runs.workers import worker_took_run

    run = FlowRun.objects.select_related("flow").filter(pk=run_id).first()
    if run is None:
        logger.warning("Run %s no longer exists: nothing to execute.", run_id)
        return "missing"
    # Seen alive, whether or not the run is still queued: enqueueing warns when no worker is.
    worker_took_run(this_worker())
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

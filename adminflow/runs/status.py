"""Every change of a run's status goes through :func:`move_run`.

A move is a conditional UPDATE: it happens only if the run still has the
status this process last saw (and whatever else the caller names, such as
the heartbeat the reaper found stale), so two processes racing over one run
cannot both win, and the loser learns it lost. The move is checked against
the transitions of :mod:`adminflow.states`; a run that fails takes its
unfinished steps with it in the same transaction; and the signals a host
site listens to are sent here, once per move.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import FlowRun, StepRun
from ..signals import flow_run_finished, flow_run_started, send_robust
from ..states import (
    FINISHED_RUN_STATUSES,
    RUN_TRANSITIONS,
    FlowRunStatus,
    StepRunStatus,
    check_transition,
)


def move_run(
    run: FlowRun, status: str, *, match: Mapping[str, Any] | None = None, **fields: Any
) -> bool:
    """Move ``run`` to ``status``, setting ``fields``; return whether it moved.

    It moves only if its row still has the status ``run`` shows and the
    values in ``match``; otherwise nothing changes and ``run`` is reloaded to
    show the run as it is now. A finishing move sets ``finished_at`` unless
    given; a move to ``failed`` also fails the run's running steps with its
    error and cancels its pending ones. Raise IllegalTransition, changing
    nothing, for a move the run's status does not allow.
    """
    check_transition(RUN_TRANSITIONS, f"run {run.pk}", run.status, status)
    if status in FINISHED_RUN_STATUSES:
        fields.setdefault("finished_at", timezone.now())
    with transaction.atomic(using=run._state.db):
        moved = FlowRun.objects.filter(pk=run.pk, status=run.status, **(match or {})).update(
            status=status, **fields
        )
        if moved and status == FlowRunStatus.FAILED:
            _end_unfinished_steps(run, fields.get("error", ""), fields["finished_at"])
    if not moved:
        run.refresh_from_db()
        return False
    run.status = status
    for name, value in fields.items():
        setattr(run, name, value)
    if status == FlowRunStatus.RUNNING:
        send_robust(flow_run_started, run)
    elif status in FINISHED_RUN_STATUSES:
        send_robust(flow_run_finished, run)
    return True


def _end_unfinished_steps(run: FlowRun, error: str, now: datetime) -> None:
    """End the steps of a run that failed: running ones failed, pending ones cancelled."""
    steps = StepRun.objects.filter(run=run)
    steps.filter(status=StepRunStatus.RUNNING).update(
        status=StepRunStatus.FAILED, finished_at=now, error=error
    )
    steps.filter(status=StepRunStatus.PENDING).update(status=StepRunStatus.CANCELLED)

"""Start, execute, cancel, resume and reap runs: the one place run state changes.

A run is created ``queued`` by :func:`start_run` (or :func:`resume_run`),
which checks its config first and writes nothing if it is bad. Whoever
executes it (the ``runflow`` command in its own process, a task worker in
another) calls :func:`execute_run`, which claims it, records it while the
engine runs it and always leaves it finished. Status changes are conditional
UPDATEs, so two processes racing over one run cannot both win.

No run stays active for ever. A process that means to execute a queued run
*holds* it: it writes its name as the run's ``worker`` and heartbeats it
(``runflow`` from the moment it queues the run, a task worker from the
moment it takes the task). :func:`reap_stale_runs` fails an active run whose
holder stopped heartbeating, queued or running, and a queued run that no
process held within ``ADMINFLOW["QUEUED_TIMEOUT"]`` seconds (its task was
lost, or no worker runs). Such a run is failed with a reason, not sent to the
queue again: nothing of it ran, so a re-run is safe and one click away, while
a run sent again could run hours after it was asked for, or kill the next
worker the way it killed the last.

Secrets never reach the database. A run executed by the process that
started it uses the ConfiguredFlow that ``start_run`` checked, kept on the
instance as ``run.configured_flow``; one loaded from the database is
configured again from its snapshot (see :mod:`adminflow.run_config`).
"""

from __future__ import annotations

import os
import socket
import threading
import traceback
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .conf import adminflow_settings
from .engine import (
    AdminflowError,
    ConfiguredFlow,
    FlowObserver,
    RunResult,
    StepKind,
    StepMode,
)
from .loading import build_flow, get_flow_row
from .models import ONE_ACTIVE_RUN, Flow, FlowRun, StepRun
from .reconnect import retried_if_lost
from .recording import RunRecorder, cut, metadata_from_json, metadata_to_json, send_robust
from .run_config import config_of_run, configure, configure_again, configure_flow
from .signals import flow_run_finished, flow_run_started
from .states import (
    RESUMABLE,
    RUN_TRANSITIONS,
    FlowRunStatus,
    IllegalTransition,
    StepRunStatus,
    Trigger,
    check_transition,
)
from .storage import bind_storer


class FlowAlreadyRunning(AdminflowError):
    """Raise when a flow already has a queued or running run."""

    def __init__(self, flow: str, run_id: int | None, status: str) -> None:
        self.flow = flow
        self.run_id = run_id
        self.status = status
        self.active = (
            f"run {run_id} is {status}"
            if run_id is not None
            else "another run started at the same time"
        )
        super().__init__(
            f"flow '{flow}' is already running: {self.active}; "
            "wait for it to finish or cancel it first"
        )


class FlowDisabled(AdminflowError):
    """Raise when a run is asked of a flow whose row is disabled."""


class RunNotResumable(AdminflowError):
    """Raise when a run that did not fail is asked to be resumed."""


# Starting


def start_run(
    flow: str | Flow,
    *,
    trigger: str,
    user: Any = None,
    debug: bool = False,
    config: Mapping[str, Any] | None = None,
    modes: Mapping[str, str] | None = None,
    num_threads: int | None = None,
    resumed_from: FlowRun | None = None,
    scheduled_for: datetime | None = None,
    hold: bool = False,
) -> FlowRun:
    """Queue a run of ``flow`` (a name or a row) and return it.

    ``scheduled_for`` is the scheduled time a scheduled run is for. With
    ``hold``, this process will execute the run itself (``runflow``): it
    holds the run from the start, so the run fails as lost if the process
    dies before executing it, instead of staying queued.

    Raise UnknownFlow, FlowDisabled or FlowConfigError before writing
    anything, and FlowAlreadyRunning if the flow has an active run.
    """
    row = flow if isinstance(flow, Flow) else get_flow_row(flow)
    _check_enabled(row)
    configured = configure_flow(
        row, config=config, debug=debug, modes=modes, num_threads=num_threads
    )
    return _queue(
        row,
        configured,
        trigger,
        user,
        debug=debug,
        resumed_from=resumed_from,
        scheduled_for=scheduled_for,
        hold=hold,
    )


def _check_enabled(row: Flow) -> None:
    if not row.enabled:
        raise FlowDisabled(f"flow '{row.name}' is disabled; enable it to run it")


def _queue(
    row: Flow,
    configured: ConfiguredFlow,
    trigger: str,
    user: Any,
    *,
    debug: bool,
    resumed_from: FlowRun | None = None,
    metadata: dict[str, Any] | None = None,
    scheduled_for: datetime | None = None,
    hold: bool = False,
) -> FlowRun:
    modes = {configured.storer_name: str(configured.storer_mode)}
    modes.update({name: str(step.mode) for name, step in configured.steps.items()})
    run = FlowRun(
        flow=row,
        trigger=trigger,
        triggered_by=user if getattr(user, "is_authenticated", False) else None,
        debug=debug,
        config_snapshot=configured.snapshot,
        step_modes=modes,
        num_threads=configured.num_threads,
        resumed_from=resumed_from,
        metadata=metadata or {},
        scheduled_for=scheduled_for,
        **(_held_fields() if hold else {}),
    )
    for _attempt in range(START_ATTEMPTS):
        if _inserted(run):
            run.configured_flow = configured
            return run
        active = FlowRun.objects.active().filter(flow=row).first()
        # A run whose worker died must not block its flow for ever: reap it, try again.
        # None: the run that refused this one ended since; try again as well.
        if active is not None and active not in reap_stale_runs():
            raise FlowAlreadyRunning(row.name, active.pk, active.status)
    # Refused each time by another start that won the flow and ended before it could be named.
    raise FlowAlreadyRunning(row.name, None, "unknown")


START_ATTEMPTS = 3
"""How often a start tries to insert its run while runs that refused it keep ending."""


def _inserted(run: FlowRun) -> bool:
    """Save a new run; return False if the flow already has an active one.

    The partial unique constraint decides, so two racing starts cannot both
    win. Any other integrity error (the flow row deleted meanwhile) is raised.
    """
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError as exc:
        if not _refused_as_second_active_run(exc):
            raise
        return False
    return True


def _refused_as_second_active_run(exc: IntegrityError) -> bool:
    """Return whether ``exc`` is the one-active-run-per-flow constraint refusing an insert.

    The refusal is told by the constraint, never by looking for the active
    run afterwards: that run may have ended in between, and the refusal is
    still one (it used to escape as a raw IntegrityError under load).
    """
    diag = getattr(exc.__cause__, "diag", None)  # psycopg names the constraint
    if diag is not None and getattr(diag, "constraint_name", None):
        return diag.constraint_name == ONE_ACTIVE_RUN
    # SQLite names the indexed column: the run's flow is in no other unique index.
    return ONE_ACTIVE_RUN in str(exc) or f"{FlowRun._meta.db_table}.flow_id" in str(exc)


def this_worker() -> str:
    """Return how runs name this process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _held_fields() -> dict[str, Any]:
    return {"worker": this_worker(), "heartbeat_at": timezone.now()}


def hold_run(run: FlowRun) -> bool:
    """Mark the queued ``run`` as held by this process, which is about to execute it.

    A task worker calls this first thing, so that if it dies before its run
    starts, the run is failed as lost once its heartbeat is stale rather than
    left queued. Return False, changing nothing, if the run is no longer queued.
    """
    fields = _held_fields()
    held = FlowRun.objects.filter(pk=run.pk, status=FlowRunStatus.QUEUED).update(**fields)
    if held:
        run.worker, run.heartbeat_at = fields["worker"], fields["heartbeat_at"]
    return bool(held)


# Executing


def execute_run(
    run: FlowRun,
    *,
    observers: Iterable[FlowObserver] = (),
    cancel_event: threading.Event | None = None,
) -> FlowRun:
    """Execute a queued run in this process and return it, finished.

    ``observers`` hear the run besides the database (the command's console);
    setting ``cancel_event`` cancels it like :func:`cancel_run` does. Raise
    IllegalTransition, changing nothing, if the run is not queued. Whatever
    happens, the run is not left ``running``: an unexpected exception marks
    it failed with its traceback, and is raised again.
    """
    try:
        configured = getattr(run, "configured_flow", None) or configure_again(run)
    except AdminflowError as exc:  # the flow or its stored config changed since queueing
        _move(run, FlowRunStatus.FAILED, finished_at=timezone.now(), error=str(exc))
        send_robust(flow_run_finished, run)
        return run
    now = timezone.now()
    _move(run, FlowRunStatus.RUNNING, worker=this_worker(), started_at=now, heartbeat_at=now)
    try:
        send_robust(flow_run_started, run)
        result = _run_recorded(run, configured, observers, cancel_event or threading.Event())
        finished_here = _finish(run, configured, result)
    except BaseException:
        _abandon(run, traceback.format_exc())
        raise
    if finished_here:
        send_robust(flow_run_finished, run)
    return run


def _run_recorded(
    run: FlowRun,
    configured: ConfiguredFlow,
    observers: Iterable[FlowObserver],
    cancel_event: threading.Event,
) -> RunResult:
    steps = StepRun.objects.bulk_create(
        StepRun(
            run=run,
            name=name,
            kind=str(step.entry.kind),
            mode=str(step.mode),
            status=StepRunStatus.EXCLUDED
            if step.mode is StepMode.EXCLUDE
            else StepRunStatus.PENDING,
            depends_on=list(step.entry.depends_on),
            position=position,
            time_limit=step.time_limit,
        )
        for position, (name, step) in enumerate(configured.steps.items())
    )
    bind_storer(configured, run)  # a DjangoRecordStorer writes its audit rows for this run
    with RunRecorder(run, {step.name: step for step in steps}, cancel_event) as recorder:
        return configured.run(
            observers=[recorder, *observers],
            cancel_event=cancel_event,
            initial_metadata=dict(run.metadata) or None,
        )


def _finish(run: FlowRun, configured: ConfiguredFlow, result: RunResult) -> bool:
    """Record how the run ended; return False if it had already been ended elsewhere."""
    fields = {
        "finished_at": result.finished_at or timezone.now(),
        "records_loaded": result.records_in,
        "records_stored": result.records_out if result.stored else None,
        "metadata": metadata_to_json(result.metadata, configured.secrets),
        # As long as a log line at most: an exception's message may be any size.
        "error": cut(result.error or "", adminflow_settings.MAX_LOG_LINE_LENGTH),
        "traceback": cut(
            result.traceback or "", adminflow_settings.MAX_LOG_LINE_LENGTH, keep_end=True
        ),
    }
    # A DjangoRecordStorer says what it added, changed and removed; others say nothing.
    counts = getattr(configured.storer, "last_store_counts", None)
    if result.stored and counts is not None:
        fields.update(counts.run_fields())
    try:
        # The last word on the run: said over a new connection if the server closed ours.
        retried_if_lost(lambda: _move(run, str(result.status), **fields), FlowRun)
    except IllegalTransition:
        # Reaped as stale while it worked (a long pause): the first verdict stands.
        return False
    return True


def _abandon(run: FlowRun, tb: str) -> None:
    """Mark a run that stopped unexpectedly failed, with its steps, if it is still running."""
    error = f"the run stopped unexpectedly: {tb.strip().splitlines()[-1]}"
    retried_if_lost(
        lambda: fail_active_run(run, error, traceback=tb, status=FlowRunStatus.RUNNING), FlowRun
    )


def fail_active_run(
    run: FlowRun,
    error: str,
    *,
    traceback: str = "",
    now: datetime | None = None,
    **unchanged: Any,
) -> bool:
    """Mark ``run`` failed with ``error`` at ``now``, if its row still matches ``unchanged``;
    return whether it did.

    Its running steps fail with the same error and its pending ones are
    cancelled, in the same transaction; then ``flow_run_finished`` is sent.
    The match (a status, the heartbeat that was found stale) makes the move
    lose to whoever changed the run meanwhile: a worker that claimed it, a
    heartbeat that came after all.
    """
    now = now or timezone.now()
    with transaction.atomic():
        failed = FlowRun.objects.filter(pk=run.pk, **unchanged).update(
            status=FlowRunStatus.FAILED, finished_at=now, error=error, traceback=traceback
        )
        if failed:
            _end_unfinished_steps(run, error, now)
    run.refresh_from_db()
    if failed:
        send_robust(flow_run_finished, run)
    return bool(failed)


def _end_unfinished_steps(run: FlowRun, error: str, now: datetime) -> None:
    """End the steps of a run that died: running ones failed, pending ones cancelled."""
    steps = StepRun.objects.filter(run=run)
    steps.filter(status=StepRunStatus.RUNNING).update(
        status=StepRunStatus.FAILED, finished_at=now, error=error
    )
    steps.filter(status=StepRunStatus.PENDING).update(status=StepRunStatus.CANCELLED)


def _move(run: FlowRun, status: str, **fields: Any) -> None:
    """Move ``run`` to ``status`` if it still has the status this instance shows.

    Raise IllegalTransition if the move is not allowed, or if another process
    changed the run first (then the instance shows the run as it is now).
    """
    check_transition(RUN_TRANSITIONS, f"run {run.pk}", run.status, status)
    moved = FlowRun.objects.filter(pk=run.pk, status=run.status).update(status=status, **fields)
    if not moved:
        run.refresh_from_db()
        raise IllegalTransition(f"run {run.pk}", run.status, status)
    run.status = status
    for name, value in fields.items():
        setattr(run, name, value)


# Cancelling, reaping, resuming


def cancel_run(run: FlowRun) -> FlowRun:
    """Cancel ``run`` and return it as it is now.

    A queued run is cancelled at once. A running one is asked to stop: its
    worker notices at its next heartbeat, starts no further step and stores
    by the rule of the phase it reached. Raise IllegalTransition for a
    finished run.
    """
    runs = FlowRun.objects.filter(pk=run.pk)
    # Queued first: a run claimed between the two UPDATEs is then caught as running.
    if runs.filter(status=FlowRunStatus.QUEUED).update(
        status=FlowRunStatus.CANCELLED,
        cancel_requested=True,
        finished_at=timezone.now(),
        error="cancelled before it started",
    ):
        run.refresh_from_db()
        send_robust(flow_run_finished, run)
        return run
    runs.filter(status=FlowRunStatus.RUNNING).update(cancel_requested=True)
    run.refresh_from_db()
    if not run.is_active:
        check_transition(RUN_TRANSITIONS, f"run {run.pk}", run.status, FlowRunStatus.CANCELLED)
    return run


def reap_stale_runs(now: datetime | None = None) -> list[FlowRun]:
    """Mark failed the active runs that nobody will finish; return them.

    That is a run, running or queued, whose holder's last heartbeat is older
    than ``ADMINFLOW["STALE_AFTER"]`` seconds (the worker or ``runflow``
    died), and a queued run that no process held within
    ``ADMINFLOW["QUEUED_TIMEOUT"]`` seconds of being queued (its task was
    lost, or no worker runs). A run that beats again, or is taken, in
    between is left alone.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=adminflow_settings.STALE_AFTER)
    unheld = now - timedelta(seconds=adminflow_settings.QUEUED_TIMEOUT)
    lost = FlowRun.objects.active().filter(
        Q(heartbeat_at__lt=stale)
        | Q(status=FlowRunStatus.QUEUED, heartbeat_at__isnull=True, queued_at__lt=unheld)
    )
    return [
        run
        for run in lost.select_related("flow")
        if fail_active_run(
            run,
            _lost_reason(run, now),
            now=now,
            status=run.status,
            worker=run.worker,
            heartbeat_at=run.heartbeat_at,
        )
    ]


def _lost_reason(run: FlowRun, now: datetime) -> str:
    """Return why ``run``, found lost at ``now``, is failed."""
    marked = f"marked failed at {now:%Y-%m-%d %H:%M:%S %Z}"
    if run.heartbeat_at is None:
        return (
            f"no worker took it within {adminflow_settings.QUEUED_TIMEOUT:g} seconds of being "
            f"queued at {run.queued_at:%Y-%m-%d %H:%M:%S %Z} (its task: "
            f"{run.task_id or 'never sent'}); {marked}; none of its steps ran. Is a worker "
            f"running for Tasks backend '{adminflow_settings.TASK_BACKEND}', "
            f"queue '{adminflow_settings.TASK_QUEUE}'?"
        )
    beat = f"stopped heartbeating at {run.heartbeat_at:%Y-%m-%d %H:%M:%S %Z}"
    if run.status == FlowRunStatus.QUEUED:
        return f"worker {run.worker} took it, {beat} before starting it; {marked}; none of its steps ran"
    return f"worker {run.worker or 'unknown'} {beat}; {marked}"


def resume_run(
    run: FlowRun, *, user: Any = None, trigger: str = Trigger.ADMIN, hold: bool = False
) -> FlowRun:
    """Queue a run that picks up where the failed ``run`` stopped, and return it.

    If ``run`` stored its records (a propagate step failed), only the
    propagate steps that did not succeed run again, with ``run``'s metadata
    restored: exactly for values stored as JSON, not at all for values kept
    only as their repr. Otherwise nothing outside changed and the whole flow
    runs again. Both use ``run``'s config. ``hold`` is as for
    :func:`start_run`. Raise RunNotResumable unless
    ``run`` failed, and whatever :func:`start_run` raises.
    """
    if run.status not in RESUMABLE:
        raise RunNotResumable(
            f"run {run.pk} of flow '{run.flow.name}' is {run.status}; only failed runs can be resumed"
        )
    row = run.flow
    _check_enabled(row)
    flow = build_flow(row)
    config = config_of_run(flow, run)
    modes = None
    metadata = None
    if run.records_stored is not None:
        rerun = set(
            run.steps.filter(kind=StepKind.PROPAGATE)
            .exclude(status__in=[StepRunStatus.SUCCEEDED, StepRunStatus.EXCLUDED])
            .values_list("name", flat=True)
        )
        modes = {name: StepMode.EXCLUDE for name in flow.steps if name not in rerun}
        metadata = metadata_from_json(run.metadata)
    configured = configure(flow, config, modes=modes)
    return _queue(
        row,
        configured,
        trigger,
        user,
        debug=run.debug,
        resumed_from=run,
        metadata=metadata,
        hold=hold,
    )

"""Start, execute, cancel, resume and reap runs: the one place run state changes.

A run is created ``queued`` by :func:`start_run` (or :func:`resume_run`),
which checks its config first and writes nothing if it is bad. Whoever
executes it (the ``runflow`` command in its own process, a task worker in
another) calls :func:`execute_run`, which claims it, records it while the
engine runs it and always leaves it finished. Status changes are conditional
UPDATEs, so two processes racing over one run cannot both win.

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
from .models import Flow, FlowRun, StepRun
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
from .storers import bind_storer


class FlowAlreadyRunning(AdminflowError):
    """Raise when a flow already has a queued or running run."""

    def __init__(self, flow: str, run_id: int, status: str) -> None:
        self.flow = flow
        self.run_id = run_id
        self.status = status
        super().__init__(
            f"flow '{flow}' is already running: run {run_id} is {status}; "
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
) -> FlowRun:
    """Queue a run of ``flow`` (a name or a row) and return it.

    ``scheduled_for`` is the scheduled time a scheduled run is for.

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
    )
    for attempt in (1, 2):
        if _inserted(run):
            run.configured_flow = configured
            return run
        active = FlowRun.objects.active().filter(flow=row).first()
        # A run whose worker died must not block its flow for ever: reap it, try again.
        if attempt == 2 or (active is not None and active not in reap_stale_runs()):
            raise FlowAlreadyRunning(
                row.name, getattr(active, "pk", None), getattr(active, "status", "unknown")
            )
    raise AssertionError("unreachable")


def _inserted(run: FlowRun) -> bool:
    """Save a new run; return False if the flow already has an active one.

    The partial unique constraint decides, so two racing starts cannot both win.
    """
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        if not FlowRun.objects.active().filter(flow=run.flow).exists():
            raise
        return False
    return True


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
    worker = f"{socket.gethostname()}:{os.getpid()}"
    _move(run, FlowRunStatus.RUNNING, worker=worker, started_at=now, heartbeat_at=now)
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
    now = timezone.now()
    error = f"the run stopped unexpectedly: {tb.strip().splitlines()[-1]}"
    updated = retried_if_lost(
        lambda: FlowRun.objects.filter(pk=run.pk, status=FlowRunStatus.RUNNING).update(
            status=FlowRunStatus.FAILED, finished_at=now, error=error, traceback=tb
        ),
        FlowRun,
    )
    if updated:
        _end_unfinished_steps(run, error, now)
        run.refresh_from_db()
        send_robust(flow_run_finished, run)


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
    """Mark failed the running runs whose worker stopped heartbeating; return them.

    A run is stale once its last heartbeat is older than
    ``ADMINFLOW["STALE_AFTER"]`` seconds. A run that beats again in between
    is left alone.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=adminflow_settings.STALE_AFTER)
    reaped = []
    for run in FlowRun.objects.filter(status=FlowRunStatus.RUNNING, heartbeat_at__lt=cutoff):
        error = (
            f"worker {run.worker or 'unknown'} stopped heartbeating at "
            f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S %Z}; marked failed at {now:%Y-%m-%d %H:%M:%S %Z}"
        )
        with transaction.atomic():
            updated = FlowRun.objects.filter(
                pk=run.pk, status=FlowRunStatus.RUNNING, heartbeat_at=run.heartbeat_at
            ).update(status=FlowRunStatus.FAILED, finished_at=now, error=error)
            if updated:
                _end_unfinished_steps(run, error, now)
        if updated:
            run.refresh_from_db()
            send_robust(flow_run_finished, run)
            reaped.append(run)
    return reaped


def resume_run(run: FlowRun, *, user: Any = None, trigger: str = Trigger.ADMIN) -> FlowRun:
    """Queue a run that picks up where the failed ``run`` stopped, and return it.

    If ``run`` stored its records (a propagate step failed), only the
    propagate steps that did not succeed run again, with ``run``'s metadata
    restored: exactly for values stored as JSON, not at all for values kept
    only as their repr. Otherwise nothing outside changed and the whole flow
    runs again. Both use ``run``'s config. Raise RunNotResumable unless
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
        row, configured, trigger, user, debug=run.debug, resumed_from=run, metadata=metadata
    )

"""Start, execute, cancel, re-run, resume and reap runs: the run service.

A run is created ``queued`` by :func:`start_run` (or :func:`rerun_run`,
:func:`resume_run`), which checks its config first and writes nothing if it
is bad. Whoever executes it (the ``runflow`` command in its own process, a
task worker in another) calls :func:`execute_run`, which claims it, records
it while the engine runs it and always leaves it finished. Every status
change goes through :func:`adminflow.runs.status.move_run`.

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
started it uses the ConfiguredFlow that the start checked, kept on the
instance as ``run.configured_flow``; one loaded from the database is
configured again from its snapshot (see :mod:`adminflow.runs.config`).
"""

from __future__ import annotations

import os
import socket
import threading
import traceback
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ..conf import adminflow_settings
from ..engine import (
    AdminflowError,
    ConfiguredFlow,
    FlowObserver,
    RunResult,
    StepKind,
    StepMode,
)
from ..models import ONE_ACTIVE_RUN, ConfigSource, Flow, FlowRun, Plan
from ..reconnect import retried_if_lost
from ..states import (
    RESUMABLE,
    FlowRunStatus,
    IllegalTransition,
    RunPurpose,
    StepRunStatus,
    Trigger,
)
from ..storage import audit_collection, bind_storer
from .config import (
    build_flow,
    config_of_run,
    configure,
    configure_again,
    configure_flow,
    configure_stored,
    get_flow_row,
)
from .errors import (
    FlowAlreadyRunning,
    FlowDisabled,
    PlanAlreadyApplied,
    RunNotResumable,
)
from .gates import gate_reason, run_purpose
from .metadata import metadata_from_json, metadata_to_json
from .plan_rows import StoredPlan, record_plan
from .recording import RunRecorder, cut, save_step_rows
from .sending import enqueue_run
from .status import move_run
from .step_rows import step_row_values

Executor = Literal["here", "worker"]
"""Who will execute a run being queued: this process (``runflow``), or a Tasks worker."""

ResumeConfig = Literal["run", "flow"]
"""Which config a resume uses: the failed run's own, or the flow's current stored config."""

START_ATTEMPTS = 3
"""How often a start tries to insert its run while runs that refused it keep ending."""


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
    scheduled_for: datetime | None = None,
    execute: Executor | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> FlowRun:
    """Queue a run of ``flow`` (a name or a row) and return it.

    ``scheduled_for`` is the scheduled time a scheduled run is for.
    ``overrides`` is kept on the run, for its page to show, as what was
    given for this run only (the admin's "Run with options"); it must hold
    no secret, and ``config`` is what the run uses.
    ``execute`` says who will execute the run: ``"here"``, this process
    (``runflow``), which then holds the run from the start, so that the run
    fails as lost if the process dies before executing it; ``"worker"``, a
    Tasks worker, to which the run is sent once the current transaction
    commits (a run the backend refused is returned failed, saying why);
    None leaves it to the caller.

    A run of a flow that requires a plan (``Flow.plan_required``) is
    *gated*: it plans first and acts only if its gate lets it (see
    :mod:`adminflow.runs.plans`); a debug run changes nothing and is not.

    Raise UnknownFlow, FlowDisabled or FlowConfigError before writing
    anything, NotOptedIn for a gated run of a flow that cannot be planned,
    and FlowAlreadyRunning if the flow has an active run.
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
        scheduled_for=scheduled_for,
        execute=execute,
        config_source=ConfigSource.FLOW if config is None else ConfigSource.GIVEN,
        purpose=run_purpose(row, configured, debug),
        overrides=overrides,
    )


def rerun_run(
    run: FlowRun, *, user: Any = None, trigger: str = Trigger.ADMIN, execute: Executor | None = None
) -> FlowRun:
    """Queue a new run of ``run``'s flow with ``run``'s config and debug mode, and return it.

    Secrets masked in the run's snapshot are restored from the flow's stored
    config (:func:`adminflow.runs.config.config_of_run`). A re-run of a plan
    plans again; one of an apply is refused (apply the plan again, or resume
    the apply). ``execute`` is as for :func:`start_run`; raise what it raises.
    """
    if run.purpose == RunPurpose.APPLY:
        raise PlanAlreadyApplied(
            f"run {run.pk} applied a plan, and a plan is applied once: plan again, "
            "or resume the apply if it failed"
        )
    row = run.flow
    config = config_of_run(build_flow(row), run)
    _check_enabled(row)
    configured = configure_flow(row, config=config, debug=run.debug)
    return _queue(
        row,
        configured,
        trigger,
        user,
        debug=run.debug,
        execute=execute,
        config_source=ConfigSource.RUN,
        config_from=run,
        purpose=RunPurpose.PLAN
        if run.purpose == RunPurpose.PLAN
        else run_purpose(row, configured, run.debug),
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
    execute: Executor | None,
    config_source: ConfigSource,
    config_from: FlowRun | None = None,
    resumed_from: FlowRun | None = None,
    metadata: dict[str, Any] | None = None,
    scheduled_for: datetime | None = None,
    purpose: str = RunPurpose.RUN,
    applies_plan: Plan | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> FlowRun:
    modes = {configured.storer_name: str(configured.storer_mode)}
    modes.update({name: str(step.mode) for name, step in configured.steps.items()})
    run = FlowRun(
        flow=row,
        trigger=trigger,
        triggered_by=user if getattr(user, "is_authenticated", False) else None,
        debug=debug,
        config_snapshot=configured.snapshot,
        config_source=config_source,
        config_from=config_from,
        step_modes=modes,
        num_threads=configured.num_threads,
        resumed_from=resumed_from,
        metadata=metadata or {},
        scheduled_for=scheduled_for,
        purpose=purpose,
        applies_plan=applies_plan,
        overrides=dict(overrides or {}),
        **(_held_fields() if execute == "here" else {}),
    )
    for _attempt in range(START_ATTEMPTS):
        if _inserted(run):
            run.configured_flow = configured
            if execute == "worker":
                _send(run)
            return run
        active = FlowRun.objects.active().filter(flow=row).first()
        # A run whose worker died must not block its flow for ever: reap it, try again.
        # None: the run that refused this one ended since; try again as well.
        if active is not None and active not in reap_stale_runs():
            raise FlowAlreadyRunning(row.name, active.pk, active.status)
    # Refused each time by another start that won the flow and ended before it could be named.
    raise FlowAlreadyRunning(row.name, None, "unknown")


def _send(run: FlowRun) -> None:
    """Send ``run`` to the Tasks backend; once sent (outside a transaction, at once), show
    how it is now: refused and failed, or executed already by an immediate backend."""
    enqueue_run(run)
    if not transaction.get_connection(run._state.db).in_atomic_block:
        run.refresh_from_db()


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
        configured = run.configured_flow or configure_again(run)
    except AdminflowError as exc:  # the flow or its stored config changed since queueing
        _claim(run, FlowRunStatus.FAILED, error=str(exc))
        return run
    now = timezone.now()
    _claim(run, FlowRunStatus.RUNNING, worker=this_worker(), started_at=now, heartbeat_at=now)
    try:
        result = _run_recorded(run, configured, observers, cancel_event or threading.Event())
        _finish(run, configured, result)
    except BaseException:
        _abandon(run, traceback.format_exc())
        raise
    if run.purpose == RunPurpose.GATED and run.status == FlowRunStatus.PLANNED:
        # Imported here: plans builds on this module (it queues runs like any start).
        from .plans import settle_gated

        settle_gated(run, observers=observers)
    return run


def _claim(run: FlowRun, status: str, **fields: Any) -> None:
    """Move the queued ``run`` on; raise IllegalTransition if another process moved it first."""
    if not move_run(run, status, **fields):
        raise IllegalTransition(f"run {run.pk}", run.status, status)  # as it is now


def _run_recorded(
    run: FlowRun,
    configured: ConfiguredFlow,
    observers: Iterable[FlowObserver],
    cancel_event: threading.Event,
) -> RunResult:
    entries = {name: step.entry for name, step in configured.steps.items()}
    limits = {name: step.time_limit for name, step in configured.steps.items()}
    steps = save_step_rows(step_row_values(run, entries, limits))
    bind_storer(configured, run)  # a DjangoRecordStorer writes its audit rows for this run
    applying = None
    if run.purpose == RunPurpose.APPLY:
        assert run.applies_plan is not None
        applying = StoredPlan(run.applies_plan, run, configured)
    with RunRecorder(run, steps, cancel_event, audit_collection(configured)) as recorder:
        return configured.run(
            observers=[recorder, *observers],
            cancel_event=cancel_event,
            initial_metadata=dict(run.metadata) or None,
            planning=run.purpose in (RunPurpose.PLAN, RunPurpose.GATED),
            applying=applying,
        )


def _finish(run: FlowRun, configured: ConfiguredFlow, result: RunResult) -> None:
    """Record how the run ended, unless it was ended elsewhere meanwhile (reaped as stale
    while it worked through a long pause: the first verdict stands)."""
    fields: dict[str, Any] = {
        "finished_at": result.finished_at or timezone.now(),
        "records_loaded": result.records_in,
        "records_stored": result.records_out if result.stored else None,
        "metadata": metadata_to_json(result.metadata, configured.secrets),
        # As long as a log line at most: an exception's message may be any size.
        "error": cut(result.error or "", adminflow_settings.MAX_LOG_LINE_LENGTH),
        "traceback": cut(
            result.traceback or "", adminflow_settings.MAX_LOG_LINE_LENGTH, keep_end=True
        ),
        # What a debug store would have written, above all: the run's page shows it.
        "storer_report": cut(
            "\n".join(result.storer_report), adminflow_settings.MAX_LOG_LINE_LENGTH
        ),
    }
    # A DjangoRecordStorer says what it added, changed and removed; others say nothing.
    counts = getattr(configured.storer, "last_store_counts", None)
    if result.stored and counts is not None:
        fields.update(counts.run_fields())
    if result.status == FlowRunStatus.PLANNED:
        _finish_planned(run, result, fields)
        return
    # The last word on the run: said over a new connection if the server closed ours.
    retried_if_lost(lambda: move_run(run, str(result.status), **fields), FlowRun)


def _finish_planned(run: FlowRun, result: RunResult, fields: dict[str, Any]) -> None:
    """End a planning run as planned, writing its plan in the same transaction.

    A gated run within its flow's gate gets a plan approved at once (by
    nobody: the gate let it), which :func:`adminflow.runs.plans.settle_gated`
    then applies.
    """
    reason, approved = "asked for", False
    if run.purpose == RunPurpose.GATED:
        over = gate_reason(run.flow, result)
        reason, approved = over or "within the flow's blast radius", over is None

    def finish() -> None:
        with transaction.atomic():
            if move_run(run, FlowRunStatus.PLANNED, **fields):
                record_plan(run, result, run.triggered_by, reason, approved=approved)

    retried_if_lost(finish, FlowRun)


def _abandon(run: FlowRun, tb: str) -> None:
    """Mark a run that stopped unexpectedly failed, with its steps, if it is still running."""
    error = f"the run stopped unexpectedly: {tb.strip().splitlines()[-1]}"
    run.status = FlowRunStatus.RUNNING  # only a running run is abandoned; any other is left
    retried_if_lost(lambda: move_run(run, FlowRunStatus.FAILED, error=error, traceback=tb), FlowRun)


# Cancelling, reaping, resuming


def cancel_run(run: FlowRun) -> FlowRun:
    """Cancel ``run`` and return it as it is now.

    A queued run is cancelled at once. A running one is asked to stop: its
    worker notices at its next heartbeat, starts no further step and stores
    by the rule of the phase it reached. Raise IllegalTransition for a
    finished run.
    """
    # Queued first: a run claimed between the two UPDATEs is then caught as running.
    run.status = FlowRunStatus.QUEUED
    if move_run(
        run, FlowRunStatus.CANCELLED, cancel_requested=True, error="cancelled before it started"
    ):
        return run
    FlowRun.objects.filter(pk=run.pk, status=FlowRunStatus.RUNNING).update(cancel_requested=True)
    run.refresh_from_db()
    if not run.is_active:
        raise IllegalTransition(f"run {run.pk}", run.status, FlowRunStatus.CANCELLED)
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
        if move_run(
            run,
            FlowRunStatus.FAILED,
            match={"worker": run.worker, "heartbeat_at": run.heartbeat_at},
            error=_lost_reason(run, now),
            finished_at=now,
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
    run: FlowRun,
    *,
    user: Any = None,
    trigger: str = Trigger.ADMIN,
    execute: Executor | None = None,
    config: ResumeConfig = "run",
) -> FlowRun:
    """Queue a run that picks up where the failed ``run`` stopped, and return it.

    If ``run`` stored its records (a propagate step failed), only the
    propagate steps that did not succeed run again, with ``run``'s metadata
    restored: exactly for values stored as JSON, not at all for values kept
    only as their repr. Otherwise nothing outside changed and the whole flow
    runs again. ``config`` says which config the new run uses: ``"run"``,
    ``run``'s own; ``"flow"``, the flow's current stored config (in ``run``'s
    debug mode), for a run that failed on a config corrected since. A failed
    apply is resumed by :func:`adminflow.runs.plans.resume_apply`. The new
    run records which. ``execute`` is as for :func:`start_run`. Raise
    ValueError for another ``config``, RunNotResumable unless ``run``
    failed, and whatever :func:`start_run` raises.
    """
    if run.purpose == RunPurpose.APPLY:
        # Imported here: plans builds on this module (it queues runs like any start).
        from .plans import resume_apply

        return resume_apply(run, user=user, trigger=trigger, execute=execute)
    if config not in (ConfigSource.RUN, ConfigSource.FLOW):
        raise ValueError(f"resume with config 'run' or 'flow', not {config!r}")
    if run.status not in RESUMABLE:
        raise RunNotResumable(
            f"run {run.pk} of flow '{run.flow.name}' is {run.status}; only failed runs can be resumed"
        )
    row = run.flow
    if config == ConfigSource.FLOW:
        row.refresh_from_db()  # its config now, not as it was when the run was loaded
    _check_enabled(row)
    flow = build_flow(row)
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
    if config == ConfigSource.FLOW:
        # The stored config knows nothing of the run's debug mode: keep it as the run had it.
        configured = configure_stored(row, flow, debug=run.debug, modes=modes)
    else:
        configured = configure(flow, config_of_run(flow, run), modes=modes)
    return _queue(
        row,
        configured,
        trigger,
        user,
        debug=run.debug,
        execute=execute,
        config_source=ConfigSource(config),
        config_from=run if config == ConfigSource.RUN else None,
        resumed_from=run,
        metadata=metadata,
        purpose=run.purpose,
    )

"""What the run, log and record admin tests share: clients, URLs, a run with everything on it."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from adminflow.models import Flow, FlowRun, RecordChange, RunLog, StepRun
from adminflow.states import FlowRunStatus, StepRunStatus, Trigger
from tests.factories import FlowRunFactory, StaffUserFactory, StepRunFactory

SCRIPT = "<script>alert('x')</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"

VIEW = "adminflow.view_flowrun"
CANCEL = "adminflow.cancel_flowrun"
RERUN = "adminflow.rerun_flowrun"
RESUME = "adminflow.resume_flowrun"


def client_for(*permissions: str, **client_options: bool) -> Client:
    """Return a client logged in as staff with ``permissions`` and no others."""
    client = Client(**client_options)
    client.force_login(StaffUserFactory(permissions=list(permissions)))
    return client


def run_url(run: FlowRun, view: str = "change", site: str = "admin") -> str:
    return reverse(f"{site}:adminflow_flowrun_{view}", args=[run.pk])


def runs_url(site: str = "admin") -> str:
    return reverse(f"{site}:adminflow_flowrun_changelist")


def finished_run(flow: Flow | None = None, **fields: object) -> FlowRun:
    """Return a run that failed after 10 seconds: steps a (ok), b (failed), c (upstream failed)."""
    start = timezone.now() - timedelta(minutes=5)
    defaults: dict[str, object] = {
        "status": FlowRunStatus.FAILED,
        "trigger": Trigger.ADMIN,
        "queued_at": start - timedelta(seconds=1),
        "started_at": start,
        "finished_at": start + timedelta(seconds=10),
        "worker": "host:42",
        "error": "step 'b' failed",
        "config_snapshot": {"num_threads": 2, "b": {"token": "********"}},
        "step_modes": {"records": "include", "a": "include", "b": "include", "c": "include"},
        "metadata": {"count": 3},
        "records_loaded": 3,
    }
    if flow is not None:
        defaults["flow"] = flow
    run = FlowRunFactory(**{**defaults, **fields})
    StepRunFactory(
        run=run,
        name="a",
        kind="record",
        position=0,
        status=StepRunStatus.SUCCEEDED,
        started_at=start,
        finished_at=start + timedelta(seconds=4),
        duration=4.0,
    )
    StepRunFactory(
        run=run,
        name="b",
        kind="update",
        position=1,
        status=StepRunStatus.FAILED,
        started_at=start + timedelta(seconds=4),
        finished_at=start + timedelta(seconds=9),
        duration=5.0,
        error="ValueError: bad row",
        traceback="Traceback (most recent call last):\nValueError: bad row",
    )
    StepRunFactory(
        run=run,
        name="c",
        kind="update",
        position=2,
        status=StepRunStatus.UPSTREAM_FAILED,
        depends_on=["b"],
    )
    return run


def add_lines(run: FlowRun, count: int, step: str = "a", level: int = 20) -> list[RunLog]:
    return RunLog.objects.bulk_create(
        RunLog(run=run, step=step, level=level, message=f"line {number}") for number in range(count)
    )


def add_many_lines(run: FlowRun, count: int) -> None:
    """Add ``count`` lines, of steps a and b, one in a thousand an error, in one statement.

    ``bulk_create`` writes at most 199 rows per INSERT on SQLite (its 999
    parameters): 100k lines took about ten seconds that way, this well under one.
    """
    table = connection.ops.quote_name(RunLog._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            f"INSERT INTO {table} (run_id, step, level, message, created_at) "
            "SELECT %s, CASE WHEN i %% 2 = 1 THEN 'a' ELSE 'b' END, "
            "CASE WHEN i %% 1000 = 0 THEN 40 ELSE 20 END, 'line ' || CAST(i AS TEXT), %s FROM n",
            [count - 1, run.pk, connection.ops.adapt_datetimefield_value(timezone.now())],
        )


def add_changes(run: FlowRun, count: int, collection: str = "students") -> list[RecordChange]:
    return RecordChange.objects.bulk_create(
        RecordChange(
            run=run,
            collection=collection,
            key=f"k{number:05d}",
            action=RecordChange.Action.CHANGED,
            before={"name": f"old {number}", "same": 1},
            after={"name": f"new {number}", "same": 1},
        )
        for number in range(count)
    )


def step_names(run: FlowRun) -> list[str]:
    return list(StepRun.objects.filter(run=run).values_list("name", flat=True))

"""Runs that changed many records, built in bulk: what the change, timeline and grid tests share.

:func:`changed_run` gives a finished run of steps a (record), b and c
(update) whose store changed ``size`` typed records of collection
:data:`COLLECTION`, in a fixed pattern by record number, with the step
effects and the change summary a traced run would have left. The pattern:

- record n % 5 == 0 was added (by step a), 1 removed (by a), 2 added back
  (re-enrolled), 3 and 4 changed: field ``name`` (by b) and, for 4, also
  ``group`` (by c);
- step c raised an error holding every record n % 7 == 0, and logged a line
  about it.
"""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from adminflow.models import Flow, FlowRun, Record, RecordChange, RunLog, StepEffect

from .run_helpers import finished_run

COLLECTION = "course.members"
KINDS = ("added", "removed", "returned", "changed", "changed")
ACTIONS = {"added": "added", "removed": "removed", "returned": "added", "changed": "changed"}


def key(number: int) -> str:
    return f"m{number:05d}"


def kind_of(number: int) -> str:
    return KINDS[number % 5]


def changed_run(size: int, flow: Flow | None = None, *, records: bool = False) -> FlowRun:
    """Return a run that changed ``size`` records as the module says; ``records`` also
    stores the collection's current records (all but the removed ones)."""
    run = finished_run(flow)
    changes, effects = [], []
    for number in range(size):
        kind, name = kind_of(number), key(number)
        fields = {3: ["name"], 4: ["name", "group"]}.get(number % 5, [])
        changes.append(
            RecordChange(
                run=run,
                collection=COLLECTION,
                key=name,
                action=ACTIONS[kind],
                kind=kind,
                before=dict.fromkeys(fields, "old") if fields else None,
                after=dict.fromkeys(fields, "new") if fields else {"netid": name},
            )
        )
        if kind != "changed":
            action = "removed" if kind == "removed" else "added"
            effects.append(
                StepEffect(run=run, step="a", collection=COLLECTION, key=name, action=action)
            )
        if fields:
            effects.append(
                StepEffect(
                    run=run,
                    step="b",
                    collection=COLLECTION,
                    key=name,
                    action="changed",
                    fields=["name"],
                )
            )
        error = "ValueError: no email" if number % 7 == 0 else ""
        if "group" in fields or error:
            effects.append(
                StepEffect(
                    run=run,
                    step="c",
                    collection=COLLECTION,
                    key=name,
                    action="changed" if "group" in fields else "",
                    fields=["group"] if "group" in fields else [],
                    error=error,
                    lines=1 if error else 0,
                )
            )
    RecordChange.objects.bulk_create(changes, batch_size=2000)
    StepEffect.objects.bulk_create(effects, batch_size=2000)
    RunLog.objects.bulk_create(
        (
            RunLog(run=run, step="c", level=40, message=f"{key(n)}: no email", record_key=key(n))
            for n in range(0, size, 7)
        ),
        batch_size=2000,
    )
    if records:
        Record.objects.bulk_create(
            (
                Record(collection=COLLECTION, key=key(n), data={"netid": key(n)})
                for n in range(size)
                if kind_of(n) != "removed"
            ),
            batch_size=2000,
        )
    counts = {kind: sum(1 for n in range(size) if kind_of(n) == kind) for kind in ACTIONS}
    run.change_summary = {
        **counts,
        "fields": {
            "name": counts["changed"],
            "group": sum(1 for n in range(size) if n % 5 == 4),
        },
    }
    run.records_stored = size
    run.save(update_fields=["change_summary", "records_stored"])
    return run


def queries_of(client: Client, url: str) -> int:
    """Return how many queries a GET of ``url`` makes, streamed content included; it must
    be served."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        if response.streaming:
            b"".join(response.streaming_content)
    return len(queries)

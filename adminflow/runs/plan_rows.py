"""A plan in the database: written when a planning run ends, read back by its apply.

:func:`record_plan` writes a planned run's :class:`~adminflow.models.Plan`,
its intents and its record diff, in bulk (a few statements whatever their
number). :class:`StoredPlan` is what an apply run hands the engine: the
approved intents not done yet, a check that the records are as planned, each
intent's outcome written as soon as it is known (so a killed apply resumes
with exactly the intents not done), and the store of the approved diff.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.utils import timezone

from ..conf import adminflow_settings
from ..engine import AdminFlow, ConfiguredFlow, Intent, RunResult
from ..engine.steps import Logger
from ..models import FlowRun, Plan, PlannedIntent, PlannedRecord
from ..states import IntentOutcome, PlanState
from .errors import PlanStale

SHOWN_KEYS = 10
"""How many changed record keys a refusal names before counting the rest."""


def record_plan(
    run: FlowRun, result: RunResult, user: Any, reason: str, *, approved: bool = False
) -> Plan:
    """Write the plan of ``run``, a planning run that just ended planned, and return it.

    ``approved``: by nobody, as its flow's gate let it (a gated run within it).
    """
    flow = run.flow
    now = timezone.now()
    plan = Plan.objects.create(
        run=run,
        reason=reason,
        state=PlanState.APPROVED if approved else PlanState.PENDING,
        approved_at=now if approved else None,
        created_at=now,
        planned_by=user if getattr(user, "is_authenticated", False) else None,
        requires_second_person=flow.plan_two_person,
        expires_at=now + timedelta(seconds=adminflow_settings.PLAN_EXPIRES_AFTER),
    )
    PlannedIntent.objects.bulk_create(
        [
            PlannedIntent(
                plan=plan,
                position=index,
                step=intent.step,
                key=intent.key,
                action=intent.action,
                params=intent.params,
                line=intent.line,
            )
            for index, intent in enumerate(result.intents)
        ],
        batch_size=adminflow_settings.STORE_BATCH_SIZE,
    )
    PlannedRecord.objects.bulk_create(
        [
            PlannedRecord(plan=plan, position=index, **entry)
            for index, entry in enumerate(result.record_diff)
        ],
        batch_size=adminflow_settings.STORE_BATCH_SIZE,
    )
    return plan


def apply_modes(plan: Plan, flow: AdminFlow) -> dict[str, str]:
    """Return the step modes of an apply: only propagate steps with intents to carry out run."""
    steps = set(_todo(plan).values_list("step", flat=True).distinct())
    return {name: "exclude" for name in flow.steps if name not in steps}


def _todo(plan: Plan) -> Any:
    return plan.intents.filter(selected=True).exclude(outcome=IntentOutcome.DONE)


def records_to_check(plan: Plan) -> list[Mapping[str, Any]]:
    """Return the diff entries an apply checks: every selected record not stored yet, and
    every record an intent still to be carried out is about."""
    keys = set(_todo(plan).exclude(key="").values_list("key", flat=True))
    entries = plan.records.filter(stored_by__isnull=True).values(
        "key", "action", "fingerprint", "selected"
    )
    return [
        e
        for e in entries
        if e["key"] in keys or (e["selected"] and e["action"] != PlannedRecord.Action.UNCHANGED)
    ]


def stale_refusal(plan: Plan, keys: list[str]) -> PlanStale:
    shown = ", ".join(keys[:SHOWN_KEYS])
    more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return PlanStale(
        f"the plan of run {plan.run_id} is stale: these records changed since it was "
        f"planned: {shown}{more}; plan again",
        keys,
    )


class StoredPlan:
    """An approved plan as an apply run carries it out (the engine's ``PlanToApply``)."""

    def __init__(self, plan: Plan, run: FlowRun, configured: ConfiguredFlow) -> None:
        self.plan = plan
        self.run = run
        self.storer = configured.storer
        self.rows: dict[int, PlannedIntent] = {}
        self.intents: dict[str, list[Intent]] = defaultdict(list)
        for row in _todo(plan).order_by("position"):
            intent = Intent(row.action, row.line, row.params, key=row.key, step=row.step)
            self.rows[id(intent)] = row
            self.intents[row.step].append(intent)
        self.records: list[Any] = []

    def check(self, logger: Logger) -> None:
        """Load the records and refuse, naming them, if any the plan touches changed."""
        self.records = list(self.storer.get_records(logger))
        stale = self.storer.stale_keys(records_to_check(self.plan))
        if stale:
            raise stale_refusal(self.plan, stale)
        count = sum(len(intents) for intents in self.intents.values())
        logger(f"the records are as planned; carrying out {count} intents")

    def carried_out(self, intent: Intent, error: str | None, marks: dict[str, Any]) -> None:
        """Write the intent's outcome now: a killed apply must not carry it out again."""
        row = self.rows[id(intent)]
        PlannedIntent.objects.filter(pk=row.pk).update(
            outcome=IntentOutcome.FAILED if error else IntentOutcome.DONE,
            error=error or "",
            marks=marks,
            carried_out_by=self.run,
            carried_out_at=timezone.now(),
        )
        row.outcome = IntentOutcome.FAILED if error else IntentOutcome.DONE
        row.marks = marks

    def store(self, logger: Logger) -> None:
        """Store the selected diff entries whose records have every intent done, and the marks.

        A record with an intent failed, not done or deselected keeps its stored
        state: it must not claim what was not done. A resume stores it later.
        """
        plan = self.plan
        intents = plan.intents.values("key", "selected", "outcome", "marks")
        held = {
            i["key"]
            for i in intents
            if i["key"] and (not i["selected"] or i["outcome"] != IntentOutcome.DONE)
        }
        marks: dict[str, dict[str, Any]] = defaultdict(dict)
        for i in intents:
            if i["key"] and i["outcome"] == IntentOutcome.DONE and i["key"] not in held:
                marks[i["key"]].update(i["marks"])
        rows = [
            row
            for row in plan.records.filter(selected=True, stored_by__isnull=True)
            if row.key not in held
        ]
        entries = [
            {"key": r.key, "action": r.action, "after": r.after}
            for r in rows
            if r.action != PlannedRecord.Action.UNCHANGED
        ]
        if held:
            logger(f"held back {len(held)} records whose intents are not all done")
        self.storer.store_planned(self.records, entries, dict(marks), logger)
        PlannedRecord.objects.filter(pk__in=[r.pk for r in rows]).update(stored_by=self.run)

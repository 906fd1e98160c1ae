"""What the plan admin tests share: a flow that plans, plans made by hand, clients and URLs.

Flow ``review`` is data (a ``Flow`` row), so that a ``db_worker`` process
builds it too: it enrols the configured students, moves everyone to a
section, and its propagate step ``greet`` plans one "email" intent per
student and one "invite" intent per student without a GitHub account.
Carrying out an email fails for the netids in ``fail_for``; an invite
writes the account on the student's record.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from adminflow import AdminPropagateStep, Intent
from adminflow.models import Flow, FlowRun, Plan, PlannedIntent, PlannedRecord
from adminflow.states import FlowRunStatus, PlanState, RunPurpose, Trigger
from tests.factories import FlowRunFactory, StaffUserFactory
from tests.testapp.models import Student

VIEW = "adminflow.view_flowrun"
APPROVE = "adminflow.approve_flowrun"
RUN = "adminflow.run_flow"
VIEW_FLOW = "adminflow.view_flow"

NAME = "review"
BEFORE = [("ada", "Ada", "A"), ("grace", "Grace", "A")]
"""The students (netid, name, section) a test starts from."""


class GreetStudents(AdminPropagateStep[Student]):
    """Email every student their section; invite those without a GitHub account."""

    description = "Welcome each student: an email, and an invite if they have no account."
    config_types = [("fail_for", list[str], "netids whose email fails", [])]

    sent: ClassVar[list[str]] = []
    """What was carried out in this process, as "<action> <netid>", in order."""

    def plan_records(self, records: Any, logger: Any, get_metadata: Any) -> Any:
        for student, lock in records:
            with lock:
                yield Intent(
                    "email",
                    f"email {student.netid}: you are in section {student.section}",
                    {"netid": student.netid, "section": student.section},
                    record=student,
                )
                if not student.github:
                    yield Intent(
                        "invite",
                        f"invite {student.netid} to the course's GitHub organization",
                        {"netid": student.netid},
                        record=student,
                    )

    def carry_out(self, intent: Intent, logger: Any, get_metadata: Any) -> Any:
        netid = intent.params["netid"]
        if intent.action == "email" and netid in self.configs.fail_for:
            raise RuntimeError(f"the mailbox of {netid} is full")
        self.sent.append(f"{intent.action} {netid}")
        return {"github": f"gh-{netid}"} if intent.action == "invite" else None


SPEC = {
    "name": NAME,
    "description": "Enrol students, move everyone to a section, welcome each of them.",
    "storer": {"type": "PausingStudents", "name": "students"},
    "steps": [
        {"name": "enrol", "type": "EnrolStudents", "kind": "record"},
        {"name": "stamp", "type": "StampSection", "kind": "update"},
        {"name": "greet", "type": "tests.admin.plan_helpers.GreetStudents"},
    ],
}


def review_flow(*, two_person: bool = False, fail_for: tuple[str, ...] = ()) -> Flow:
    """Store flow ``review`` and the students it starts from; return its row."""
    Student.objects.bulk_create(
        Student(netid=netid, name=name, section=section) for netid, name, section in BEFORE
    )
    GreetStudents.sent = []
    config = {
        "num_threads": 1,
        "enrol": {"netids": ["alan"]},
        "stamp": {"section": "B"},
        "greet": {"fail_for": list(fail_for)},
    }
    return Flow.objects.create(name=NAME, spec=SPEC, config=config, plan_two_person=two_person)


def client_for(*permissions: str, **client_options: bool) -> tuple[Client, Any]:
    """Return a client logged in as staff with ``permissions`` and no others, and the user."""
    client = Client(**client_options)
    user = StaffUserFactory(permissions=list(permissions))
    client.force_login(user)
    return client, user


def plan_url(plan: Plan, view: str = "change") -> str:
    return reverse(f"admin:adminflow_plan_{view}", args=[plan.pk])


def flow_plan_url(row: Flow) -> str:
    return reverse("admin:adminflow_flow_plan", args=[row.pk])


def made_plan(
    intents: int = 3,
    records: int = 2,
    *,
    state: str = PlanState.PENDING,
    planned_by: Any = None,
    two_person: bool = False,
    expires_in: timedelta = timedelta(hours=24),
    flow: Flow | None = None,
) -> Plan:
    """Return a plan written as a planning run writes one, without running anything.

    ``intents`` alternate between two steps and two actions; each is about
    record ``s<number>``. ``records`` changed records come first, then one
    added and one removed if there are more than two. The planning run is of
    ``flow`` (with its stored config), else of a flow of its own.
    """
    flow_fields = {"flow": flow, "config_snapshot": flow.config} if flow is not None else {}
    run = FlowRunFactory(
        **flow_fields,
        status=FlowRunStatus.PLANNED,
        trigger=Trigger.ADMIN,
        purpose=RunPurpose.PLAN,
        triggered_by=planned_by,
        finished_at=timezone.now(),
    )
    plan = Plan.objects.create(
        run=run,
        state=state,
        reason="asked for",
        planned_by=planned_by,
        requires_second_person=two_person,
        expires_at=timezone.now() + expires_in,
    )
    add_intents(plan, intents)
    PlannedRecord.objects.bulk_create(
        PlannedRecord(
            plan=plan,
            position=number,
            key=f"s{number}",
            action=action,
            before=None if action == "added" else {"name": f"Old {number}", "section": "A"},
            after=None if action == "removed" else {"name": f"Old {number}", "section": "B"},
            fingerprint="f",
        )
        for number, action in (
            (number, _record_action(number, records)) for number in range(records)
        )
    )
    return plan


def _record_action(number: int, records: int) -> str:
    if records > 2 and number == records - 2:
        return "added"
    if records > 2 and number == records - 1:
        return "removed"
    return "changed"


def add_intents(plan: Plan, count: int) -> None:
    """Add ``count`` intents to ``plan`` in one statement (bulk_create is slow on SQLite)."""
    if count <= 0:
        return
    table = connection.ops.quote_name(PlannedIntent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            f"INSERT INTO {table} (plan_id, position, step, key, action, params, line, "
            "selected, outcome, error, marks) "
            "SELECT %s, i, CASE WHEN i %% 2 = 0 THEN 'welcome' ELSE 'invite' END, "
            "'s' || CAST(i AS TEXT), CASE WHEN i %% 4 < 2 THEN 'email' ELSE 'invite' END, "
            "'{}', 'do something for s' || CAST(i AS TEXT), %s, 'pending', '', '{}' FROM n",
            [count - 1, plan.pk, True],
        )


def plan_state(plan: Plan) -> tuple[Any, ...]:
    """Return everything about ``plan`` an admin request could change, and the run count."""
    plan.refresh_from_db()
    return (
        plan.state,
        plan.approved_by_id,
        plan.rejected_by_id,
        plan.applied_by_run_id,
        list(plan.intents.order_by("pk").values_list("selected", "outcome")),
        list(plan.records.order_by("pk").values_list("selected", "stored_by")),
        FlowRun.objects.count(),
    )

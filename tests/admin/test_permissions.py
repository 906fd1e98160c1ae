"""Who may do what in adminflow's admin: every URL and action, for every kind of user.

:data:`CASES` lists each request the admin answers (every URL its model
admins serve, each changelist action) with the permissions that open it.
Each is tried by an anonymous user (sent to log in), by staff lacking each
needed permission (refused), by staff holding just those permissions
(served) and, where it changes something, without a CSRF token (refused).
Nothing a refused request touches changes: no flow, no run, no record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from adminflow.models import Flow, FlowRun, Plan, PlannedIntent, Record, RecordChange
from adminflow.runs import start_run
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, PlanState, Trigger
from tests.factories import StaffUserFactory
from tests.plan_helpers import set_up_welcome

from .plan_helpers import made_plan

pytestmark = pytest.mark.django_db

NO_ACTION = "No action selected."


@dataclass(frozen=True)
class World:
    """The objects the requests act on."""

    flow: Flow
    failed: FlowRun
    """A finished run: re-run, resume and the read-only views act on it."""
    queued: FlowRun
    """An active run of another flow: cancel acts on it."""
    record: Record
    change: RecordChange
    spare: Flow
    """A flow without runs, which may be deleted (a flow's runs protect it)."""
    welcome: Flow
    """A flow that can be planned."""
    pending: Plan
    """A plan awaiting approval: approve and reject act on it."""
    approved: Plan
    """An approved plan: apply acts on it."""


@pytest.fixture
def world(tmp_path) -> World:
    failed = start_run("numbers", trigger=Trigger.COMMAND)
    FlowRun.objects.filter(pk=failed.pk).update(
        status=FlowRunStatus.FAILED, finished_at=timezone.now()
    )
    failed.refresh_from_db()
    queued = start_run("numbers-debuggable", trigger=Trigger.COMMAND)
    record = Record.objects.create(collection="people", key="ana", data={"n": 1})
    change = RecordChange.objects.create(
        run=failed, collection="people", key="ana", action="added", before=None, after={"n": 1}
    )
    spare = Flow.objects.create(name="spare", spec={"storer": {"type": "Numbers"}})
    welcome = set_up_welcome(tmp_path).row
    pending = made_plan(flow=welcome)
    approved = made_plan(flow=welcome, records=0, state=PlanState.APPROVED)
    return World(
        get_flow_row("numbers"), failed, queued, record, change, spare, welcome, pending, approved
    )


def state() -> tuple[Any, ...]:
    """Return everything a request could change."""
    return (
        list(Flow.objects.order_by("pk").values_list("pk", "description", "enabled", "config")),
        list(FlowRun.objects.order_by("pk").values_list("pk", "status", "cancel_requested")),
        list(Record.objects.order_by("pk").values_list("pk", "data")),
        RecordChange.objects.count(),
        LogEntry.objects.count(),
        list(Plan.objects.order_by("pk").values_list("pk", "state", "applied_by_run")),
        PlannedIntent.objects.filter(selected=False).count(),
    )


@dataclass(frozen=True)
class Case:
    """One request to the admin and who may make it."""

    url: str
    """The URL name, without ``admin:adminflow_``."""
    target: Callable[[World], Any] | None = None
    """The object in the URL, if any."""
    method: str = "get"
    data: Callable[[World], dict[str, Any]] = field(default=lambda world: {})
    action: str | None = None
    """A changelist action, applied (POST) to the world's object named ``on``."""
    on: str = ""
    grants: tuple[str, ...] = ()
    """Permissions (``adminflow.<codename>``) that together open it; () if none does."""
    lacking: tuple[frozenset[str], ...] = ()
    """Sets of permissions, any of which taken away refuses it (holding all the others)."""
    served: int = 200
    changes: bool = False
    """Whether it changes something when served (else ``state()`` must stay the same)."""

    def path(self, world: World) -> str:
        args = [self.target(world).pk] if self.target else []
        return reverse(f"admin:adminflow_{self.url}", args=args)

    def send(self, client: Client, world: World) -> HttpResponse:
        data = self.data(world)
        if self.action:
            selected = [getattr(world, self.on).pk]
            data = {
                "action": self.action,
                "_selected_action": selected,
                "index": "0",
                "post": "yes",
            }
        return getattr(client, self.method)(self.path(world), data)

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.url}{f' {self.action}' if self.action else ''}"


def flow_form(world: World) -> dict[str, Any]:
    return {"name": "numbers", "description": "edited", "enabled": "on", "config": "", "_save": "1"}


def new_flow_form(world: World) -> dict[str, Any]:
    spec = "storer: {type: Numbers}\nsteps: [{name: d, type: Double}]\n"
    return {"name": "added", "description": "", "enabled": "on", "config": "", "spec": spec}


def run_now(world: World) -> dict[str, Any]:
    return {"_run_now": "1"}


def run_options(world: World) -> dict[str, Any]:
    """The run page's form as it comes, in debug mode."""
    steps = ("add", "double", "increment", "total")
    return {
        "debug": "on",
        "num_threads": "2",
        "numbers-mode": "include",
        **{f"{step}-mode": "include" for step in steps},
        "add.numbers": "[1, 2, 3]",
    }


def yes(world: World) -> dict[str, Any]:
    return {"post": "yes"}


def flow(world: World) -> Flow:
    return world.flow


def failed(world: World) -> FlowRun:
    return world.failed


def queued(world: World) -> FlowRun:
    return world.queued


def pending(world: World) -> Plan:
    return world.pending


def approved(world: World) -> Plan:
    return world.approved


def deselect_one(world: World) -> dict[str, Any]:
    """Approve without one intent: the approval and the deselection are both changes."""
    return {"shown_intent": [world.pending.intents.first().pk]}


VIEW_FLOW = frozenset({"view_flow", "change_flow"})
VIEW_RUN = frozenset({"view_flowrun", "change_flowrun"})

CASES = [
    # Flows
    Case("flow_changelist", grants=("view_flow",), lacking=(VIEW_FLOW,)),
    Case("flow_add", grants=("add_flow",), lacking=(frozenset({"add_flow"}),)),
    Case(
        "flow_add",
        method="post",
        data=new_flow_form,
        grants=("add_flow",),
        lacking=(frozenset({"add_flow"}),),
        served=302,
        changes=True,
    ),
    Case("flow_change", flow, grants=("view_flow",), lacking=(VIEW_FLOW,)),
    Case(
        "flow_change",
        flow,
        method="post",
        data=flow_form,
        grants=("change_flow",),
        lacking=(frozenset({"change_flow"}),),
        served=302,
        changes=True,
    ),
    Case("flow_history", flow, grants=("view_flow",), lacking=(VIEW_FLOW,)),
    Case("flow_delete", flow, grants=("delete_flow",), lacking=(frozenset({"delete_flow"}),)),
    Case(
        "flow_delete",
        lambda world: world.spare,
        method="post",
        data=yes,
        grants=("delete_flow",),
        lacking=(frozenset({"delete_flow"}),),
        served=302,
        changes=True,
    ),
    *(
        Case(
            "flow_changelist",
            method="post",
            action=name,
            on="flow",
            grants=("view_flow", "run_flow"),
            lacking=(frozenset({"run_flow"}), VIEW_FLOW),
            served=302,
            changes=True,
        )
        for name in ("run_selected_flows", "debug_run_selected_flows")
    ),
    # A flow's run page: options (GET), run with options or run now (POST).
    Case("flow_run", flow, grants=("view_flow", "run_flow"), lacking=(frozenset({"run_flow"}),)),
    *(
        Case(
            "flow_run",
            flow,
            method="post",
            data=data,
            grants=("view_flow", "run_flow"),
            lacking=(frozenset({"run_flow"}), VIEW_FLOW),
            served=302,
            changes=True,
        )
        for data in (run_now, run_options)
    ),
    Case(
        "flow_changelist",
        method="post",
        action="plan_selected_flows",
        on="welcome",
        grants=("view_flow", "run_flow"),
        lacking=(frozenset({"run_flow"}), VIEW_FLOW),
        served=302,
        changes=True,
    ),
    Case(
        "flow_plan",
        lambda world: world.welcome,
        method="post",
        grants=("view_flow", "run_flow"),
        lacking=(frozenset({"run_flow"}), VIEW_FLOW),
        served=302,
        changes=True,
    ),
    Case(
        "flow_plan",
        lambda world: world.welcome,
        grants=("view_flow", "run_flow"),
        lacking=(frozenset({"run_flow"}), VIEW_FLOW),
        served=405,  # a GET never plans
    ),
    Case(
        "flow_changelist",
        method="post",
        action="delete_selected",
        on="spare",
        grants=("view_flow", "delete_flow"),
        lacking=(frozenset({"delete_flow"}), VIEW_FLOW),
        served=302,
        changes=True,
    ),
    # Runs: read-only pages, and a button and an action for each thing done to a run
    *(
        Case(url, target, grants=("view_flowrun",), lacking=(VIEW_RUN,))
        for url, target in [
            ("flowrun_changelist", None),
            ("flowrun_change", failed),
            ("flowrun_history", failed),
            ("flowrun_live", failed),
            ("flowrun_grid", failed),
        ]
    ),
    *(
        Case(
            f"flowrun_{name}",
            target,
            method="post",
            grants=("view_flowrun", f"{name}_flowrun"),
            lacking=(frozenset({f"{name}_flowrun"}), VIEW_RUN),
            served=302,
            changes=True,
        )
        for name, target in [("cancel", queued), ("rerun", failed), ("resume", failed)]
    ),
    *(
        Case(
            f"flowrun_{name}",
            target,
            grants=("view_flowrun", f"{name}_flowrun"),
            lacking=(frozenset({f"{name}_flowrun"}), VIEW_RUN),
            served=405,  # a GET never changes a run
        )
        for name, target in [("cancel", queued), ("rerun", failed), ("resume", failed)]
    ),
    *(
        Case(
            "flowrun_changelist",
            method="post",
            action=f"{name}_runs",
            on=of,
            grants=("view_flowrun", f"{name}_flowrun"),
            lacking=(frozenset({f"{name}_flowrun"}), VIEW_RUN),
            served=302,
            changes=True,
        )
        for name, of in [("cancel", "queued"), ("rerun", "failed"), ("resume", "failed")]
    ),
    # Resuming with the flow's current config: the resume permission, as button and action.
    Case(
        "flowrun_resume_flow",
        failed,
        method="post",
        grants=("view_flowrun", "resume_flowrun"),
        lacking=(frozenset({"resume_flowrun"}), VIEW_RUN),
        served=302,
        changes=True,
    ),
    Case(
        "flowrun_resume_flow",
        failed,
        grants=("view_flowrun", "resume_flowrun"),
        lacking=(frozenset({"resume_flowrun"}), VIEW_RUN),
        served=405,
    ),
    Case(
        "flowrun_changelist",
        method="post",
        action="resume_runs_with_flow_config",
        on="failed",
        grants=("view_flowrun", "resume_flowrun"),
        lacking=(frozenset({"resume_flowrun"}), VIEW_RUN),
        served=302,
        changes=True,
    ),
    # Plans: read with the runs; approved, rejected and applied by approvers
    *(
        Case(url, target, grants=("view_flowrun",), lacking=(VIEW_RUN,))
        for url, target in [
            ("plan_changelist", None),
            ("plan_change", pending),
            ("plan_history", pending),
            ("plan_intents_csv", pending),
            ("plan_records_csv", pending),
        ]
    ),
    *(
        Case(
            f"plan_{name}",
            target,
            method="post",
            data=data,
            grants=("view_flowrun", "approve_flowrun"),
            lacking=(frozenset({"approve_flowrun"}), VIEW_RUN),
            served=302,
            changes=True,
        )
        for name, target, data in [
            ("approve", pending, deselect_one),
            ("reject", pending, lambda world: {}),
            ("apply", approved, lambda world: {}),
        ]
    ),
    *(
        Case(
            f"plan_{name}",
            target,
            grants=("view_flowrun", "approve_flowrun"),
            lacking=(frozenset({"approve_flowrun"}), VIEW_RUN),
            served=405,  # a GET never changes a plan
        )
        for name, target in [("approve", pending), ("reject", pending), ("apply", approved)]
    ),
    # Records and their changes: read-only
    *(
        Case(
            url,
            target,
            grants=(f"view_{model}",),
            lacking=(frozenset({f"view_{model}", f"change_{model}"}),),
        )
        for model, target in [
            ("record", lambda world: world.record),
            ("recordchange", lambda world: world.change),
        ]
        for url, target in [
            (f"{model}_changelist", None),
            (f"{model}_change", target),
            (f"{model}_history", target),
        ]
    ),
    # What runs did to records: the changes as CSV, one record's timeline across runs.
    Case(
        "recordchange_export",
        grants=("view_recordchange",),
        lacking=(frozenset({"view_recordchange", "change_recordchange"}),),
    ),
    Case(
        "recordchange_timeline",
        data=lambda world: {"collection": "people", "key": "ana"},
        grants=("view_recordchange",),
        lacking=(frozenset({"view_recordchange", "change_recordchange"}),),
    ),
    # What no one may do, a superuser included: runs, records and changes are written by runs.
    *(
        Case(url, target, method=method, data=data)
        for model, target in [
            ("flowrun", failed),
            ("plan", pending),
            ("record", lambda world: world.record),
            ("recordchange", lambda world: world.change),
        ]
        for url, target, method, data in [
            (f"{model}_add", None, "get", lambda world: {}),
            (f"{model}_add", None, "post", lambda world: {"key": "x", "status": "queued"}),
            (f"{model}_change", target, "post", lambda world: {"key": "x", "status": "queued"}),
            (f"{model}_delete", target, "get", lambda world: {}),
            (f"{model}_delete", target, "post", yes),
        ]
    ),
]

SERVED = [case for case in CASES if case.grants]
REFUSED_TO_ALL = [case for case in CASES if not case.grants]
CHANGING = [case for case in SERVED if case.changes]


def client_for(*codenames: str, **options: bool) -> Client:
    client = Client(**options)
    client.force_login(StaffUserFactory(permissions=[f"adminflow.{name}" for name in codenames]))
    return client


def every_permission() -> set[str]:
    return set(
        Permission.objects.filter(content_type__app_label="adminflow").values_list(
            "codename", flat=True
        )
    )


def refused(response: HttpResponse) -> bool:
    """Return whether the admin refused: 403 (405 for a GET of a button), or an action
    it did not offer this user."""
    if response.status_code in (403, 405):
        return True
    said = [str(message) for message in get_messages(response.wsgi_request)]
    return response.status_code in (200, 302) and said == [NO_ACTION]


def test_every_url_of_adminflows_admin_is_in_the_matrix() -> None:
    served = {
        pattern.name.removeprefix("adminflow_")
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == "adminflow"
        for pattern in model_admin.get_urls()
        if pattern.name
    }
    actions = {
        name
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == "adminflow"
        for name in model_admin.get_actions(_superuser_request())
    }

    assert served == {case.url for case in CASES}
    assert actions == {case.action for case in CASES if case.action}


def _superuser_request() -> Any:
    request = RequestFactory().get("/")
    request.user = StaffUserFactory(is_superuser=True)
    return request


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_anonymous_users_are_sent_to_log_in_and_change_nothing(
    client: Client, world: World, case: Case
) -> None:
    before = state()

    response = case.send(client, world)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert state() == before


@pytest.mark.parametrize(
    ("case", "taken"),
    [(case, taken) for case in SERVED for taken in case.lacking],
    ids=lambda value: value.id if isinstance(value, Case) else "without " + "/".join(value),
)
def test_staff_lacking_a_permission_are_refused_and_change_nothing(
    world: World, case: Case, taken: frozenset[str]
) -> None:
    client = client_for(*(every_permission() - taken))
    before = state()

    response = case.send(client, world)

    assert refused(response), response.status_code
    assert state() == before


@pytest.mark.parametrize("case", SERVED, ids=lambda case: case.id)
def test_staff_with_the_permissions_are_served(world: World, case: Case) -> None:
    before = state()

    response = case.send(client_for(*case.grants), world)

    assert response.status_code == case.served
    assert [str(m) for m in get_messages(response.wsgi_request)] != [NO_ACTION]
    assert (state() != before) == case.changes


@pytest.mark.parametrize("case", REFUSED_TO_ALL, ids=lambda case: case.id)
def test_what_no_one_may_do_is_refused_even_to_a_superuser(
    admin_client: Client, world: World, case: Case
) -> None:
    before = state()

    response = case.send(admin_client, world)

    assert response.status_code == 403
    assert state() == before


@pytest.mark.parametrize("case", CHANGING, ids=lambda case: case.id)
def test_a_change_without_the_csrf_token_is_refused(world: World, case: Case) -> None:
    client = client_for(*case.grants, enforce_csrf_checks=True)
    before = state()

    response = case.send(client, world)

    assert response.status_code == 403
    assert state() == before


@pytest.mark.parametrize("name", ["cancel", "rerun", "resume"])
@pytest.mark.parametrize("run_id", ["424242", "not-a-number"])
def test_a_button_url_for_a_run_that_does_not_exist_changes_nothing(
    world: World, name: str, run_id: str
) -> None:
    client = client_for("view_flowrun", f"{name}_flowrun")
    before = state()

    response = client.post(f"/admin/adminflow/flowrun/{run_id}/{name}/")

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    (said,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert said.endswith(
        f" with ID “{run_id}” doesn\N{RIGHT SINGLE QUOTATION MARK}t exist. Perhaps it was deleted?"
    )
    assert state() == before


def test_a_run_action_posted_to_the_flows_changelist_does_nothing(world: World) -> None:
    client = client_for(*every_permission())
    before = state()

    response = client.post(
        reverse("admin:adminflow_flow_changelist"),
        {"action": "cancel_runs", "_selected_action": [world.queued.pk], "index": "0"},
    )

    assert refused(response)
    assert state() == before

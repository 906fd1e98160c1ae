"""Per-flow access: a flow limited to groups is seen, run and followed by their staff only.

Flow ``numbers`` is limited to group "graders"; ``numbers-debuggable`` is
open to all staff. Every view and action of adminflow's admin is asked
about the limited flow (its row, its runs, its plans, the changes its runs
made) by
four users: anonymous (sent to log in), staff in the group and a
superuser (served), and staff holding every permission but not in the
group (refused, as if the flow did not exist: nothing of it shown, nothing
changed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from adminflow.models import Flow, FlowRun, Plan, Record, RecordChange
from adminflow.runs import start_run
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, PlanState, Trigger
from tests.admin.plan_helpers import made_plan
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

LIMITED = "numbers"
OPEN = "numbers-debuggable"


@dataclass(frozen=True)
class World:
    flow: Flow
    failed: FlowRun
    queued: FlowRun
    change: RecordChange
    record: Record
    open_run: FlowRun
    pending: Plan
    approved: Plan


@pytest.fixture
def world() -> World:
    flow = get_flow_row(LIMITED)
    flow.access_groups.add(Group.objects.create(name="graders"))
    failed = start_run(LIMITED, trigger=Trigger.COMMAND)
    FlowRun.objects.filter(pk=failed.pk).update(
        status=FlowRunStatus.FAILED, finished_at=timezone.now()
    )
    failed.refresh_from_db()
    change = RecordChange.objects.create(
        run=failed, collection="people", key="ana", action="added", after={"grade": "A"}
    )
    record = Record.objects.create(collection="people", key="ana", data={"grade": "A"})
    open_run = FlowRun.objects.create(
        flow=get_flow_row(OPEN), trigger=Trigger.ADMIN, status=FlowRunStatus.SUCCEEDED
    )
    # Queued on a second limited flow: the first must have no active run, so that running
    # it again is refused for want of access only.
    spare = Flow.objects.create(name="limited-spare", spec={"storer": {"type": "Numbers"}})
    spare.access_groups.set(flow.access_groups.all())
    queued = FlowRun.objects.create(flow=spare, trigger=Trigger.ADMIN)
    pending = made_plan(flow=flow, intents=2, records=1)
    approved = made_plan(flow=flow, intents=2, records=1, state=PlanState.APPROVED)
    return World(flow, failed, queued, change, record, open_run, pending, approved)


def staff(*groups: str, superuser: bool = False) -> Client:
    """Return a client of staff holding every permission of adminflow's, in ``groups``."""
    user = StaffUserFactory(is_superuser=superuser)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="adminflow"))
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in groups])
    client = Client()
    client.force_login(user)
    return client


def state() -> tuple[Any, ...]:
    return (
        list(Flow.objects.order_by("pk").values_list("pk", "description", "enabled", "config")),
        list(FlowRun.objects.order_by("pk").values_list("pk", "status", "cancel_requested")),
        list(
            Plan.objects.order_by("pk").values_list(
                "pk", "state", "approved_by", "rejected_by", "applied_by_run"
            )
        ),
        list(Plan.objects.values_list("intents__selected", "records__selected")),
    )


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:adminflow_{name}", args=args)


def action(changelist: str, name: str, pk: int) -> Callable[[Client], HttpResponse]:
    def send(client: Client) -> HttpResponse:
        data = {"action": name, "_selected_action": [pk], "index": "0", "post": "yes"}
        return client.post(url(changelist), data)

    return send


def requests(world: World) -> dict[str, Callable[[Client], HttpResponse]]:
    """Return each request about the limited flow, by a name for the test's id."""
    flow, failed, queued = world.flow.pk, world.failed.pk, world.queued.pk
    pending, approved = world.pending.pk, world.approved.pk
    unticked = {"shown_intent": list(world.pending.intents.values_list("pk", flat=True))}
    return {
        "flow page": lambda c: c.get(url("flow_change", flow)),
        "flow history": lambda c: c.get(url("flow_history", flow)),
        "flow run page": lambda c: c.get(url("flow_run", flow)),
        "flow run now": lambda c: c.post(url("flow_run", flow), {"_run_now": "1"}),
        "flow edit": lambda c: c.post(url("flow_change", flow), {"name": LIMITED}),
        "flow delete": lambda c: c.post(url("flow_delete", flow), {"post": "yes"}),
        "flow run action": action("flow_changelist", "run_selected_flows", flow),
        "flow plan": lambda c: c.post(url("flow_plan", flow)),
        "flow plan action": action("flow_changelist", "plan_selected_flows", flow),
        "run page": lambda c: c.get(url("flowrun_change", failed)),
        "run history": lambda c: c.get(url("flowrun_history", failed)),
        "run live": lambda c: c.get(url("flowrun_live", failed)),
        "run cancel": lambda c: c.post(url("flowrun_cancel", queued)),
        "run rerun": lambda c: c.post(url("flowrun_rerun", failed)),
        "run resume": lambda c: c.post(url("flowrun_resume", failed)),
        "run cancel action": action("flowrun_changelist", "cancel_runs", queued),
        "run rerun action": action("flowrun_changelist", "rerun_runs", failed),
        "change page": lambda c: c.get(url("recordchange_change", world.change.pk)),
        "plan page": lambda c: c.get(url("plan_change", pending)),
        "plan history": lambda c: c.get(url("plan_history", pending)),
        "plan intents csv": lambda c: c.get(url("plan_intents_csv", pending)),
        "plan records csv": lambda c: c.get(url("plan_records_csv", pending)),
        "plan approve": lambda c: c.post(url("plan_approve", pending), unticked),
        "plan reject": lambda c: c.post(url("plan_reject", pending)),
        "plan apply": lambda c: c.post(url("plan_apply", approved)),
    }


NAMES = [
    "flow page",
    "flow history",
    "flow run page",
    "flow run now",
    "flow edit",
    "flow delete",
    "flow run action",
    "flow plan",
    "flow plan action",
    "run page",
    "run history",
    "run live",
    "run cancel",
    "run rerun",
    "run resume",
    "run cancel action",
    "run rerun action",
    "change page",
    "plan page",
    "plan history",
    "plan intents csv",
    "plan records csv",
    "plan approve",
    "plan reject",
    "plan apply",
]


def test_every_request_about_a_flow_is_in_this_matrix(world: World) -> None:
    assert list(requests(world)) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_anonymous_users_are_sent_to_log_in(client: Client, world: World, name: str) -> None:
    before = state()

    response = requests(world)[name](client)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert state() == before


@pytest.mark.parametrize("name", NAMES)
def test_staff_outside_the_flows_groups_are_refused_and_change_nothing(
    world: World, name: str
) -> None:
    before = state()

    response = requests(world)[name](staff("tas"))

    body = response.content.decode()
    if response.status_code == 302:
        # The admin's "no such object" (to the index), or an action that found nothing.
        assert response["Location"] in (
            reverse("admin:index"),
            url("flow_changelist"),
            url("flowrun_changelist"),
        )
    else:
        assert response.status_code in (403, 404), response.status_code
    assert "grade" not in body
    assert "do something for s" not in body  # a plan's intents
    assert state() == before
    assert FlowRun.objects.count() == 5


@pytest.mark.parametrize("client_of", [lambda: staff("graders"), lambda: staff(superuser=True)])
@pytest.mark.parametrize("name", NAMES)
def test_staff_in_the_flows_groups_and_superusers_are_served(
    world: World, name: str, client_of: Callable[[], Client]
) -> None:
    response = requests(world)[name](client_of())

    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response["Location"] != reverse("admin:index")


def listed(client: Client, changelist: str) -> str:
    return client.get(url(changelist)).content.decode()


def test_the_changelists_list_only_what_the_user_may_see(world: World) -> None:
    outside, inside = staff("tas"), staff("graders")

    flows = listed(outside, "flow_changelist")
    assert f">{OPEN}</a>" in flows
    assert f">{LIMITED}</a>" not in flows
    assert f">{LIMITED}</a>" in listed(inside, "flow_changelist")

    runs = listed(outside, "flowrun_changelist")
    assert f"/flowrun/{world.open_run.pk}/change/" in runs
    assert f"/flowrun/{world.failed.pk}/change/" not in runs
    # The flow filter does not even name a flow the user may not see.
    assert f"flow__id__exact={world.flow.pk}" not in runs
    assert f"flow__id__exact={world.flow.pk}" in listed(inside, "flowrun_changelist")

    assert f"/recordchange/{world.change.pk}/" not in listed(outside, "recordchange_changelist")
    assert f"/recordchange/{world.change.pk}/" in listed(inside, "recordchange_changelist")

    plans = listed(outside, "plan_changelist")
    assert f"/plan/{world.pending.pk}/change/" not in plans
    assert f"run__flow__id__exact={world.flow.pk}" not in plans
    plans = listed(inside, "plan_changelist")
    assert f"/plan/{world.pending.pk}/change/" in plans
    assert f"run__flow__id__exact={world.flow.pk}" in plans


def test_a_records_history_leaves_out_runs_of_flows_the_user_may_not_see(world: World) -> None:
    page = url("record_change", world.record.pk)

    assert f"/flowrun/{world.failed.pk}/change/" not in staff("tas").get(page).content.decode()
    assert f"/flowrun/{world.failed.pk}/change/" in staff("graders").get(page).content.decode()


def test_only_superusers_and_who_may_change_groups_choose_a_flows_groups(world: World) -> None:
    page = url("flow_change", world.flow.pk)
    grader = staff("graders")

    assert 'name="access_groups"' not in grader.get(page).content.decode()
    assert 'name="access_groups"' in staff(superuser=True).get(page).content.decode()

    data = {"name": LIMITED, "description": "", "enabled": "on", "config": "", "_save": "1"}
    data["access_groups"] = []
    grader.post(page, data)
    assert list(world.flow.access_groups.values_list("name", flat=True)) == ["graders"]


@pytest.mark.parametrize("flows", [5, 50])
def test_the_flow_changelist_costs_the_same_however_many_flows_and_groups(
    world: World, flows: int, django_assert_max_num_queries
) -> None:
    groups = [Group.objects.create(name=f"g{n}") for n in range(flows)]
    for number, group in enumerate(groups):
        Flow.objects.create(name=f"limited-{number}").access_groups.add(group, groups[0])
    client = staff("tas", "g1")

    with django_assert_max_num_queries(9):
        page = listed(client, "flow_changelist")

    assert ">limited-1</a>" in page
    assert ">limited-2</a>" not in page

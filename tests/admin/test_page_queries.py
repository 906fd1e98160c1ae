"""What each page costs a course administrator limited to some flows, at two sizes.

Each page is asked for by staff in a group that a flow is limited to (so
the per-flow access conditions are in every query), first with 10 runs and
100 record changes, then with 1,000 runs and 20,000 record changes: the
count of queries must be the same, and within the page's bound.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from adminflow.models import Flow, FlowRun, RecordChange
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, Trigger
from tests.factories import StaffUserFactory

from .run_helpers import finished_run

pytestmark = pytest.mark.django_db

SIZES = ((10, 100), (1_000, 20_000))

PAGES: dict[str, tuple[int, Callable[[Flow, FlowRun], str]]] = {
    "flow changelist": (8, lambda flow, run: reverse("admin:adminflow_flow_changelist")),
    "flow page": (7, lambda flow, run: reverse("admin:adminflow_flow_change", args=[flow.pk])),
    "run with options": (6, lambda flow, run: reverse("admin:adminflow_flow_run", args=[flow.pk])),
    "run changelist": (8, lambda flow, run: reverse("admin:adminflow_flowrun_changelist")),
    "run page": (11, lambda flow, run: reverse("admin:adminflow_flowrun_change", args=[run.pk])),
    "run live": (10, lambda flow, run: reverse("admin:adminflow_flowrun_live", args=[run.pk])),
    "record changes": (8, lambda flow, run: reverse("admin:adminflow_recordchange_changelist")),
}


def grow(flow: Flow, runs: int, changes: int) -> FlowRun:
    """Give ``flow`` ``runs`` finished runs in all; return one of them with ``changes`` changes."""
    have = FlowRun.objects.filter(flow=flow).count()
    FlowRun.objects.bulk_create(
        FlowRun(flow=flow, trigger=Trigger.ADMIN, status=FlowRunStatus.SUCCEEDED)
        for _ in range(runs - have)
    )
    run = FlowRun.objects.filter(flow=flow).order_by("pk").first()
    have = RecordChange.objects.filter(run=run).count()
    RecordChange.objects.bulk_create(
        (
            RecordChange(
                run=run,
                collection="course.Student",
                key=f"s{number:05d}",
                action=RecordChange.Action.CHANGED,
                before={"section": "A"},
                after={"section": "B"},
            )
            for number in range(have, changes)
        ),
        batch_size=2_000,
    )
    return run


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_costs_the_same_at_1000_runs_and_20000_changes(page: str) -> None:
    bound, url_of = PAGES[page]
    flow = get_flow_row("numbers")
    graders = Group.objects.create(name="graders")
    flow.access_groups.add(graders)
    finished_run(flow)
    user = StaffUserFactory()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="adminflow"))
    user.groups.add(graders)
    client = Client()
    client.force_login(user)

    client.get(url_of(flow, flow.runs.get()))  # warms the process's content type cache
    counts = []
    for runs, changes in SIZES:
        run = grow(flow, runs, changes)
        counts.append(queries(client, url_of(flow, run)))

    assert counts[0] == counts[1]
    assert counts[1] <= bound, counts

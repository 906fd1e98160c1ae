"""Markup in anything a flow or its steps write is shown as text on every admin page.

A data-defined flow with hostile names (flow, storer, steps) runs for real:
its steps log markup, fail with it, put it in metadata and in records. Every
page of the flow, its runs and records, and every message the run actions
give, must show it escaped.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from adminflow import AdminPropagateStep, AdminRecordStep
from adminflow.models import Flow, FlowRun
from adminflow.runs import execute_run, start_run
from adminflow.states import Trigger
from adminflow.storage import DjangoRecordStorer
from tests.admin.crawl import admin_pages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
RAW = ("<script>alert(", "<img src=x")
"""What must never reach a page unescaped."""


@dataclass
class Row:
    key: str
    note: str


class Rows(DjangoRecordStorer):
    description = f"Rows {SCRIPT}"
    record_type = Row
    key = "key"
    collection = f"rows {SCRIPT}"


class Shout(AdminRecordStep):
    description = f"Shouts {IMG}"

    def new_records(self, curr_records, logger, set_metadata, debug=False):
        logger(f"hello {SCRIPT}")
        logger.error(f"and {IMG}\nover two lines {SCRIPT}")
        set_metadata(SCRIPT, IMG)
        set_metadata("object", {IMG: object()})
        return [*curr_records, Row(f"{IMG}{len(curr_records)}", SCRIPT)]


class Fail(AdminPropagateStep):
    description = f"Fails {SCRIPT}"

    def propagate_records(self, records, logger, get_metadata, debug=False):
        raise ValueError(f"cannot send {SCRIPT} to {IMG}")


SPEC = {
    "description": f"A flow named to break pages {IMG}",
    "storer": {"type": f"{__name__}.Rows", "name": f"store {IMG}"},
    "steps": [
        {"name": f"shout {IMG}", "type": f"{__name__}.Shout"},
        {"name": f"fail {SCRIPT}", "type": f"{__name__}.Fail"},
    ],
}


def assert_escaped(page: str, where: str) -> None:
    for raw in RAW:
        assert raw not in page, f"{where}: {raw!r} unescaped"


def test_markup_from_a_real_run_is_text_on_every_page_and_in_every_message(
    admin_client: Client,
) -> None:
    flow = Flow.objects.create(name=f"flow {SCRIPT}", spec=SPEC, config={})
    run = execute_run(start_run(flow, trigger=Trigger.COMMAND))
    assert run.status == "failed"
    # Four from the steps and the storer; two saying that step "fail <script>..." started
    # and failed.
    assert run.logs.filter(message__contains=SCRIPT).count() == 6

    pages = admin_pages(flow)
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        if response["Content-Type"].startswith("application/json"):
            continue  # data for the page's script, which sets it as text
        assert_escaped(response.content.decode(), url)
    run_page = admin_client.get(reverse("admin:adminflow_flowrun_change", args=[run.pk]))
    shown = run_page.content.decode()
    assert shown.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in shown

    changelist = reverse("admin:adminflow_flowrun_changelist")
    for action in ("rerun_runs", "resume_runs", "cancel_runs"):
        response = admin_client.post(
            changelist,
            {"action": action, "_selected_action": [FlowRun.objects.last().pk], "index": "0"},
            follow=True,
        )
        assert response.status_code == 200
        assert len(response.context["messages"]) == 1
        assert_escaped(response.content.decode(), action)
    flows = reverse("admin:adminflow_flow_changelist")
    Flow.objects.filter(pk=flow.pk).update(enabled=False)  # refused: a message naming it
    response = admin_client.post(
        flows,
        {"action": "run_selected_flows", "_selected_action": [flow.pk], "index": "0"},
        follow=True,
    )
    assert "was not run: it is disabled" in response.content.decode()
    assert_escaped(response.content.decode(), "run refused")

"""A course administrator plans a flow, reviews its plan, leaves one intent out, approves,
applies, and sees each intent's outcome: in a browser, with a real worker.

Flow ``review`` (tests/admin/plan_helpers.py) enrols alan, moves everyone to
section B, and greets each student: an email each, an invite for each without
a GitHub account. grace's email fails when carried out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from adminflow.models import FlowRun, Plan
from adminflow.states import IntentOutcome, RunPurpose
from tests.admin.plan_helpers import review_flow
from tests.factories import StaffUserFactory
from tests.testapp.models import Student

from .conftest import PASSWORD, PERMISSIONS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

WORKER_MS = 20_000
SHOTS = Path("/tmp/shots")
WIDTH, HEIGHT = 1280, 900


def test_a_plan_is_reviewed_approved_without_one_intent_applied_and_its_outcomes_shown(
    page: Page, live_server, worker
) -> None:
    row = review_flow(fail_for=("grace",))
    approver = StaffUserFactory(permissions=[*PERMISSIONS, "adminflow.approve_flowrun"])
    approver.set_password(PASSWORD)
    approver.save(update_fields=["password"])
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    flow_url = reverse("admin:adminflow_flow_change", args=[row.pk])
    page.goto(f"{live_server.url}{reverse('admin:login')}?next={flow_url}")
    page.get_by_label("Username").fill(approver.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    _screenshot(page, "flow-page")
    page.get_by_role("button", name="Plan", exact=True).click()
    worker()

    # The planning run's page follows it; once planned, it links to the plan.
    expect(page.locator("[data-run-status] .adminflow-badge")).to_have_attribute(
        "data-status", "planned", timeout=WORKER_MS
    )
    _screenshot(page, "planning-run")
    page.locator("[data-plan-link]").click()
    expect(page.locator("[data-plan-state-line] .adminflow-badge")).to_have_text(
        "Awaiting approval"
    )
    expect(page.locator('[data-group="greet/email"] td').nth(2)).to_have_text("3")
    expect(page.locator('[data-group="greet/invite"] td').nth(2)).to_have_text("3")
    expect(page.locator("#diff")).to_contain_text("alan")
    _screenshot(page, "plan-page-review")

    page.get_by_label("Carry out: invite ada to the course's GitHub organization").uncheck()
    page.locator(".adminflow-plan-buttons [data-approve]").click()

    expect(page.locator(".messagelist .success")).to_contain_text(
        "5 of its intents will be carried out"
    )
    expect(page.locator("[data-plan-state-line] .adminflow-badge")).to_have_text("Approved")
    plan = Plan.objects.get()
    left_out = plan.intents.get(action="invite", key="ada")
    expect(page.locator(f'[data-intent="{left_out.pk}"]')).to_contain_text("left out")

    page.locator("[data-apply]").click()
    apply_run = FlowRun.objects.get(purpose=RunPurpose.APPLY)
    expect(page.locator("[data-run-status] .adminflow-badge")).to_have_attribute(
        "data-status", "failed", timeout=WORKER_MS
    )
    page.locator("[data-plan-link]").click()

    expect(page.locator("[data-plan-state-line]")).to_contain_text(f"#{apply_run.pk}")
    expect(page.locator('td[data-outcome="done"]')).to_have_count(4)
    failed = page.locator('td[data-outcome="failed"]')
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("the mailbox of grace is full")
    expect(page.locator(f'[data-intent="{left_out.pk}"] [data-outcome="pending"]')).to_have_count(1)
    assert list(
        plan.intents.filter(outcome=IntentOutcome.DONE)
        .order_by("key", "action")
        .values_list("key", "action")
    ) == [
        ("ada", "email"),
        ("alan", "email"),
        ("alan", "invite"),
        ("grace", "invite"),
    ]
    # Only alan's record is stored: ada's has an intent left out, grace's one failed.
    assert dict(Student.objects.values_list("netid", "section")) == {
        "ada": "A",
        "alan": "B",
        "grace": "A",
    }
    _screenshot(page, "plan-page-applied")
    page.goto(f"{live_server.url}{reverse('admin:adminflow_plan_changelist')}")
    expect(page.locator("#result_list [data-plan-state]")).to_have_text("Applied")
    _screenshot(page, "plans")


def _screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)

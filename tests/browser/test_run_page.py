"""A person in a browser runs a flow from the admin and watches a real worker execute it.

Each test logs in through the admin's login page and works with flow
``gated`` (tests/testapp/gated.py), whose step ``wait`` blocks until the
test creates its gate file: the test decides when the run moves on, and
never waits on a clock. The run page is watched without reloading it: its
script polls the live endpoint while the run is active.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from adminflow.models import Flow, FlowRun, RunLog
from adminflow.runs import start_run
from adminflow.states import FlowRunStatus, StepRunStatus, Trigger
from adminflow.runs import enqueue_run
from tests.run_helpers import step_statuses

from .conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

WORKER_MS = 15_000
"""How long to wait for something the worker does (start, log, finish); the page polls every 2 s."""

SCRIPT = "<script>window.__pwned = 1</script>"


def log_in(page: Page, base_url: str, user: User, next_url: str) -> None:
    """Log ``user`` in through the admin's login page, landing on ``next_url``."""
    page.goto(f"{base_url}{reverse('admin:login')}?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#user-tools")).to_contain_text(user.username)
    expect(page).to_have_url(f"{base_url}{next_url}")


def run_status(page: Page) -> Locator:
    return page.locator("[data-run-status] .adminflow-badge")


def step_status(page: Page, step: str) -> Locator:
    return page.locator(f'tr[data-step="{step}"] [data-step-field="status"] .adminflow-badge')


def log_lines(page: Page) -> Locator:
    return page.locator("[data-log-lines]")


def queue_gated_run(user: User) -> FlowRun:
    """Queue a run of ``gated`` as the admin's buttons do, and send it to the worker's backend."""
    run = start_run("gated", trigger=Trigger.ADMIN, user=user)
    enqueue_run(run)
    return run


def test_a_flow_run_from_the_changelist_is_followed_live_until_it_succeeds(
    page: Page, live_server, staff: User, worker, gate: Path
) -> None:
    flows_url = reverse("admin:adminflow_flow_changelist")
    log_in(page, live_server.url, staff, flows_url)

    row = page.locator("#result_list tbody tr").filter(
        has=page.get_by_role("link", name="gated", exact=True)
    )
    row.locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Run selected flows")
    page.locator("button[name=index]").click()  # "Go" until Django 6, "Run" since

    run = FlowRun.objects.get()
    message = page.locator(".messagelist .success")
    expect(message).to_have_text(f"Queued run #{run.pk} of flow “gated”.")
    message.get_by_role("link", name=f"run #{run.pk}").click()
    expect(page).to_have_url(
        f"{live_server.url}{reverse('admin:adminflow_flowrun_change', args=[run.pk])}"
    )
    # No worker yet: the run waits in its queue, its steps drawn from the flow.
    expect(run_status(page)).to_have_attribute("data-status", "queued")
    for step in ("add", "wait", "say"):
        expect(step_status(page, step)).to_have_attribute("data-status", "pending")
    page.evaluate("window.__samePage = true")

    worker()

    expect(run_status(page)).to_have_attribute("data-status", "running", timeout=WORKER_MS)
    expect(log_lines(page)).to_contain_text(f"waiting for {gate} to exist", timeout=WORKER_MS)
    expect(step_status(page, "add")).to_have_attribute("data-status", "succeeded")
    expect(step_status(page, "wait")).to_have_attribute("data-status", "running")
    expect(step_status(page, "say")).to_have_attribute("data-status", "pending")

    gate.touch()

    expect(run_status(page)).to_have_attribute("data-status", "succeeded", timeout=WORKER_MS)
    expect(run_status(page)).to_have_text("Succeeded")
    for step in ("add", "wait", "say"):
        expect(step_status(page, step)).to_have_attribute("data-status", "succeeded")
    for line in ("adding [1, 2, 3]", f"{gate} exists: going on", "said after the gate"):
        expect(log_lines(page)).to_contain_text(line)
    expect(page.locator("[data-live-finished]")).to_be_visible()
    expect(page.locator("[data-live-status]")).to_be_hidden()
    assert page.evaluate("window.__samePage") is True  # followed live, never reloaded
    run.refresh_from_db()
    assert (run.status, run.triggered_by) == (FlowRunStatus.SUCCEEDED, staff)
    assert not run.worker.endswith(f":{os.getpid()}")  # executed by the worker process


def test_a_running_run_is_cancelled_from_its_page_and_its_next_step_never_starts(
    page: Page, live_server, staff: User, worker, gate: Path
) -> None:
    run = queue_gated_run(staff)
    worker()
    run_url = reverse("admin:adminflow_flowrun_change", args=[run.pk])
    log_in(page, live_server.url, staff, run_url)
    expect(log_lines(page)).to_contain_text(f"waiting for {gate} to exist", timeout=WORKER_MS)
    expect(run_status(page)).to_have_attribute("data-status", "running")

    page.get_by_role("button", name="Cancel run").click()

    expect(page.locator(".messagelist .success")).to_have_text(
        f"Run {run} was asked to stop: it stops at its worker's next heartbeat."
    )
    expect(page.locator("[data-cancel-requested]")).to_be_visible()
    # The worker noticed while step "wait" still blocks; only then is the gate opened.
    expect(log_lines(page)).to_contain_text(
        "cancel requested: no new step starts; running steps finish", timeout=WORKER_MS
    )
    gate.touch()

    expect(run_status(page)).to_have_attribute("data-status", "cancelled", timeout=WORKER_MS)
    expect(step_status(page, "wait")).to_have_attribute("data-status", "succeeded")
    expect(step_status(page, "say")).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_be_hidden()
    expect(page.locator("[data-cancel-requested]")).to_be_hidden()
    run.refresh_from_db()
    assert run.status == FlowRunStatus.CANCELLED
    assert step_statuses(run)["say"] == StepRunStatus.CANCELLED
    assert run.steps.get(name="say").started_at is None
    assert not RunLog.objects.filter(run=run, message="said after the gate").exists()


def test_a_log_line_with_a_script_tag_is_shown_as_text_live_and_on_reload(
    page: Page, live_server, staff: User, worker, gate: Path
) -> None:
    flow = Flow.objects.get(name="gated")
    Flow.objects.filter(pk=flow.pk).update(config={**flow.config, "say": {"message": SCRIPT}})
    gate.touch()  # nothing to wait for: only the log line matters here
    run = queue_gated_run(staff)
    log_in(page, live_server.url, staff, reverse("admin:adminflow_flowrun_change", args=[run.pk]))
    expect(run_status(page)).to_have_attribute("data-status", "queued")

    worker()

    expect(run_status(page)).to_have_attribute("data-status", "succeeded", timeout=WORKER_MS)
    for how in ("added live by the page's script", "rendered by the server"):
        message = log_lines(page).locator(".log-message", has_text="window.__pwned")
        expect(message, how).to_have_text(SCRIPT)
        expect(message, how).to_be_visible()
        expect(log_lines(page).locator("script"), how).to_have_count(0)
        assert page.evaluate("typeof window.__pwned") == "undefined", how
        page.reload()

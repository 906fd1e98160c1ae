"""A person in a browser runs a flow from the admin and watches a real worker execute it.

Each test logs in through the admin's login page and works with flow
``gated`` (tests/testapp/gated.py), whose step ``wait`` blocks until the
test creates its gate file: the test decides when the run moves on, and
never waits on a clock. The run page is watched without reloading it: its
script polls the live endpoint while the run is active.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from adminflow.admin.run_page import LIVE_MAX_LINES
from adminflow.models import Flow, FlowRun, RunLog
from adminflow.runs import enqueue_run, start_run
from adminflow.states import FlowRunStatus, StepRunStatus, Trigger
from tests.admin.run_helpers import add_lines, add_many_lines
from tests.factories import RunningFlowRunFactory
from tests.run_helpers import step_statuses

from .pages import HEIGHT, WIDTH, log_in, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

WORKER_MS = 15_000
"""How long to wait for something the worker does (start, log, finish); the page polls every 2 s."""

SCRIPT = "<script>window.__pwned = 1</script>"


def run_status(page: Page) -> Locator:
    return page.locator("[data-run-status] .adminflow-badge")


def step_status(page: Page, step: str) -> Locator:
    return page.locator(f'tr[data-step="{step}"] [data-step-field="status"] .adminflow-badge')


def log_lines(page: Page) -> Locator:
    return page.locator("[data-log-lines]")


def queue_gated_run(user: User, flow: str = "gated") -> FlowRun:
    """Queue a run of ``flow`` as the admin's buttons do, and send it to the worker's backend."""
    run = start_run(flow, trigger=Trigger.ADMIN, user=user)
    enqueue_run(run)
    return run


def run_state(page: Page) -> str:
    """Return the page's state part as HTML, with what differs in each rendering blanked:
    its CSRF tokens (masked anew), the DAG picture's arrowhead ids (unique on any page), and
    the empty style Chromium's form autofill leaves on a form's inputs now and then."""
    html = page.locator("[data-run-state]").evaluate("element => element.outerHTML")
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    html = re.sub(r' style=""', "", html)
    return re.sub(r"adminflow-arrow-\d+", "adminflow-arrow", html)


def log_shows_its_last_line(page: Page) -> bool:
    """Return whether the log's box is scrolled to its end: its last line in sight."""
    return page.locator("[data-log-lines]").evaluate(
        "log => log.scrollTop + log.clientHeight >= log.scrollHeight - 4"
    )


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


def test_a_run_that_ends_while_its_page_is_open_shows_what_a_reload_shows(
    page: Page, live_server, staff: User, worker, roster: Path
) -> None:
    run = queue_gated_run(staff, "roster")
    worker()
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    log_in(page, live_server.url, staff, reverse("admin:adminflow_flowrun_change", args=[run.pk]))
    expect(log_lines(page)).to_contain_text(f"waiting for {roster} to exist", timeout=WORKER_MS)
    expect(page.locator("[data-live-status]")).to_be_visible()
    expect(page.locator("#changes")).to_contain_text("No record change was recorded")
    screenshot(page, "run-page-running")
    page.evaluate("window.__samePage = true")

    roster.touch()

    expect(run_status(page)).to_have_attribute("data-status", "succeeded", timeout=WORKER_MS)
    expect(page.locator("[data-live-status]")).to_be_hidden()
    expect(page.get_by_role("button", name="Re-run with the same config")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    changes = page.locator("#changes")
    expect(changes).to_contain_text("3 changes · page 1 of 1")
    for key in ("ada", "alan", "grace"):
        expect(changes.get_by_role("link", name=key, exact=True)).to_be_visible()
    run.refresh_from_db()
    worker_row = page.locator("#summary tr").filter(has=page.get_by_text("Worker", exact=True))
    expect(worker_row).to_contain_text(f"{run.worker} · 1 thread")
    screenshot(page, "run-page-finished")
    assert page.evaluate("window.__samePage") is True  # followed live, never reloaded
    followed = run_state(page)

    page.reload()

    assert run_state(page) == followed


def test_a_long_log_is_followed_to_its_last_line_with_a_pager_that_says_so(
    page: Page, live_server, staff: User
) -> None:
    run = RunningFlowRunFactory()
    add_lines(run, 700)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    log_in(page, live_server.url, staff, reverse("admin:adminflow_flowrun_change", args=[run.pk]))
    shown = log_lines(page).locator(".adminflow-log-line")
    expect(shown).to_have_count(500)
    assert log_shows_its_last_line(page)  # the log opens on its newest line, to follow it

    add_many_lines(run, 20_000)
    last = RunLog.objects.filter(run=run).latest("id").pk

    expect(shown.last).to_have_attribute("data-id", str(last), timeout=WORKER_MS * 4)
    expect(shown).to_have_count(LIVE_MAX_LINES)
    assert log_shows_its_last_line(page)
    first = shown.first.get_attribute("data-id")
    pagers = page.locator("[data-log-pager]")
    for pager in (pagers.first, pagers.last):
        expect(pager.get_by_role("link", name="older lines")).to_have_attribute(
            "href", f"?log_before={first}#logs"
        )
        expect(pager).to_contain_text("newest lines")
        expect(pager.get_by_role("link", name="newer lines")).to_have_count(0)
    page.locator("#logs").scroll_into_view_if_needed()
    screenshot(page, "run-page-long-log")

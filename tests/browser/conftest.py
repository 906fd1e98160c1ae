"""Fixtures of the browser tests: Debian's Chromium, a live server, a real worker.

Playwright drives the system's Chromium (``apt-get install chromium``), never
a browser of its own: there is nothing to download. The site is pytest-django's
live server, on this test's database; queued runs go to the database Tasks
backend (django-tasks-db), which a ``db_worker`` in another process executes,
as on a real site.

A test that fails leaves a full-page screenshot and the page's HTML in
``$ADMINFLOW_TEST_ARTIFACTS`` (by default ``/tmp/adminflow-test-artifacts``),
named after the test, for CI to keep and people to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connections
from playwright.sync_api import Page, sync_playwright

from adminflow.models import Flow
from adminflow.registry import flow_registry
from tests.factories import StaffUserFactory
from tests.processes import db_worker_command, processes_for_test
from tests.testapp.faults import BEFORE, SPEC, roster_config
from tests.testapp.faults import NAME as ROSTER
from tests.testapp.models import Student

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-tests-only"
PERMISSIONS = [
    "adminflow.run_flow",
    "adminflow.view_flow",
    "adminflow.view_flowrun",
    "adminflow.cancel_flowrun",
    "adminflow.rerun_flowrun",
    "adminflow.view_recordchange",
]
WORKER_STOP_SECONDS = 5
ARTIFACTS = "ADMINFLOW_TEST_ARTIFACTS"
"""The environment variable naming where a failed test's screenshot and HTML go."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Keep each phase's report on the test, for the page fixture to see if it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def keep_artifacts(page: Page, test: str) -> None:
    """Save a failed test's page as a screenshot and as HTML, named after the test."""
    directory = Path(os.environ.get(ARTIFACTS) or "/tmp/adminflow-test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "-", test)
    page.screenshot(path=directory / f"{name}.png", full_page=True)
    (directory / f"{name}.html").write_text(page.content(), encoding="utf-8")


@pytest.fixture
def page(monkeypatch, request) -> Iterator[Page]:
    """Return a fresh page of a headless Chromium; skip if Chromium is not installed.

    If the test fails, the page is kept as artifacts (see the module's docstring).
    """
    if not CHROMIUM.exists():
        pytest.skip(f"chromium not installed at {CHROMIUM}")
    # Playwright's sync API keeps an asyncio loop running in this thread, which
    # Django takes for async code: it refuses the ORM, and gives the code "in" that
    # loop database connections of its own. The test's queries are plain synchronous
    # code (the live server answers from threads of its own), so allow them, and
    # close their connections while the loop still runs: left open, one would keep
    # PostgreSQL from dropping the test database.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            new_page = browser.new_page()
            yield new_page
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                keep_artifacts(new_page, request.node.name)
        finally:
            browser.close()
            connections.close_all()


@pytest.fixture
def staff(db) -> User:
    """Return a staff user, with a password, who may view and run flows, cancel and re-run
    runs, and view what runs changed."""
    user = StaffUserFactory(permissions=PERMISSIONS)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def gate(transactional_db, tmp_path) -> Path:
    """Point flow ``gated`` at a gate file of this test's; return its path (not yet created)."""
    path = tmp_path / "gate"
    config = flow_registry["gated"].default_config
    Flow.objects.filter(name="gated").update(
        config={**config, "wait": {"gate": str(path), "timeout": 20.0}}
    )
    return path


@pytest.fixture
def roster(transactional_db, tmp_path) -> Path:
    """Store flow ``roster`` (tests.testapp.faults), which writes record changes, and its
    students; return its step gate (not yet created)."""
    gate = tmp_path / "roster-gate"
    config = roster_config(gate, tmp_path / "store-gate")
    Flow.objects.create(name=ROSTER, spec=SPEC, config=config)
    Student.objects.bulk_create(
        Student(netid=netid, name=name, section=section) for netid, name, section in BEFORE
    )
    return gate


@pytest.fixture
def worker(live_server, settings, tmp_path) -> Iterator[Callable[[], None]]:
    """Send runs to the database backend; return a function that starts a ``db_worker``.

    The worker is another process on this test's database. It is stopped
    after the test, killed if it does not stop in time (a run blocked at its
    gate), and what it printed is shown if the test failed.
    """
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}
    with processes_for_test(
        tmp_path, "tests.browser.worker_settings", grace_seconds=WORKER_STOP_SECONDS
    ) as processes:

        def start() -> None:
            processes.start(f"db_worker-{len(processes.started) + 1}", db_worker_command())

        yield start

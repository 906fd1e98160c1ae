"""The run page shows a retried step's attempts and a step past its time limit, live too."""

from __future__ import annotations

import pytest
from django.test import Client

from adminflow.states import StepRunStatus
from tests.factories import RunningFlowRunFactory, StepRunFactory

from .run_helpers import finished_run, run_url

pytestmark = pytest.mark.django_db


def status_cell(page: str, step: str) -> str:
    row = page[page.index(f'<tr data-step="{step}">') :]
    cell = row[row.index('data-step-field="status"') :]
    return cell[: cell.index("</td>")]


def test_a_finished_run_shows_attempts_of_retried_steps_and_overdue_badges(viewer: Client) -> None:
    run = finished_run()
    run.steps.filter(name="a").update(attempts=3, time_limit=30, overdue=True)
    run.steps.filter(name="b").update(attempts=1, time_limit=60)

    page = viewer.get(run_url(run)).content.decode()

    a, b = status_cell(page, "a"), status_cell(page, "b")
    assert (
        '<span class="adminflow-muted adminflow-attempts" data-step-field="attempts">3 attempts</span>'
        in a
    )
    assert (
        '<span class="adminflow-overdue" data-step-field="overdue">over its 30s limit</span>' in a
    )
    assert 'data-step-field="attempts"></span>' in b
    assert '<span class="adminflow-overdue" data-step-field="overdue" hidden></span>' in b


def test_a_running_step_shows_the_attempt_it_is_on_and_its_overrun_live(viewer: Client) -> None:
    run = RunningFlowRunFactory()
    StepRunFactory(
        run=run,
        name="sync",
        status=StepRunStatus.RUNNING,
        started_at=run.started_at,
        attempts=1,
        time_limit=90,
        overdue=True,
    )
    StepRunFactory(run=run, name="next", status=StepRunStatus.PENDING)

    page = viewer.get(run_url(run)).content.decode()
    data = viewer.get(run_url(run, "live"), {"lines": "0"}).json()

    assert "attempt 2</span>" in status_cell(page, "sync")
    assert ">over its 1m 30s limit</span>" in status_cell(page, "sync")
    assert [(s["name"], s["attempts"], s["overdue"]) for s in data["steps"]] == [
        ("sync", "attempt 2", "over its 1m 30s limit"),
        ("next", "", ""),
    ]


def test_a_step_called_once_shows_no_attempts(viewer: Client) -> None:
    run = RunningFlowRunFactory()
    StepRunFactory(run=run, name="one", status=StepRunStatus.SUCCEEDED, attempts=1)
    StepRunFactory(run=run, name="running", status=StepRunStatus.RUNNING, attempts=0)

    data = viewer.get(run_url(run, "live"), {"lines": "0"}).json()

    assert [(s["attempts"], s["overdue"]) for s in data["steps"]] == [("", ""), ("", "")]

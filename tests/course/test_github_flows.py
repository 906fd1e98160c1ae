"""The example site's GitHub flows: disabled until configured, and their runs keep no token.

``github-onboarding`` runs here the way the site runs it (``start_run`` then
``execute_run``, recorded in the database, the ``Roster`` storer writing each
student's outcome fields) against the suite's fake GitHub (``fake_github``,
tests/conftest.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import CheckMessage, run_checks

from adminflow.models import Flow, FlowRun, RecordChange, RunLog, StepRun
from adminflow.runs import FlowDisabled, apply_plan, approve_plan, execute_run, plan_run
from adminflow.runs.config import FlowNotConfigured
from adminflow.states import Trigger
from courseadmin.course.models import Section, Student
from tests.admin.crawl import stored_values
from tests.course.conftest import run, students
from tests.fake_github import TEMPLATE, TOKEN, FakeGitHub

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

GITHUB_FLOWS = ("github-onboarding", "tag-submissions")
STORED_ON_PURPOSE = {("adminflow_flow", "config")}
"""Where a token typed into the stored config is kept, so that a worker can use it."""


def stored_flow_warnings() -> list[CheckMessage]:
    """Return what ``manage.py check --database default`` says of adminflow's rows."""
    return [
        m
        for m in run_checks(databases=["default"])
        if m.id and m.id.startswith("adminflow.") and not m.is_silenced()
    ]


def onboarding_config(fake: FakeGitHub) -> dict[str, Any]:
    """Return a stored config of github-onboarding for the fake, retries quick."""
    github = {"org": fake.org, "token": TOKEN, "api_url": fake.url, "write_spacing": 0.001}
    steps = ("check-accounts", "invite", "repos", "teams", "remove-dropped")
    config: dict[str, Any] = {
        "num_threads": 4,
        "roster": {},
        **{step: dict(github) for step in steps},
        **{
            f"{step}-retry": {"backoff": 0.05, "max_backoff": 0.2, "jitter": False}
            for step in steps
        },
    }
    config["repos"].update(template=TEMPLATE, prefix="hw")
    config["teams"].update(template=TEMPLATE, prefix="project")
    return config


@pytest.fixture
def course(fake_github: FakeGitHub, sections: dict[str, Section]) -> list[Student]:
    """Return six enrolled students with GitHub accounts, in groups of three."""
    made = []
    for n in range(6):
        login = f"student-{n:03d}"
        fake_github.add_user(login)
        made.append(
            Student.objects.create(
                netid=f"s{n:03d}",
                name=f"Student {n}",
                email=f"s{n:03d}@example.edu",
                section=sections["S01"],
                github_username=login,
                group_code=f"S01-G{n // 3:02d}",
            )
        )
    return made


@pytest.fixture
def onboarding(fake_github: FakeGitHub) -> Flow:
    """Return github-onboarding's row, configured for the fake and enabled, as staff would."""
    row = Flow.objects.get(name="github-onboarding")
    row.config = onboarding_config(fake_github)
    row.enabled = True
    row.save()
    return row


def recorded_texts(run: FlowRun) -> Iterator[tuple[str, str]]:
    """Yield ``(where, text)`` for everything the run recorded, then every stored value."""
    for field in ("error", "traceback", "metadata", "config_snapshot"):
        yield f"FlowRun.{field}", str(getattr(run, field))
    for step in StepRun.objects.filter(run=run):
        yield f"StepRun {step.name}.error", step.error
        yield f"StepRun {step.name}.traceback", step.traceback
    for line in RunLog.objects.filter(run=run):
        yield f"RunLog {line.step}", line.message
    for change in RecordChange.objects.filter(run=run):
        yield f"RecordChange {change.key}", f"{change.before} {change.after}"
    for table, column, value in stored_values():
        if (table, column) not in STORED_ON_PURPOSE:
            yield f"{table}.{column}", value


def test_the_github_flows_are_listed_start_disabled_and_need_no_warning():
    rows = Flow.objects.filter(name__in=GITHUB_FLOWS)

    assert sorted(rows.values_list("name", "enabled")) == [
        ("github-onboarding", False),
        ("tag-submissions", False),
    ]
    assert stored_flow_warnings() == []
    with pytest.raises(FlowDisabled, match="flow 'github-onboarding' is disabled"):
        run("github-onboarding")

    rows.update(enabled=True)  # enabled, still not configured: refused, and reported

    with pytest.raises(FlowNotConfigured, match="onboarding' has never been configured"):
        run("github-onboarding")
    assert sorted(m.id for m in stored_flow_warnings()) == [
        "adminflow.W004",
        "adminflow.W004",
    ]


def test_an_onboarding_stores_each_students_outcome_and_records_no_token(
    fake_github: FakeGitHub, course: list[Student], onboarding: Flow
):
    finished = run("github-onboarding")

    assert finished.status == "succeeded", finished.error
    stored = students()
    assert {s.github_invite for s in stored.values()} == {"done"}
    assert {s.github_repo_name for s in stored.values()} == {
        f"hw-student-{n:03d}" for n in range(6)
    }
    assert sorted({s.github_team for s in stored.values()}) == ["s01-g00", "s01-g01"]
    leaks = [where for where, text in recorded_texts(finished) if TOKEN in text]
    assert leaks == []

    fake_github.reset_counts()
    again = run("github-onboarding")

    assert again.status == "succeeded", again.error
    assert fake_github.writes == 0  # the outcomes stored on the students say it is all done


def test_a_bad_token_fails_the_run_with_one_clear_error_and_records_no_token(
    fake_github: FakeGitHub, course: list[Student], onboarding: Flow
):
    fake_github.token = "someone-elses-token"

    finished = run("github-onboarding")

    assert finished.status == "failed"
    check = StepRun.objects.get(run=finished, name="check-accounts")
    assert "GitHub refused the token" in check.error
    assert fake_github.writes == 0
    assert {s.github_account for s in students().values()} == {""}  # nothing stored
    leaks = [where for where, text in recorded_texts(finished) if TOKEN in text]
    assert leaks == []


def test_a_planned_onboarding_writes_nothing_and_its_apply_sends_exactly_the_intents(
    fake_github: FakeGitHub, course: list[Student], onboarding: Flow
):
    planned = execute_run(plan_run("github-onboarding", trigger=Trigger.COMMAND))

    assert planned.status == "planned", planned.error
    assert fake_github.writes == 0
    intents = planned.plan.intents
    assert dict(Counter(intents.values_list("step", flat=True))) == {
        "invite": 6,
        "repos": 6,
        "teams": 6,
    }
    assert {s.github_invite for s in students().values()} == {""}

    approve_plan(planned, None)
    fake_github.reset_counts()
    applied = execute_run(apply_plan(planned, None))

    assert applied.status == "succeeded", applied.error
    # Each intent sends its writes once; a team (and its repository) is made once per group.
    assert len(fake_github.invitations) == 6
    assert set(intents.values_list("outcome", flat=True)) == {"done"}
    stored = students()
    assert {s.github_invite for s in stored.values()} == {"done"}
    assert sorted({s.github_team for s in stored.values()}) == ["s01-g00", "s01-g01"]

    fake_github.reset_counts()
    assert run("github-onboarding").status == "succeeded"
    assert fake_github.writes == 0  # the apply stored what it did: nothing is done twice

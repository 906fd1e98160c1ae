"""Cancel, re-run and resume: as run page buttons and changelist actions, with their permissions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from adminflow.models import Flow, FlowRun
from adminflow.runs import start_run
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, Trigger
from tests.factories import FlowRunFactory, RunningFlowRunFactory
from tests.testapp.steps import reset_numbers

from .flow_helpers import SECRET, SECRET_CONFIG, messages_of, secret_flow
from .run_helpers import CANCEL, RERUN, RESUME, VIEW, client_for, run_url, runs_url

pytestmark = pytest.mark.django_db

EVERY_ACTION = (VIEW, CANCEL, RERUN, RESUME)


@pytest.fixture
def numbers() -> Flow:
    return get_flow_row("numbers")


def numbers_run(status: str, **config: Any) -> FlowRun:
    """Return a run of ``numbers`` started as the command does, then left in ``status``."""
    run = start_run("numbers", trigger=Trigger.COMMAND, config=config or None, num_threads=3)
    if status != FlowRunStatus.QUEUED:
        FlowRun.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now())
    run.refresh_from_db()
    return run


def post_action(client: Client, action: str, runs: list[FlowRun], **extra: Any):
    """POST the changelist's action form, as its "Go" button does."""
    data = {"action": action, "_selected_action": [run.pk for run in runs], "index": "0"}
    return client.post(runs_url(), {**data, **extra})


def state(run: FlowRun) -> tuple[str, bool]:
    run.refresh_from_db()
    return run.status, run.cancel_requested


# Which buttons a run shows


@pytest.mark.parametrize(
    ("status", "buttons"),
    [
        ("queued", ["cancel"]),
        ("running", ["cancel"]),
        ("succeeded", ["rerun"]),
        ("cancelled", ["rerun"]),
        ("failed", ["rerun", "resume", "resume_flow"]),
    ],
)
def test_a_run_offers_the_buttons_its_state_allows(status: str, buttons: list[str]) -> None:
    run = FlowRunFactory(status=status)

    response = client_for(*EVERY_ACTION).get(run_url(run))

    assert [button["action"] for button in response.context["buttons"]] == buttons
    page = response.content.decode()
    for action in ("cancel", "rerun", "resume", "resume_flow"):
        assert (f'action="{run_url(run, action)}"' in page) == (action in buttons)


def test_a_run_offers_only_the_buttons_the_user_may_press() -> None:
    run = FlowRunFactory(status=FlowRunStatus.FAILED)

    assert client_for(VIEW).get(run_url(run)).context["buttons"] == []
    offered = client_for(VIEW, RESUME).get(run_url(run)).context["buttons"]
    assert [button["action"] for button in offered] == ["resume", "resume_flow"]


# Who may press them


@pytest.mark.parametrize("action", ["cancel", "rerun", "resume"])
def test_anonymous_users_cannot_press_a_button(client: Client, action: str) -> None:
    run = FlowRunFactory(status=FlowRunStatus.FAILED)

    response = client.post(run_url(run, action))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert FlowRun.objects.count() == 1
    assert state(run) == ("failed", False)


@pytest.mark.parametrize(
    ("action", "status", "permissions"),
    [
        ("cancel", "queued", (VIEW, RERUN, RESUME)),
        ("rerun", "failed", (VIEW, CANCEL, RESUME)),
        ("resume", "failed", (VIEW, CANCEL, RERUN)),
        ("cancel", "queued", (CANCEL,)),  # the action's permission without seeing runs
    ],
)
def test_a_crafted_post_without_the_permission_is_refused(
    numbers: Flow, action: str, status: str, permissions: tuple[str, ...]
) -> None:
    run = numbers_run(status)

    response = client_for(*permissions).post(run_url(run, action))

    assert response.status_code == 403
    assert FlowRun.objects.count() == 1
    assert state(run) == (status, False)


@pytest.mark.parametrize("action", ["cancel", "rerun", "resume"])
def test_a_get_changes_nothing(numbers: Flow, action: str) -> None:
    run = numbers_run("queued" if action == "cancel" else "failed")

    response = client_for(*EVERY_ACTION).get(run_url(run, action))

    assert response.status_code == 405
    assert FlowRun.objects.count() == 1
    assert state(run)[1] is False
    assert run.status in ("queued", "failed")


def test_a_post_without_the_csrf_token_is_refused(numbers: Flow) -> None:
    run = numbers_run("queued")
    client = client_for(*EVERY_ACTION, enforce_csrf_checks=True)

    response = client.post(run_url(run, "cancel"))

    assert response.status_code == 403
    assert state(run) == ("queued", False)


def test_a_changelist_action_without_its_permission_does_nothing(numbers: Flow) -> None:
    run = numbers_run("queued")

    response = post_action(client_for(VIEW, RERUN, RESUME), "cancel_runs", [run])

    assert messages_of(response) == ["No action selected."]
    assert state(run) == ("queued", False)


# Cancel


def test_cancelling_a_queued_run_cancels_it_at_once(numbers: Flow) -> None:
    run = numbers_run("queued")

    response = client_for(*EVERY_ACTION).post(run_url(run, "cancel"))

    assert response.status_code == 302
    assert response["Location"] == run_url(run)
    assert state(run) == ("cancelled", True)
    assert messages_of(response) == [
        f'Run <a href="{run_url(run)}">{run}</a> was cancelled before it started.'
    ]


def test_cancelling_a_running_run_asks_its_worker_to_stop() -> None:
    run = RunningFlowRunFactory()

    response = client_for(*EVERY_ACTION).post(run_url(run, "cancel"))

    assert state(run) == ("running", True)
    assert "was asked to stop" in messages_of(response)[0]


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_a_finished_run_cannot_be_cancelled(status: str) -> None:
    run = FlowRunFactory(status=status)

    response = client_for(*EVERY_ACTION).post(run_url(run, "cancel"))

    assert state(run) == (status, False)
    assert messages_of(response) == [
        f"Run {run.pk} of flow '{run.flow.name}' is {status}: only queued or running runs "
        "can be cancelled; nothing was done."
    ]


def test_the_cancel_action_acts_on_the_runs_it_may_and_names_the_others() -> None:
    queued, running = FlowRunFactory(status="queued"), RunningFlowRunFactory()
    done = FlowRunFactory(status="succeeded")

    response = post_action(client_for(*EVERY_ACTION), "cancel_runs", [queued, running, done])

    assert [state(queued), state(running), state(done)] == [
        ("cancelled", True),
        ("running", True),
        ("succeeded", False),
    ]
    refused, *cancelled = messages_of(response)
    assert refused.startswith(f"Run {done.pk} of flow")
    assert len(cancelled) == 2


# Re-run


def test_a_rerun_queues_a_new_run_with_the_same_config(
    numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    old = numbers_run("failed", add={"numbers": [7]}, increment={"by": 5})
    client = client_for(*EVERY_ACTION)

    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(run_url(old, "rerun"))

    new = FlowRun.objects.exclude(pk=old.pk).get()
    assert (new.status, new.trigger, new.triggered_by) == (
        "queued",
        Trigger.ADMIN,
        response.wsgi_request.user,
    )
    assert new.config_snapshot == old.config_snapshot
    assert new.config_snapshot["increment"] == {"by": 5}
    assert new.num_threads == 3
    assert new.resumed_from is None
    assert len(enqueued) == 1  # sent to the Tasks backend once the transaction commits
    assert response["Location"] == run_url(new)
    assert messages_of(response) == [
        f'Run <a href="{run_url(new)}">{new}</a> queued, a re-run of run '
        f'<a href="{run_url(old)}">{old}</a>; it uses the config of run '
        f'<a href="{run_url(old)}">{old}</a>.'
    ]


@pytest.mark.parametrize("status", ["queued", "running"])
def test_an_active_run_cannot_be_rerun(
    numbers: Flow, status: str, django_capture_on_commit_callbacks
) -> None:
    run = numbers_run(status)

    with django_capture_on_commit_callbacks() as enqueued:
        response = client_for(*EVERY_ACTION).post(run_url(run, "rerun"))

    assert FlowRun.objects.count() == 1
    assert enqueued == []
    assert (
        "only cancelled, failed, planned or succeeded runs can be re-run"
        in messages_of(response)[0]
    )


def test_a_rerun_is_refused_while_the_flow_has_an_active_run(
    numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    old = numbers_run("succeeded")
    active = numbers_run("queued")

    with django_capture_on_commit_callbacks() as enqueued:
        response = client_for(*EVERY_ACTION).post(run_url(old, "rerun"))

    assert FlowRun.objects.count() == 2
    assert enqueued == []
    assert response["Location"] == run_url(old)
    assert messages_of(response) == [
        f"Run {old.pk} was not re-run: flow 'numbers' is already running: run {active.pk} "
        "is queued; wait for it to finish or cancel it first"
    ]


def test_a_rerun_of_a_disabled_flow_is_refused(numbers: Flow) -> None:
    old = numbers_run("succeeded")
    Flow.objects.filter(pk=numbers.pk).update(enabled=False)

    response = client_for(*EVERY_ACTION).post(run_url(old, "rerun"))

    assert FlowRun.objects.count() == 1
    assert "flow 'numbers' is disabled" in messages_of(response)[0]


def test_a_rerun_takes_masked_secrets_from_the_stored_config(
    register, django_capture_on_commit_callbacks
) -> None:
    register(secret_flow())
    row = get_flow_row("with-secret")
    row.config = SECRET_CONFIG
    row.save()
    old = start_run(row, trigger=Trigger.COMMAND)
    FlowRun.objects.filter(pk=old.pk).update(status="succeeded")
    assert old.config_snapshot["notify"]["token"] != SECRET

    with django_capture_on_commit_callbacks() as enqueued:
        client_for(*EVERY_ACTION).post(run_url(old, "rerun"))

    new = FlowRun.objects.exclude(pk=old.pk).get()
    assert len(enqueued) == 1
    assert SECRET not in str(new.config_snapshot)


def test_a_rerun_whose_secret_cannot_be_restored_is_refused(register) -> None:
    register(secret_flow())
    row = get_flow_row("with-secret")  # no stored config: the secret was given at start only
    old = start_run(row, trigger=Trigger.COMMAND, config=SECRET_CONFIG)
    FlowRun.objects.filter(pk=old.pk).update(status="failed")

    response = client_for(*EVERY_ACTION).post(run_url(old, "rerun"))

    assert FlowRun.objects.count() == 1
    (message,) = messages_of(response)
    assert message.startswith(f"Run {old.pk} was not re-run: ")
    assert "notify.token" in message


@pytest.mark.django_db(transaction=True)
def test_a_rerun_is_executed_by_the_tasks_backend(numbers: Flow) -> None:
    reset_numbers()
    old = numbers_run("succeeded")

    client_for(*EVERY_ACTION).post(run_url(old, "rerun"))

    new = FlowRun.objects.exclude(pk=old.pk).get()
    assert new.status == FlowRunStatus.SUCCEEDED  # the immediate backend ran it
    assert new.steps.count() == 4


# Resume


def test_resuming_a_failed_run_queues_a_run_resumed_from_it(
    numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    old = numbers_run("failed")

    with django_capture_on_commit_callbacks() as enqueued:
        response = client_for(*EVERY_ACTION).post(run_url(old, "resume"))

    new = FlowRun.objects.exclude(pk=old.pk).get()
    assert (new.status, new.resumed_from, new.trigger) == ("queued", old, Trigger.ADMIN)
    assert len(enqueued) == 1
    assert response["Location"] == run_url(new)
    assert "resuming run" in messages_of(response)[0]


@pytest.mark.parametrize("status", ["queued", "running", "succeeded", "cancelled"])
def test_only_a_failed_run_can_be_resumed(numbers: Flow, status: str) -> None:
    run = numbers_run(status)

    response = client_for(*EVERY_ACTION).post(run_url(run, "resume"))

    assert FlowRun.objects.count() == 1
    assert "only failed runs can be resumed; nothing was done." in messages_of(response)[0]


def test_the_resume_action_resumes_each_failed_run_selected(
    register, numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    failed = numbers_run("failed")
    succeeded = FlowRunFactory(status="succeeded")

    with django_capture_on_commit_callbacks() as enqueued:
        response = post_action(client_for(*EVERY_ACTION), "resume_runs", [failed, succeeded])

    assert FlowRun.objects.filter(resumed_from=failed).count() == 1
    assert not FlowRun.objects.filter(resumed_from=succeeded).exists()
    assert len(enqueued) == 1
    assert len(messages_of(response)) == 2


# Resume with the run's config or the flow's


def test_resuming_with_the_runs_config_says_so(numbers: Flow) -> None:
    old = numbers_run("failed", add={"numbers": [7]})
    numbers.config = {"add": {"numbers": [9]}}
    numbers.save()

    response = client_for(*EVERY_ACTION).post(run_url(old, "resume"))

    new = FlowRun.objects.get(resumed_from=old)
    assert new.config_snapshot["add"]["numbers"] == [7]
    assert (new.config_source, new.config_from) == ("run", old)
    assert messages_of(response) == [
        f'Run <a href="{run_url(new)}">{new}</a> queued, resuming run '
        f'<a href="{run_url(old)}">{old}</a>; it uses the config of run '
        f'<a href="{run_url(old)}">{old}</a>.'
    ]


def test_resuming_with_the_flows_config_uses_the_config_corrected_since(
    numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    old = numbers_run("failed", add={"numbers": [7]})
    numbers.config = {"add": {"numbers": [9]}}
    numbers.save()

    with django_capture_on_commit_callbacks() as enqueued:
        response = client_for(*EVERY_ACTION).post(run_url(old, "resume_flow"))

    new = FlowRun.objects.get(resumed_from=old)
    assert new.config_snapshot["add"]["numbers"] == [9]
    assert (new.config_source, new.config_from, new.status) == ("flow", None, "queued")
    assert len(enqueued) == 1
    assert response["Location"] == run_url(new)
    assert messages_of(response) == [
        f'Run <a href="{run_url(new)}">{new}</a> queued, resuming run '
        f'<a href="{run_url(old)}">{old}</a>; it uses the flow&#x27;s stored config.'
    ]


def test_the_changelist_resumes_with_the_flows_config(numbers: Flow) -> None:
    old = numbers_run("failed", add={"numbers": [7]})
    numbers.config = {"add": {"numbers": [9]}}
    numbers.save()

    response = post_action(client_for(*EVERY_ACTION), "resume_runs_with_flow_config", [old])

    new = FlowRun.objects.get(resumed_from=old)
    assert new.config_snapshot["add"]["numbers"] == [9]
    assert messages_of(response)[0].endswith("; it uses the flow&#x27;s stored config.")


def test_resuming_with_the_flows_config_needs_the_resume_permission(numbers: Flow) -> None:
    old = numbers_run("failed")

    response = client_for(VIEW, CANCEL, RERUN).post(run_url(old, "resume_flow"))

    assert response.status_code == 403
    assert FlowRun.objects.count() == 1

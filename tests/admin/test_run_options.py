"""A flow's run page: run now, or once with options (typed fields, modes, debug, an upload)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from adminflow.models import Flow, FlowRun, RunLog
from adminflow.runs.config import configure_again, get_flow_row
from adminflow.states import FlowRunStatus
from tests.factories import FlowRunFactory, StaffUserFactory

from .flow_helpers import SECRET, change_url, changelist_url, file_flow, messages_of

pytestmark = pytest.mark.django_db

RUNNER = ["adminflow.view_flow", "adminflow.run_flow", "adminflow.view_flowrun"]


@pytest.fixture
def runner() -> Client:
    client = Client()
    client.force_login(StaffUserFactory(permissions=RUNNER))
    return client


@pytest.fixture
def uploads(settings, tmp_path) -> Path:
    folder = tmp_path / "uploads"
    settings.ADMINFLOW = {"RUN_UPLOADS_DIR": str(folder)}
    return folder


@pytest.fixture
def from_file(register, tmp_path) -> Flow:
    """Flow ``from-file``, its stored config reading ``week1.txt`` (numbers 1 and 2)."""
    register(file_flow())
    week1 = tmp_path / "week1.txt"
    week1.write_text("1\n2\n")
    row = get_flow_row("from-file")
    row.config = {
        "numbers": {"collection": "from-file"},
        "read": {"path": str(week1)},
        "increment": {"by": 1},
        "notify": {"token": SECRET, "channel": "staff"},
    }
    row.save()
    return row


def run_url(row: Flow) -> str:
    return reverse("admin:adminflow_flow_run", args=[row.pk])


def form_data(row: Flow, **changes: Any) -> dict[str, Any]:
    """Return the form as the page fills it in from ``row``'s stored config, ``changes`` made."""
    data = {
        "num_threads": "4",
        "time_limit": "0.0",
        "numbers-mode": "include",
        "numbers.collection": row.config["numbers"]["collection"],
        "read-mode": "include",
        "read.path": row.config["read"]["path"],
        "increment-mode": "include",
        "increment.by": "1",
        "notify-mode": "include",
        "notify.token": "********",
        "notify.channel": "staff",
        "more": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def input_tag(page: str, name: str) -> str:
    match = re.search(rf'<(input|select)[^>]*name="{re.escape(name)}"[^>]*>', page)
    assert match, f"no field {name}"
    return match.group(0)


def test_the_page_offers_each_key_typed_with_its_stored_value_and_masks_secrets(runner, from_file):
    response = runner.get(run_url(from_file))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'type="number"' in input_tag(page, "increment.by")
    assert 'value="1"' in input_tag(page, "increment.by")
    assert f'value="{from_file.config["read"]["path"]}"' in input_tag(page, "read.path")
    assert 'type="file"' in input_tag(page, "read.path:upload")
    assert 'type="password"' in input_tag(page, "notify.token")
    assert 'value="********"' in input_tag(page, "notify.token")
    assert SECRET not in page
    assert "(int, default 1) how much to add to every number" in page
    assert 'name="notify-mode"' in page
    assert 'name="numbers-mode"' in page


@pytest.mark.django_db(transaction=True)
def test_options_queue_one_run_with_its_overrides_and_leave_the_stored_config(runner, from_file):
    stored = dict(from_file.config)

    response = runner.post(
        run_url(from_file),
        form_data(from_file, **{"increment.by": "5", "notify-mode": "exclude"}),
    )

    run = FlowRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:adminflow_flowrun_change", args=[run.pk])
    assert run.overrides == {"increment": {"by": 5}, "notify-mode": "exclude"}
    assert run.config_snapshot["increment"] == {"by": 5}
    assert run.step_modes["notify"] == "exclude"
    assert run.config_source == "given"
    assert run.status == FlowRunStatus.SUCCEEDED
    from_file.refresh_from_db()
    assert from_file.config == stored
    page = runner.get(response["Location"]).content.decode()
    assert "Overrides" in page
    assert "notify-mode: exclude" in page


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_file_is_saved_and_the_run_reads_it(runner, from_file, uploads):
    week2 = SimpleUploadedFile("week2.txt", b"7\n8\n9\n")

    runner.post(run_url(from_file), form_data(from_file, **{"read.path:upload": week2}))

    run = FlowRun.objects.get()
    saved = Path(run.config_snapshot["read"]["path"])
    assert run.status == FlowRunStatus.SUCCEEDED
    assert saved.is_relative_to(uploads / "from-file")
    assert saved.name == "week2.txt"
    assert saved.read_text() == "7\n8\n9\n"
    assert run.overrides == {"read": {"path": str(saved)}, "uploaded": {"read.path": "week2.txt"}}
    assert RunLog.objects.filter(run=run, message="week2.txt: 3 numbers read").exists()


def test_a_refused_config_is_shown_at_its_keys_and_nothing_is_queued_or_kept(
    runner, from_file, uploads
):
    response = runner.post(
        run_url(from_file),
        form_data(
            from_file,
            num_threads="0",
            **{"read.path": "nowhere.txt"},
        ),
    )

    form = response.context["form"]
    assert response.status_code == 200
    assert form.errors["num_threads"] == ["must be at least 1"]
    assert form.errors["read.path"][0].startswith("no file at 'nowhere.txt'")
    assert not FlowRun.objects.exists()

    upload = SimpleUploadedFile("week2.txt", b"1\n")
    response = runner.post(
        run_url(from_file), form_data(from_file, num_threads="0", **{"read.path:upload": upload})
    )

    assert response.context["form"].errors == {"num_threads": ["must be at least 1"]}
    assert "The run was not queued" in response.content.decode()
    assert not FlowRun.objects.exists()
    assert list(uploads.rglob("*.txt")) == []


def test_yaml_over_the_fields_is_applied_and_its_problems_listed_by_line(runner, from_file):
    more = "increment:\n  by: 3\nnotify-retry: {max_attempts: 2}\n"
    runner.post(run_url(from_file), form_data(from_file, more=more))

    run = FlowRun.objects.get()
    assert run.overrides == {"increment": {"by": 3}, "notify-retry": {"max_attempts": 2}}

    bad = "increment:\n  by: 3\n  colour: red\nmystery: 1\n"
    response = runner.post(run_url(from_file), form_data(from_file, more=bad))

    errors = response.context["form"].errors["more"]
    assert [error.split(":")[0] for error in errors] == [
        "<code>increment.colour</code> (line 3)",
        "<code>mystery</code> (line 4)",
    ]
    assert FlowRun.objects.count() == 1


@pytest.mark.parametrize(
    "given",
    [{"notify.token": "new-token"}, {"more": "notify: {token: new-token}"}],
    ids=["field", "yaml"],
)
def test_a_secret_can_only_be_kept_for_one_run(runner, from_file, given):
    response = runner.post(run_url(from_file), form_data(from_file, **given))

    errors = response.context["form"].errors
    assert "the task worker that executes this run reads secrets" in str(errors)
    assert not FlowRun.objects.exists()


def test_debug_alone_runs_the_stored_config_in_debug_mode(runner, from_file):
    runner.post(run_url(from_file), form_data(from_file, debug="on"))

    run = FlowRun.objects.get()
    assert run.debug
    assert run.overrides == {"debug": True}
    assert run.config_source == "flow"
    assert set(run.step_modes.values()) == {"debug"}


def test_run_now_queues_a_run_with_the_stored_config(runner, from_file):
    response = runner.post(run_url(from_file), {"_run_now": "1"})

    run = FlowRun.objects.get()
    assert response["Location"] == reverse("admin:adminflow_flowrun_change", args=[run.pk])
    assert run.overrides == {}
    assert run.config_source == "flow"
    assert messages_of(response) == [f"Queued run #{run.pk} of flow “from-file”."]


def test_run_now_of_a_disabled_flow_says_why_and_queues_nothing(runner, from_file):
    Flow.objects.filter(pk=from_file.pk).update(enabled=False)

    response = runner.post(run_url(from_file), {"_run_now": "1"})

    assert response["Location"] == run_url(from_file)
    assert messages_of(response) == [
        "Flow “from-file” was not run: it is disabled. Enable it first."
    ]
    assert not FlowRun.objects.exists()


def test_a_flow_with_an_active_run_is_refused_on_the_form(runner, from_file):
    FlowRunFactory(flow=from_file, status=FlowRunStatus.RUNNING)

    response = runner.post(run_url(from_file), form_data(from_file, **{"increment.by": "2"}))

    assert "already has an active run" in str(response.context["form"].non_field_errors())
    assert FlowRun.objects.count() == 1


def test_the_run_buttons_show_on_rows_and_page_only_to_who_may_run(runner, from_file):
    viewer = Client()
    viewer.force_login(StaffUserFactory(permissions=["adminflow.view_flow"]))

    for client, shown in ((runner, True), (viewer, False)):
        listed = client.get(changelist_url()).content.decode()
        page = client.get(change_url(from_file)).content.decode()
        assert (f'formaction="{run_url(from_file)}"' in listed) is shown
        assert (f'href="{run_url(from_file)}"' in page) is shown
    assert viewer.get(run_url(from_file)).status_code == 403


@pytest.mark.parametrize("runs", [10, 1000])
def test_the_page_costs_the_same_however_many_runs_the_flow_has(
    runner, from_file, runs, django_assert_max_num_queries
):
    FlowRun.objects.bulk_create(
        FlowRun(flow=from_file, status=FlowRunStatus.SUCCEEDED, trigger="admin")
        for _ in range(runs)
    )

    with django_assert_max_num_queries(6):
        assert runner.get(run_url(from_file)).status_code == 200


def test_a_masked_secret_in_the_yaml_keeps_the_stored_one(runner, from_file, sent):
    runner.post(run_url(from_file), form_data(from_file, more="notify: {token: '********'}"))

    run = FlowRun.objects.get()
    assert run.overrides == {}
    assert run.config_source == "flow"
    assert configure_again(run).configs["notify"].token.reveal() == SECRET

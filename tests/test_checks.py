"""System checks: broken settings, flows and stored configs are reported by ``manage.py check``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.checks import CheckMessage, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from adminflow import AdminFlow
from adminflow.conf import DEFAULTS
from adminflow.models import Flow
from adminflow.registry import flow_registry
from adminflow.runs.config import get_flow_row
from tests.testapp.flows import add_number_steps
from tests.testapp.steps import Numbers


def adminflow_messages(**kwargs: object) -> list[CheckMessage]:
    return [
        m
        for m in run_checks(**kwargs)
        if m.id and m.id.startswith("adminflow.") and not m.is_silenced()
    ]


def numbers_flow(name: str, default_config: dict | None = None) -> AdminFlow:
    return add_number_steps(AdminFlow(name, "", Numbers, "numbers", default_config=default_config))


def test_the_test_site_passes_every_check():
    assert adminflow_messages() == []


# E001: settings


@override_settings(ADMINFLOW={"HEARTBEAT": 5, "STALE_AFTER": 30, "TASK_QUEUES": ["a"]})
def test_unknown_adminflow_settings_are_named():
    (error,) = adminflow_messages()

    assert error.id == "adminflow.E001"
    assert error.msg == "ADMINFLOW has unknown keys: HEARTBEAT, TASK_QUEUES"
    assert error.hint == f"Known keys: {', '.join(sorted(DEFAULTS))}."
    assert error.is_serious()


@override_settings(ADMINFLOW=[("STALE_AFTER", 30)])
def test_adminflow_settings_that_are_not_a_dict_are_reported():
    (error,) = adminflow_messages()

    assert error.id == "adminflow.E001"
    assert error.msg == "settings.ADMINFLOW must be a dict, got list"


@override_settings(ADMINFLOW={"STALE_AFTER": 30})
def test_known_adminflow_settings_pass():
    assert adminflow_messages() == []


# E002: default configs of registered flows


def test_a_registered_flow_with_a_broken_default_config_is_reported(register):
    flow = register(
        numbers_flow(
            "broken-default",
            {"numbers": {"collection": 5}, "add": {}, "increment": {"by": "one"}, "extra": 1},
        )
    )

    (error,) = adminflow_messages()

    assert error.id == "adminflow.E002"
    assert error.obj is flow
    assert error.msg.startswith("the default config of flow 'broken-default' is not valid:\n")
    for problem in (
        "extra: unknown key",
        "numbers.collection: expected str, got int 5",
        "add.numbers: missing required key (list[int]) the numbers to add",
        "increment.by: expected int, got str 'one'",
    ):
        assert problem in error.msg
    assert "Fix default_config where the flow is defined" in error.hint


def test_a_registered_flow_without_a_default_config_is_left_to_its_stored_config(register):
    register(numbers_flow("configured-in-the-admin"))

    assert adminflow_messages() == []


# E003 / E004 / W001 / W004: rows in the database, checked only when asked for a database


@pytest.mark.django_db
def test_a_stored_spec_that_cannot_be_built_is_reported_by_check_with_a_database():
    row = Flow.objects.create(
        name="from-data",
        spec={"storer": {"type": "Numbers"}, "steps": [{"name": "x", "type": "Triple"}]},
    )

    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check", databases=["default"], stdout=StringIO(), stderr=StringIO())

    assert "from-data: (adminflow.E003) flow 'from-data' cannot be built:" in str(excinfo.value)
    assert "steps[0].type: unknown type 'Triple'" in str(excinfo.value)
    (error,) = adminflow_messages(databases=["default"])
    assert error.id == "adminflow.E003"
    assert error.obj == row


@pytest.mark.django_db
def test_a_broken_stored_config_of_a_registered_flow_is_reported():
    Flow.objects.update_or_create(
        name="numbers", defaults={"config": {"add": {"numbers": "1, 2, 3"}, "double-mode": "off"}}
    )

    (error,) = adminflow_messages(databases=["default"])

    assert error.id == "adminflow.E004"
    assert error.obj.name == "numbers"
    assert error.msg.startswith("the stored config of flow 'numbers' is not valid:\n")
    assert "double-mode: expected one of include | exclude | debug, got 'off'" in error.msg
    assert "add.numbers: expected list[int], got str '1, 2, 3'" in error.msg


@pytest.mark.django_db
def test_a_stored_config_that_is_not_a_mapping_is_reported_not_crashed_on():
    Flow.objects.update_or_create(name="numbers", defaults={"config": ["add"]})

    (error,) = adminflow_messages(databases=["default"])

    assert error.id == "adminflow.E004"
    assert "the config must be a mapping, got list" in error.msg


@pytest.mark.django_db
def test_a_stored_spec_with_a_broken_config_is_reported():
    spec = {
        "storer": {"type": "Numbers", "name": "numbers"},
        "steps": [{"name": "add", "type": "AddNumbers", "config": {"numbers": [1]}}],
    }
    Flow.objects.create(name="from-data", spec=spec, config={"add": {"numbers": [True]}})

    (error,) = adminflow_messages(databases=["default"])

    assert error.id == "adminflow.E004"
    assert "add.numbers: item 0: expected int, got bool True" in error.msg


@pytest.mark.django_db
def test_a_flow_never_configured_is_only_a_warning_that_names_its_missing_keys(register):
    register(numbers_flow("course-roster"))
    row = Flow.objects.create(name="course-roster")

    (warning,) = adminflow_messages(databases=["default"])

    assert warning.id == "adminflow.W004"
    assert not warning.is_serious()
    assert warning.obj == row
    assert warning.msg == (
        "flow 'course-roster' has never been configured (its Flow row stores no config and "
        "the flow has no default config):\n"
        "  - add.numbers: missing required key (list[int]) the numbers to add"
    )
    assert warning.hint == (
        "Store its config on the flow's page in the admin, or give one to a run: "
        "`manage.py runflow course-roster --config FILE`."
    )
    call_command("check", databases=["default"], stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
def test_a_disabled_flow_never_configured_is_not_reported_until_it_is_enabled(register):
    register(numbers_flow("course-roster"), enabled=False)
    row = get_flow_row("course-roster")

    assert not row.enabled
    assert adminflow_messages(databases=["default"]) == []

    row.enabled = True
    row.save()

    (warning,) = adminflow_messages(databases=["default"])
    assert (warning.id, warning.obj) == ("adminflow.W004", row)


@pytest.mark.django_db
def test_stored_rows_are_not_checked_without_a_database():
    Flow.objects.create(name="from-data", spec={"storer": {"type": "Shelf"}})
    Flow.objects.update_or_create(name="numbers", defaults={"config": {"add": {}}})

    assert adminflow_messages() == []
    call_command("check", stdout=StringIO(), stderr=StringIO())  # raises on any error


@pytest.mark.django_db
def test_a_row_whose_flow_left_the_code_is_only_a_warning():
    Flow.objects.create(name="retired")
    stderr = StringIO()

    call_command("check", databases=["default"], stdout=StringIO(), stderr=stderr)

    assert "retired: (adminflow.W001) flow 'retired' has no spec and is no longer registered" in (
        stderr.getvalue()
    )
    (warning,) = adminflow_messages(databases=["default"])
    assert warning.id == "adminflow.W001"
    assert not warning.is_serious()


@pytest.mark.django_db
def test_good_stored_flows_pass():
    spec = flow_registry["numbers"].to_spec()
    del spec["name"]
    Flow.objects.create(name="from-data", spec=spec)
    Flow.objects.update_or_create(name="numbers", defaults={"config": {"add": {"numbers": [4]}}})

    assert adminflow_messages(databases=["default"]) == []


# E007: stored schedules


@pytest.mark.django_db
def test_an_invalid_schedule_written_past_validation_is_reported_with_the_reason():
    row, _ = Flow.objects.get_or_create(name="numbers")
    # A data migration or a queryset update does not run the field's validator.
    Flow.objects.filter(pk=row.pk).update(schedule="0 25 * * *")

    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check", databases=["default"], stdout=StringIO(), stderr=StringIO())

    assert (
        "numbers: (adminflow.E007) flow 'numbers' has an invalid schedule, so it is never run "
        "on schedule: '0 25 * * *' is not a valid cron expression: bad hour"
    ) in str(excinfo.value)
    (error,) = adminflow_messages(databases=["default"])
    assert error.id == "adminflow.E007"
    assert error.obj == row
    assert error.hint == "Correct or clear the schedule on the Flow row, in the admin."
    assert adminflow_messages() == []  # rows are read only when a database is named


@pytest.mark.django_db
def test_valid_and_blank_schedules_pass():
    Flow.objects.update_or_create(name="numbers", defaults={"schedule": "*/15 8-18 * * 1-5"})
    Flow.objects.update_or_create(name="numbers-debuggable", defaults={"schedule": ""})

    assert adminflow_messages(databases=["default"]) == []


def test_an_unknown_tasks_backend_is_reported(settings):
    settings.ADMINFLOW = {"TASK_BACKEND": "nowhere"}

    (message,) = adminflow_messages()

    assert message.id == "adminflow.E005"
    assert "nowhere" in message.msg


def test_a_queue_the_backend_does_not_accept_is_reported(settings):
    settings.ADMINFLOW = {"TASK_QUEUE": "flows"}

    (message,) = adminflow_messages()

    assert message.id == "adminflow.E006"
    assert message.msg == (
        "ADMINFLOW['TASK_QUEUE'] is 'flows', which the Tasks backend 'default' "
        "does not accept (its QUEUES: default)"
    )


def test_an_immediate_backend_is_a_warning_that_runs_would_block_requests(settings):
    settings.SILENCED_SYSTEM_CHECKS = []

    (message,) = adminflow_messages()

    assert message.id == "adminflow.W002"
    assert "inside the web request" in message.msg


def test_a_database_backend_passes(settings):
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}

    assert adminflow_messages() == []


@pytest.mark.django_db
def test_a_flow_requiring_a_plan_that_cannot_be_planned_is_a_warning_naming_its_steps():
    Flow.objects.filter(name="numbers").update(plan_required="always")

    (warning,) = adminflow_messages(databases=["default"])

    assert warning.id == "adminflow.W005"
    assert not warning.is_serious()
    assert "flow 'numbers' requires a plan, so every run of it is refused" in warning.msg
    assert "do not plan intents" in warning.msg
    assert "total" in warning.msg

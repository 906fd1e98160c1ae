"""The flow change form: config and spec as YAML, each problem at its key, secrets never shown."""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

from adminflow.models import Flow, FlowRun
from adminflow.registry import step_registry
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, Trigger
from tests.factories import FlowFactory, StaffUserFactory
from tests.schedule_helpers import utc

from .flow_helpers import (
    SECRET,
    SECRET_CONFIG,
    SPEC,
    Notify,
    add_url,
    change_url,
    secret_flow,
)

pytestmark = pytest.mark.django_db

MASK = "********"


@pytest.fixture
def editor() -> Client:
    client = Client()
    client.force_login(
        StaffUserFactory(
            permissions=["adminflow.view_flow", "adminflow.change_flow", "adminflow.add_flow"]
        )
    )
    return client


@pytest.fixture
def numbers() -> Flow:
    return get_flow_row("numbers")


@pytest.fixture
def with_secret(register) -> Flow:
    register(secret_flow())
    row = get_flow_row("with-secret")
    row.config = SECRET_CONFIG
    row.save()
    return row


def save(client: Client, row: Flow, **fields: Any) -> Any:
    """POST the change form of ``row`` with its current values, ``fields`` changed."""
    data = {"description": row.description, "enabled": "on" if row.enabled else "", "_save": "Save"}
    data.update(fields)
    return client.post(change_url(row), {k: v for k, v in data.items() if v is not None})


def errors_of(response: Any, field: str) -> list[str]:
    """Return the messages the form shows under ``field``, as HTML."""
    return [str(e) for e in response.context["adminform"].form.errors.get(field, [])]


def textarea(page: str, name: str) -> str:
    """Return the text of the page's ``name`` textarea, unescaped."""
    match = re.search(rf'<textarea name="{name}"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert match, f"no {name} textarea"
    return html.unescape(match.group(1))


# The registered flow's page


def test_the_page_shows_the_config_as_yaml_the_template_and_the_dag(
    editor: Client, numbers: Flow
) -> None:
    page = editor.get(change_url(numbers)).content.decode()

    assert yaml.safe_load(textarea(page, "config")) == numbers.config
    assert "# (list[int]) the numbers to add" in page
    assert "increment-mode: include" in page
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="adminflow-dag"' in page
    assert re.findall(r'data-from="(\w+)" data-to="(\w+)"', page) == [("double", "increment")]
    # A registered flow's name is its code's: shown, not editable, and no spec to edit.
    assert 'name="name"' not in page
    assert 'name="spec"' not in page


def test_a_config_saved_as_yaml_is_stored_as_data(editor: Client, numbers: Flow) -> None:
    config = "num_threads: 3\nnumbers: {collection: other}\nadd:\n  numbers: [7, 8]\n"

    response = save(editor, numbers, config=config)

    assert response.status_code == 302
    numbers.refresh_from_db()
    assert numbers.config == {
        "num_threads": 3,
        "numbers": {"collection": "other"},
        "add": {"numbers": [7, 8]},
    }
    again = editor.get(change_url(numbers)).content.decode()
    assert yaml.safe_load(textarea(again, "config")) == numbers.config


def test_an_empty_config_means_the_flows_default(editor: Client, numbers: Flow) -> None:
    response = save(editor, numbers, config="")

    assert response.status_code == 302
    numbers.refresh_from_db()
    assert numbers.config == {}


def test_each_config_problem_is_shown_at_its_key_and_line_and_nothing_is_saved(
    editor: Client, numbers: Flow
) -> None:
    before = dict(numbers.config)
    config = (
        "num_threads: two\n"  # line 1
        "add:\n"
        "  numbers: [1, x]\n"  # line 3
        "increment:\n"  # line 4
        "  by: 1\n"
        "  step: 2\n"  # line 6
        "total-mode: sometimes\n"  # line 7
        "<b>bold</b>: 1\n"  # line 8
    )

    response = save(editor, numbers, config=config)

    assert response.status_code == 200
    # In the order of their lines, as the YAML is read (the engine finds them otherwise).
    assert errors_of(response, "config") == (
        [
            "<code>num_threads</code> (line 1): expected int, got str &#x27;two&#x27;",
            "<code>add.numbers</code> (line 3): item 1: expected int, got str &#x27;x&#x27;",
            "<code>increment.step</code> (line 6): unknown key (expected: by)",
            "<code>total-mode</code> (line 7): expected one of include | exclude | debug, "
            "got &#x27;sometimes&#x27;",
            "<code>&lt;b&gt;bold&lt;/b&gt;</code> (line 8): unknown key (expected num_threads, "
            "fail_fast, time_limit, a step or storer name, &#x27;&lt;name&gt;-mode&#x27;, "
            "or a step&#x27;s &#x27;&lt;name&gt;-retry&#x27; or "
            "&#x27;&lt;name&gt;-time_limit&#x27;)",
        ]
    )
    page = response.content.decode()
    assert "<b>bold</b>" not in page
    # What was typed stays in the box, to be fixed rather than typed again.
    assert textarea(page, "config") == config
    numbers.refresh_from_db()
    assert numbers.config == before


def test_a_missing_key_points_at_its_section(editor: Client, numbers: Flow) -> None:
    response = save(editor, numbers, config="numbers: {}\nadd:\n  debug_numbers: []\n")

    assert errors_of(response, "config") == [
        "<code>add.numbers</code> (line 2): missing required key (list[int]) the numbers to add"
    ]


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (
            "add: [1\n",
            "Not valid YAML at line 2, column 1: expected ',' or ']', but got '<stream end>'",
        ),
        ("- 1\n- 2\n", "the config must be a mapping, got list"),
        ("1: x\n", "top level: keys must be text, got 1 (quote it)"),
        (
            "add: !!set {1, 2}\n",
            "add: a set cannot be stored; use text, numbers, booleans, lists or mappings",
        ),
    ],
)
def test_what_is_not_a_config_is_refused(
    editor: Client, numbers: Flow, config: str, error: str
) -> None:
    before = dict(numbers.config)

    response = save(editor, numbers, config=config)

    assert response.status_code == 200
    assert errors_of(response, "config") == [error]
    numbers.refresh_from_db()
    assert numbers.config == before


def test_a_registered_flows_name_cannot_be_changed(editor: Client, numbers: Flow) -> None:
    response = save(editor, numbers, name="renamed", config="")

    assert response.status_code == 302
    numbers.refresh_from_db()
    assert numbers.name == "numbers"


# Secrets


def test_secrets_are_masked_on_the_page(editor: Client, with_secret: Flow) -> None:
    page = editor.get(change_url(with_secret)).content.decode()

    assert SECRET not in page
    shown = yaml.safe_load(textarea(page, "config"))
    assert shown["notify"] == {"token": MASK, "channel": "staff"}


def test_secrets_are_masked_for_staff_who_may_only_view(with_secret: Flow) -> None:
    client = Client()
    client.force_login(StaffUserFactory(permissions=["adminflow.view_flow"]))

    page = client.get(change_url(with_secret)).content.decode()

    assert SECRET not in page
    assert 'name="config"' not in page
    assert "token: &#x27;********&#x27;" in page
    assert "channel: staff" in page


def test_the_mask_sent_back_keeps_the_stored_secret(editor: Client, with_secret: Flow) -> None:
    page = editor.get(change_url(with_secret)).content.decode()
    config = textarea(page, "config").replace("channel: staff", "channel: everyone")

    response = save(editor, with_secret, config=config)

    assert response.status_code == 302
    with_secret.refresh_from_db()
    assert with_secret.config["notify"] == {"token": SECRET, "channel": "everyone"}


def test_a_new_secret_replaces_the_stored_one(editor: Client, with_secret: Flow) -> None:
    config = yaml.safe_dump({**SECRET_CONFIG, "notify": {"token": "new-token"}})

    save(editor, with_secret, config=config)

    with_secret.refresh_from_db()
    assert with_secret.config["notify"] == {"token": "new-token"}


def test_the_mask_where_no_secret_is_stored_is_refused(editor: Client, with_secret: Flow) -> None:
    Flow.objects.filter(pk=with_secret.pk).update(config={**SECRET_CONFIG, "notify": {}})
    config = "numbers: {}\nadd: {numbers: [1]}\nnotify:\n  token: '********'\n"

    response = save(editor, with_secret, config=config)

    assert response.status_code == 200
    assert errors_of(response, "config") == [
        "<code>notify.token</code> (line 4): &#x27;********&#x27; stands for a stored "
        "secret, and none is stored here: type the secret itself"
    ]
    with_secret.refresh_from_db()
    assert with_secret.config["notify"] == {}


def test_the_mask_in_a_key_that_is_no_secret_is_taken_as_typed(
    editor: Client, with_secret: Flow
) -> None:
    config = yaml.safe_dump({**SECRET_CONFIG, "numbers": {"collection": MASK}})

    save(editor, with_secret, config=config)

    with_secret.refresh_from_db()
    assert with_secret.config["numbers"] == {"collection": MASK}
    assert with_secret.config["notify"]["token"] == SECRET


def test_a_flow_that_cannot_be_built_shows_no_text_values_at_all(editor: Client) -> None:
    gone = FlowFactory(name="gone", config={"api": {"password": "hunter2", "retries": 3}})

    page = editor.get(change_url(gone)).content.decode()

    assert "hunter2" not in page
    assert yaml.safe_load(textarea(page, "config")) == {"api": {"password": MASK, "retries": 3}}
    assert "flow &#x27;gone&#x27; has no spec and is no longer registered" in page


# Flows defined as data


@pytest.fixture
def data_flow() -> Iterator[Flow]:
    # The admin takes registered step types only (by name, or by their path).
    step_registry.register(Notify)
    try:
        yield FlowFactory(name="data-flow", spec=SPEC)
    finally:
        step_registry.unregister("Notify")


def test_a_spec_naming_a_module_to_import_is_refused_and_nothing_is_imported(
    editor: Client, data_flow: Flow
) -> None:
    sys.modules.pop("tests.testapp.import_marker", None)
    page = editor.get(change_url(data_flow)).content.decode()
    spec = "type: tests.testapp.import_marker.Marked\n".join(
        textarea(page, "spec").rsplit("type: Double\n", 1)  # the step "again"
    )

    response = save(editor, data_flow, name="data-flow", config="", spec=spec)

    assert response.status_code == 200
    assert "tests.testapp.import_marker" not in sys.modules
    # Its line depends on the order the database gives the spec's keys back in.
    (error,) = errors_of(response, "spec")
    assert re.fullmatch(
        r"<code>steps\[2\]\.type</code> \(line \d+\): &#x27;tests\.testapp\.import_marker\.Marked"
        r"&#x27; is not a registered step type; a spec edited here names registered types "
        r"only, never a module to import",
        error,
    )
    data_flow.refresh_from_db()
    assert data_flow.spec == SPEC


def test_a_data_defined_flow_edits_its_spec_with_secrets_masked(
    editor: Client, data_flow: Flow
) -> None:
    page = editor.get(change_url(data_flow)).content.decode()

    assert SECRET not in page
    spec = yaml.safe_load(textarea(page, "spec"))
    assert spec["steps"][3]["config"] == {"token": MASK}
    assert 'name="name"' in page
    assert re.findall(r'data-from="(\w+)" data-to="(\w+)"', page) == [("double", "again")]


def test_a_spec_saved_with_the_mask_keeps_its_secret(editor: Client, data_flow: Flow) -> None:
    page = editor.get(change_url(data_flow)).content.decode()
    spec = textarea(page, "spec").replace("collection: data", "collection: elsewhere")

    response = save(editor, data_flow, name="data-flow", config="", spec=spec)

    assert response.status_code == 302
    data_flow.refresh_from_db()
    assert data_flow.spec["storer"]["config"] == {"collection": "elsewhere"}
    assert data_flow.spec["steps"][3]["config"] == {"token": SECRET}


def test_each_spec_problem_is_shown_at_its_path_and_nothing_is_saved(
    editor: Client, data_flow: Flow
) -> None:
    spec = (
        "storer: {type: Numbers, name: numbers}\n"
        "steps:\n"
        "  - {name: add, type: AddNumbers}\n"  # line 3
        "  - {name: double, type: Tripple}\n"  # line 4
        "  - name: again\n"  # line 5
        "    type: Double\n"
        "    depends_on: [nowhere]\n"  # line 7
    )

    response = save(editor, data_flow, name="data-flow", config="", spec=spec)

    assert response.status_code == 200
    errors = errors_of(response, "spec")
    assert len(errors) == 2
    assert errors[0].startswith(
        "<code>steps[1].type</code> (line 4): unknown type &#x27;Tripple&#x27;"
    )
    assert errors[1] == (
        "<code>steps[2].depends_on[0]</code> (line 7): &#x27;nowhere&#x27; is not a step of this spec"
    )
    data_flow.refresh_from_db()
    assert data_flow.spec == SPEC


def test_a_data_defined_flows_config_is_checked_against_its_spec(
    editor: Client, data_flow: Flow
) -> None:
    page = editor.get(change_url(data_flow)).content.decode()

    response = save(
        editor,
        data_flow,
        name="data-flow",
        spec=textarea(page, "spec"),
        config="add: {numbers: [1]}\nnotify: {token: tok-123}\nagain: {by: 2}\n",
    )

    assert errors_of(response, "config") == [
        "<code>again.by</code> (line 3): unknown key (expected: none)"
    ]


def test_a_spec_naming_another_flow_is_refused(editor: Client, data_flow: Flow) -> None:
    spec = yaml.safe_dump({**SPEC, "name": "other", "steps": SPEC["steps"][:1]})

    response = save(editor, data_flow, name="data-flow", config="", spec=spec)

    assert errors_of(response, "spec") == [
        "<code>name</code> (line 2): the spec names flow &#x27;other&#x27;, not &#x27;data-flow&#x27;"
    ]


def test_a_new_flow_is_added_from_a_spec(editor: Client) -> None:
    spec = yaml.safe_dump({**SPEC, "steps": SPEC["steps"][:3]})

    response = editor.post(
        add_url(), {"name": "added", "description": "", "enabled": "on", "config": "", "spec": spec}
    )

    assert response.status_code == 302
    added = Flow.objects.get(name="added")
    assert added.spec["steps"][2] == {"name": "again", "type": "Double", "depends_on": ["double"]}


def test_a_new_flow_needs_a_spec(editor: Client) -> None:
    response = editor.post(
        add_url(), {"name": "added", "description": "", "enabled": "on", "config": "", "spec": ""}
    )

    assert response.status_code == 200
    assert errors_of(response, "spec") == [
        "Flow 'added' is not registered by any installed app, so it needs a spec: "
        "its storer and steps."
    ]
    assert not Flow.objects.filter(name="added").exists()


def test_a_spec_is_masked_for_staff_who_may_only_view(data_flow: Flow) -> None:
    client = Client()
    client.force_login(StaffUserFactory(permissions=["adminflow.view_flow"]))

    page = client.get(change_url(data_flow)).content.decode()

    assert SECRET not in page
    assert 'name="spec"' not in page
    assert "token: &#x27;********&#x27;" in page
    assert "type: tests.admin.flow_helpers.Notify" in page


# The schedule


@pytest.fixture
def amsterdam(settings) -> None:
    settings.TIME_ZONE = "Europe/Amsterdam"


def test_a_schedule_is_saved_and_due_at_its_next_time(
    editor: Client, numbers: Flow, time_machine
) -> None:
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)

    response = save(editor, numbers, schedule="*/15 * * * *", schedule_enabled="on")

    assert response.status_code == 302
    numbers.refresh_from_db()
    assert (numbers.schedule, numbers.schedule_enabled, numbers.schedule_due_at) == (
        "*/15 * * * *",
        True,
        utc(2024, 6, 1, 12, 15),
    )


def test_an_invalid_schedule_is_refused_at_its_field_with_the_reason(
    editor: Client, numbers: Flow
) -> None:
    response = save(editor, numbers, schedule="61 * * * *", schedule_enabled="on")

    assert response.status_code == 200
    assert errors_of(response, "schedule") == [
        "'61 * * * *' is not a valid cron expression: bad minute (expected five fields: "
        "minute hour day-of-month month day-of-week, e.g. '*/15 8-18 * * 1-5')"
    ]
    page = response.content.decode()
    assert "is not a valid cron expression: bad minute" in page
    numbers.refresh_from_db()
    assert (numbers.schedule, numbers.schedule_due_at) == ("", None)


def test_a_schedule_that_ends_before_it_starts_is_refused(editor: Client, numbers: Flow) -> None:
    response = save(
        editor,
        numbers,
        schedule="0 9 * * 1-5",
        schedule_enabled="on",
        schedule_starts="2024-09-02",
        schedule_ends="2024-06-28",
    )

    assert response.status_code == 200
    assert errors_of(response, "schedule_ends") == [
        "The schedule's last day (2024-06-28) is before its first (2024-09-02)."
    ]
    numbers.refresh_from_db()
    assert (numbers.schedule, numbers.schedule_starts, numbers.schedule_ends) == ("", None, None)


def test_a_semester_schedule_is_due_on_its_first_day(
    editor: Client, numbers: Flow, time_machine
) -> None:
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)

    save(
        editor,
        numbers,
        schedule="0 9 * * 1-5",
        schedule_enabled="on",
        schedule_starts="2024-09-02",
        schedule_ends="2024-12-20",
    )

    numbers.refresh_from_db()
    assert numbers.schedule_due_at == utc(2024, 9, 2, 9)


def test_switching_the_schedule_off_clears_its_next_run(
    editor: Client, numbers: Flow, time_machine
) -> None:
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    save(editor, numbers, schedule="*/15 * * * *", schedule_enabled="on")

    save(editor, numbers, schedule="*/15 * * * *")  # the box unticked

    numbers.refresh_from_db()
    assert (numbers.schedule_enabled, numbers.schedule_due_at) == (False, None)


def test_saving_other_fields_keeps_a_time_not_yet_run(
    editor: Client, numbers: Flow, time_machine
) -> None:
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    save(editor, numbers, schedule="*/15 * * * *", schedule_enabled="on")
    time_machine.move_to(utc(2024, 6, 1, 12, 20), tick=False)  # 12:15 is due, not yet run

    save(editor, numbers, description="edited", schedule="*/15 * * * *", schedule_enabled="on")

    numbers.refresh_from_db()
    assert (numbers.description, numbers.schedule_due_at) == ("edited", utc(2024, 6, 1, 12, 15))


def test_the_page_shows_the_schedule_and_its_runs_on_the_sites_clock(
    editor: Client, numbers: Flow, time_machine, amsterdam
) -> None:
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    numbers.schedule = "*/15 * * * *"
    numbers.save()
    run = FlowRun.objects.create(
        flow=numbers,
        trigger=Trigger.SCHEDULE,
        status=FlowRunStatus.SUCCEEDED,
        scheduled_for=utc(2024, 6, 1, 12, 0),
    )

    page = editor.get(change_url(numbers)).content.decode()

    assert '<h2 id="fieldset-0-2-heading" class="fieldset-heading">Schedule</h2>' in page
    assert 'name="schedule"' in page
    assert "The site's time zone: Europe/Amsterdam." in page
    assert "2024-06-01 14:15 CEST" in page  # next run
    assert f'<a href="/admin/adminflow/flowrun/{run.pk}/change/">2024-06-01 14:00 CEST</a>' in page
    assert 'name="notify_emails"' in page
    assert 'name="notify_on_success"' in page


def test_a_roster_path_that_names_no_file_is_refused_at_save_at_its_key(editor: Client) -> None:
    row = get_flow_row("roster-sync")
    before = dict(row.config)
    config = (
        "import-roster:\n"
        "  path: exports/week9.csv\n"  # line 2
        "assign-groups:\n"
        "  group_size: 0\n"  # line 4: refused by the step's own check, in its own words
    )

    response = save(editor, row, config=config)

    assert errors_of(response, "config") == [
        "<code>import-roster.path</code> (line 2): no file at &#x27;exports/week9.csv&#x27; "
        f"(relative to {Path.cwd()})",
        "<code>assign-groups</code> (line 3): group_size must be at least 1, got 0",
    ]
    row.refresh_from_db()
    assert row.config == before


def test_schedule_on_is_not_ticked_when_there_is_no_schedule(editor: Client) -> None:
    unscheduled = get_flow_row("numbers")
    scheduled = get_flow_row("numbers-debuggable")
    scheduled.schedule = "0 9 * * 1"
    scheduled.save()

    def ticked(row: Flow) -> bool:
        page = editor.get(change_url(row)).content.decode()
        (box,) = re.findall(r'<input[^>]*name="schedule_enabled"[^>]*>', page)
        return "checked" in box

    assert not ticked(unscheduled)
    assert ticked(scheduled)


def test_the_yaml_boxes_do_not_wrap_and_get_line_numbers(editor: Client, numbers: Flow) -> None:
    page = editor.get(change_url(numbers)).content.decode()

    (box,) = re.findall(r'<textarea name="config"[^>]*>', page)
    assert 'wrap="off"' in box
    assert "adminflow/flow_form.js" in page

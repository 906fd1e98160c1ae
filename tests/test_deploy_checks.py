"""Deploying a site with stored flows: ``migrate``, ``check --database`` and ``runflow``.

Each command runs in a process of its own, with :mod:`tests.deploy_site.settings`
on this test's database, as a deploy script runs them. Flow ``course-roster``
needs a key that has no default and was never configured: that is a warning
(``adminflow.W004``), and a run of it is refused with the same message. A
stored config that a code change made invalid is an error (``adminflow.E004``)
for ``check``, but does not stop ``migrate``, as a data migration may fix it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adminflow.engine import FlowConfigError
from adminflow.models import Flow, FlowRun
from adminflow.runs import start_run
from adminflow.states import Trigger
from tests.deploy_site.roster import NAME, course_roster
from tests.processes import Processes, django_command, processes_for_test

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

SETTINGS = "tests.deploy_site.settings"
MESSAGE = (
    f"flow '{NAME}' has never been configured (its Flow row stores no config and the flow "
    "has no default config):\n"
    "  - add.numbers: missing required key (list[int]) the numbers to add"
)
HINT = (
    "Store its config on the flow's page in the admin, or give one to a run: "
    f"`manage.py runflow {NAME} --config FILE`."
)
NEVER_CONFIGURED = f"{NAME}: (adminflow.W004) {MESSAGE}\n\tHINT: {HINT}"
"""How ``check`` and ``migrate`` print the warning; a refused run says MESSAGE and HINT."""
# Stored while the add step's key was still "number", before a code change renamed it.
WENT_BAD = {"add": {"number": [1, 2]}}
NOT_VALID = f"{NAME}: (adminflow.E004) the stored config of flow '{NAME}' is not valid:"


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    """Return the test's processes (none yet); kill those still running after the test."""
    with processes_for_test(tmp_path, SETTINGS) as started:
        yield started


def command(processes: Processes, name: str, *args: str) -> tuple[int, str]:
    """Run management command ``args`` as process ``name``; return its exit code and output."""
    processes.start(name, django_command(*args))
    return processes.wait(name), processes.output(name)


def test_a_second_migrate_warns_of_a_flow_never_configured_and_succeeds(processes):
    code, output = command(processes, "first-migrate", "migrate", "--no-input")
    assert code == 0, output
    assert Flow.objects.get(name=NAME).config == {}  # the row migrate created for the flow

    code, output = command(processes, "second-migrate", "migrate", "--no-input")

    assert code == 0, output
    assert NEVER_CONFIGURED in output
    assert "No migrations to apply." in output


def test_check_with_a_database_warns_of_a_flow_never_configured_and_passes(processes):
    Flow.objects.create(name=NAME)

    code, output = command(processes, "check", "check", "--database", "default")

    assert code == 0, output
    assert NEVER_CONFIGURED in output
    assert "System check identified 1 issue (" in output


def test_a_stored_config_that_went_bad_fails_check_but_not_migrate(processes):
    Flow.objects.create(name=NAME, config=WENT_BAD)

    code, output = command(processes, "check", "check", "--database", "default")
    assert code == 1, output
    assert NOT_VALID in output
    assert "add.number: unknown key (expected: debug_numbers, numbers)" in output
    assert "add.numbers: missing required key" in output

    code, output = command(processes, "migrate", "migrate", "--no-input")

    assert code == 0, output
    assert "adminflow.E004" not in output
    assert "No migrations to apply." in output


def test_runflow_refuses_a_flow_never_configured_with_the_warning_and_writes_no_run(
    processes,
):
    Flow.objects.create(name=NAME)

    code, output = command(processes, "runflow", "runflow", NAME)

    assert code == 2, output  # bad usage or config, as runflow says
    assert f"CommandError: {MESSAGE}\n{HINT}\n" in output
    assert not FlowRun.objects.exists()


def test_start_run_refuses_a_flow_never_configured_with_the_warning(register):
    register(course_roster())
    Flow.objects.create(name=NAME)

    with pytest.raises(FlowConfigError) as excinfo:
        start_run(NAME, trigger=Trigger.COMMAND)

    assert str(excinfo.value) == f"{MESSAGE}\n{HINT}"
    assert [str(p) for p in excinfo.value.problems] == [
        "add.numbers: missing required key (list[int]) the numbers to add"
    ]
    assert not FlowRun.objects.exists()

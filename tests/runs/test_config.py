"""Flow rows: created for registered flows, never deleted, and turned back into flows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps.registry import Apps
from django.core.management import call_command

from adminflow import AdminFlow
from adminflow.models import Flow
from adminflow.registry import flow_registry
from adminflow.runs.config import (
    UnknownFlow,
    build_flow,
    get_flow_row,
    stored_config,
    sync_flow_rows,
)
from tests.testapp.flows import add_number_steps
from tests.testapp.steps import Numbers


@pytest.fixture
def retired_numbers() -> Iterator[AdminFlow]:
    """Take the ``numbers`` flow out of the registry for one test, as if its code were gone."""
    flow = flow_registry["numbers"]
    flow_registry.unregister("numbers")
    yield flow
    flow_registry.register(flow)


@pytest.mark.django_db
def test_migrating_created_a_row_for_each_registered_flow():
    rows = {row.name: row for row in Flow.objects.filter(name__in=list(flow_registry))}

    assert set(rows) == set(flow_registry)
    numbers = rows["numbers"]
    assert numbers.description == flow_registry["numbers"].description
    assert numbers.config == flow_registry["numbers"].default_config
    assert numbers.spec is None
    assert numbers.enabled


@pytest.mark.django_db(transaction=True)
def test_migrate_creates_missing_rows_and_keeps_rows_whose_flow_is_gone(retired_numbers):
    Flow.objects.filter(name="numbers-debuggable").delete()
    Flow.objects.filter(name="numbers").update(config={"add": {"numbers": [9]}})
    Flow.objects.create(name="retired", description="a flow removed from the code")

    call_command("migrate", verbosity=0)

    debuggable = Flow.objects.get(name="numbers-debuggable")
    assert debuggable.config == flow_registry["numbers-debuggable"].default_config
    # Rows of flows no longer registered stay, and a stored config is never overwritten.
    assert Flow.objects.get(name="numbers").config == {"add": {"numbers": [9]}}
    assert Flow.objects.filter(name="retired").exists()


@pytest.mark.django_db
def test_sync_flow_rows_is_two_queries_and_changes_no_existing_row(django_assert_num_queries):
    Flow.objects.filter(name="numbers").update(description="edited", enabled=False)
    Flow.objects.filter(name="numbers-debuggable").delete()
    before = Flow.objects.count()

    with django_assert_num_queries(2):
        sync_flow_rows()

    assert Flow.objects.count() == before + 1
    numbers = Flow.objects.get(name="numbers")
    assert (numbers.description, numbers.enabled) == ("edited", False)


@pytest.mark.django_db
def test_sync_flow_rows_with_every_row_present_writes_nothing(django_assert_num_queries):
    sync_flow_rows()  # in case another test left a registered flow without its row
    with django_assert_num_queries(1):
        sync_flow_rows()


@pytest.mark.django_db
def test_sync_flow_rows_skips_a_migrated_state_without_adminflow(django_assert_num_queries):
    # What post_migrate passes after ``migrate adminflow zero``: no Flow model, so no table.
    with django_assert_num_queries(0):
        sync_flow_rows(using="default", apps=Apps(installed_apps=[]))


# get_flow_row


@pytest.mark.django_db
def test_get_flow_row_returns_the_existing_row(django_assert_num_queries):
    row = Flow.objects.get(name="numbers")

    with django_assert_num_queries(1):
        assert get_flow_row("numbers") == row


@pytest.mark.django_db
def test_get_flow_row_creates_the_row_of_a_registered_flow_on_demand():
    Flow.objects.filter(name="numbers").delete()

    row = get_flow_row("numbers")

    assert row.pk is not None
    assert Flow.objects.get(name="numbers") == row
    assert row.config == flow_registry["numbers"].default_config
    assert row.description == flow_registry["numbers"].description


@pytest.mark.django_db
def test_get_flow_row_finds_a_flow_defined_only_as_data():
    row = Flow.objects.create(name="from-data", spec={"storer": {"type": "Numbers"}})

    assert get_flow_row("from-data") == row


@pytest.mark.django_db
def test_an_unknown_flow_name_lists_the_known_names():
    Flow.objects.create(name="from-data", spec={"storer": {"type": "Numbers"}})
    count = Flow.objects.count()
    known = sorted({*flow_registry, *Flow.objects.values_list("name", flat=True)})

    with pytest.raises(UnknownFlow) as excinfo:
        get_flow_row("numbrs")

    assert str(excinfo.value) == f"no flow named 'numbrs' (known: {', '.join(known)})"
    assert "from-data" in known
    assert {"numbers", "numbers-debuggable"} <= set(known)
    assert Flow.objects.count() == count  # nothing created


# build_flow and stored_config


@pytest.mark.django_db
def test_a_row_without_a_spec_is_the_registered_flow():
    assert build_flow(Flow.objects.get(name="numbers")) is flow_registry["numbers"]


@pytest.mark.django_db
def test_a_row_whose_flow_left_the_code_cannot_be_built(retired_numbers):
    row = Flow.objects.get(name="numbers")

    with pytest.raises(UnknownFlow) as excinfo:
        build_flow(row)

    assert str(excinfo.value) == (
        "flow 'numbers' has no spec and is no longer registered by any installed app"
    )


@pytest.mark.django_db
def test_a_spec_on_the_row_of_a_registered_flow_wins():
    spec = add_number_steps(AdminFlow("numbers", "as data", Numbers, "numbers")).to_spec()
    row = Flow.objects.get(name="numbers")
    row.spec = spec

    flow = build_flow(row)

    assert flow is not flow_registry["numbers"]
    assert flow.description == "as data"


def test_stored_config_prefers_the_rows_config_over_the_flows_default():
    flow = flow_registry["numbers"]
    edited = {"add": {"numbers": [4]}}

    assert stored_config(Flow(name="numbers", config=edited), flow) == edited
    assert stored_config(Flow(name="numbers", config={}), flow) == flow.default_config
    assert stored_config(Flow(name="numbers", config={}), flow) is not flow.default_config

"""The step and flow registries, and autodiscovery of installed apps' steps and flows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test.utils import modify_settings

from adminflow import AdminFlow, AdminUpdateStep, AlreadyRegistered, NotRegistered
from adminflow.models import Flow
from adminflow.registry import (
    FlowRegistry,
    StepRegistry,
    flow_registry,
    register_flow,
    register_step,
    step_registry,
)
from adminflow.runs.config import get_flow_row, sync_flow_rows
from tests.testapp import flows as testapp_flows
from tests.testapp.steps import AddNumbers, Double, Increment, Numbers, Total

ROOT = Path(__file__).resolve().parent.parent


class Halve(AdminUpdateStep):
    description = "Halve every number."

    def update_records(self, records: Any, logger: Any) -> None:
        for record, lock in records:
            with lock:
                record.value //= 2


def make_flow(name: str = "halving") -> AdminFlow:
    flow = AdminFlow(name, "Halve the numbers.", Numbers, "numbers")
    flow.add_update_step("halve", Halve)
    return flow


@pytest.fixture
def steps() -> StepRegistry:
    return StepRegistry()


@pytest.fixture
def flows() -> FlowRegistry:
    return FlowRegistry()


# Steps


def test_register_step_as_a_decorator_uses_the_class_name(steps):
    @register_step(registry=steps)
    class Triple(AdminUpdateStep):
        def update_records(self, records: Any, logger: Any) -> None:
            pass

    assert steps["Triple"] is Triple
    assert steps.is_registered("Triple")
    assert list(steps) == ["Triple"]
    assert len(steps) == 1


def test_register_step_as_a_decorator_with_a_name(steps):
    decorated = register_step(name="halve-v2", registry=steps)(Halve)

    assert decorated is Halve
    assert steps["halve-v2"] is Halve
    assert not steps.is_registered("Halve")


def test_register_step_as_a_call_returns_the_class(steps):
    assert register_step(Halve, registry=steps) is Halve
    assert register_step(Numbers, registry=steps) is Numbers

    assert dict(steps) == {"Halve": Halve, "Numbers": Numbers}


def test_registering_a_step_name_twice_names_the_step_and_the_class_holding_it(steps):
    steps.register(Halve)

    with pytest.raises(AlreadyRegistered) as excinfo:
        steps.register(Double, name="Halve")

    assert str(excinfo.value) == (
        "step type 'Halve' is already registered (tests.test_registry.Halve)"
    )
    assert steps["Halve"] is Halve


def test_registering_something_that_is_not_a_step_or_storer_is_refused(steps):
    with pytest.raises(TypeError, match=r"<class 'dict'> is not a step or record storer class"):
        steps.register(dict)
    with pytest.raises(TypeError, match="is not a step or record storer class"):
        steps.register(make_flow())  # type: ignore[arg-type]

    assert len(steps) == 0


def test_unregister_step(steps):
    steps.register(Halve)

    steps.unregister("Halve")

    assert not steps.is_registered("Halve")
    assert len(steps) == 0


def test_unregistering_an_unknown_step_names_it(steps):
    with pytest.raises(NotRegistered) as excinfo:
        steps.unregister("Halve")

    assert str(excinfo.value) == "step type 'Halve' is not registered"


def test_looking_up_an_unknown_step_names_it_and_lists_the_known_ones(steps):
    steps.register(Halve)
    steps.register(Double)

    with pytest.raises(NotRegistered) as excinfo:
        steps["Triple"]

    assert str(excinfo.value) == "step type 'Triple' is not registered (known: Double, Halve)"
    assert isinstance(excinfo.value, KeyError)  # a Mapping: .get() and `in` work as usual
    assert steps.get("Triple") is None


def test_looking_up_in_an_empty_registry_says_none_are_known(steps):
    with pytest.raises(NotRegistered, match=r"known: none"):
        steps["Halve"]


# Flows


def test_register_flow_as_a_call_returns_the_flow(flows):
    flow = make_flow()

    assert register_flow(flow, registry=flows) is flow
    assert flows["halving"] is flow
    assert flows.is_registered("halving")


def test_register_flow_decorating_a_builder_registers_what_it_returns(flows):
    built: list[AdminFlow] = []

    @register_flow(registry=flows)
    def halving() -> AdminFlow:
        built.append(make_flow())
        return built[-1]

    assert callable(halving)  # the builder is returned as is
    assert len(built) == 1  # and called once, at registration
    assert flows["halving"] is built[0]


def test_a_builder_that_returns_no_flow_is_named(flows):
    def broken_builder() -> Any:
        return "halving"

    with pytest.raises(TypeError) as excinfo:
        register_flow(broken_builder, registry=flows)

    assert "broken_builder" in str(excinfo.value)
    assert "returned 'halving', not an AdminFlow" in str(excinfo.value)
    assert len(flows) == 0


def test_register_flow_refuses_what_is_neither_a_flow_nor_a_builder(flows):
    with pytest.raises(TypeError, match="register_flow takes an AdminFlow or a function"):
        register_flow(42, registry=flows)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="is not an AdminFlow"):
        flows.register("halving")  # type: ignore[arg-type]

    assert len(flows) == 0


def test_registering_a_flow_name_twice_names_the_flow(flows):
    first = flows.register(make_flow())

    with pytest.raises(AlreadyRegistered) as excinfo:
        flows.register(make_flow())

    assert str(excinfo.value) == "flow 'halving' is already registered"
    assert flows["halving"] is first


def test_unregister_flow(flows):
    flows.register(make_flow())

    flows.unregister("halving")

    assert not flows.is_registered("halving")
    assert dict(flows) == {}


def test_unknown_flows_are_named(flows):
    flows.register(make_flow("halving"))
    flows.register(make_flow("also-halving"))

    with pytest.raises(NotRegistered) as excinfo:
        flows.unregister("doubling")
    assert str(excinfo.value) == "flow 'doubling' is not registered"

    with pytest.raises(NotRegistered) as excinfo:
        flows["doubling"]
    assert str(excinfo.value) == (
        "flow 'doubling' is not registered (known: also-halving, halving)"
    )


def test_a_flow_registered_with_enabled_false_says_its_row_starts_disabled(flows):
    register_flow(make_flow("halving"), registry=flows, enabled=False)

    @register_flow(registry=flows, enabled=False)
    def doubling() -> AdminFlow:
        return make_flow("doubling")

    register_flow(make_flow("thirds"), registry=flows)

    assert [flows.starts_enabled(name) for name in flows] == [False, False, True]
    flows.unregister("halving")
    flows.register(make_flow("halving"))
    assert flows.starts_enabled("halving")  # a new registration starts afresh


@pytest.mark.django_db
def test_the_row_made_for_a_flow_registered_disabled_is_disabled_and_stays_as_staff_set_it(
    register,
):
    register(make_flow("halving"), enabled=False)
    register(make_flow("doubling"), enabled=False)
    register(make_flow("thirds"))

    sync_flow_rows()
    halving = get_flow_row("halving")

    assert not halving.enabled
    assert dict(
        Flow.objects.filter(name__in=["doubling", "thirds"]).values_list("name", "enabled")
    ) == {
        "doubling": False,
        "thirds": True,
    }
    halving.enabled = True
    halving.save()
    sync_flow_rows()
    assert get_flow_row("halving").enabled  # an existing row is never changed


def test_fresh_registries_share_nothing_with_the_site_registries(steps, flows):
    steps.register(Halve)
    flows.register(make_flow())

    assert not step_registry.is_registered("Halve")
    assert not flow_registry.is_registered("halving")


# Autodiscovery


def test_autodiscovery_registered_the_test_apps_steps_and_flows():
    assert {
        "Numbers": Numbers,
        "AddNumbers": AddNumbers,
        "Double": Double,
        "Increment": Increment,
        "Total": Total,
    }.items() <= dict(step_registry).items()
    assert flow_registry["numbers-debuggable"] is testapp_flows.numbers_debuggable
    numbers = flow_registry["numbers"]
    assert list(numbers.steps) == ["add", "double", "increment", "total"]
    assert numbers.record_storer_type is Numbers


def run_python(code: str, settings_module: str, extra_path: Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter with ``settings_module``; return its stdout."""
    python_path = [str(ROOT), *([str(extra_path)] if extra_path else [])]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": ":".join(python_path),
            "DJANGO_SETTINGS_MODULE": settings_module,
        },
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


REPORT_REGISTRIES = """
import json
import sys
import django
django.setup()
from adminflow.registry import flow_registry, step_registry
print(json.dumps({
    "flows": sorted(flow_registry),
    "steps": sorted(step_registry),
    "imported": "tests.testapp.flows" in sys.modules,
}))
"""


def test_app_ready_discovers_steps_and_flows_modules_without_anything_importing_them():
    found = json.loads(run_python(REPORT_REGISTRIES, "tests.settings"))

    assert {"numbers", "numbers-debuggable"} <= set(found["flows"])
    assert {"AddNumbers", "Double", "Increment", "Numbers", "Total"} <= set(found["steps"])
    assert found["imported"]


def test_the_simple_app_config_does_not_autodiscover(tmp_path):
    (tmp_path / "simple_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n"
        "INSTALLED_APPS = [\n"
        '    "django.contrib.contenttypes",\n'
        '    "django.contrib.auth",\n'
        '    "adminflow.apps.SimpleAdminflowConfig",\n'
        '    "tests.testapp",\n'
        "]\n"
    )

    found = json.loads(run_python(REPORT_REGISTRIES, "simple_settings", extra_path=tmp_path))

    assert found == {"flows": [], "steps": [], "imported": False}


BROKEN_FLOWS = """
from adminflow import AdminFlow, AdminUpdateStep, RecordStorer, register_flow, register_step


@register_step
class HalfStep(AdminUpdateStep):
    description = "registered before the module breaks"

    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        pass


class HalfStorer(RecordStorer):
    description = "records of nothing"

    def get_records(self, logger):
        return []

    def set_records(self, rec_list, logger, debug=False):
        pass


flow = AdminFlow("half-registered", "registered before the module breaks", HalfStorer, "s")
flow.add_update_step("half", HalfStep)
register_flow(flow, enabled=False)
raise RuntimeError("this flows module breaks half way")
"""


def test_a_flows_module_that_breaks_half_way_leaves_the_registries_as_they_were(
    tmp_path, monkeypatch
):
    package = tmp_path / "halfapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flows.py").write_text(BROKEN_FLOWS)
    monkeypatch.syspath_prepend(str(tmp_path))
    steps_before, flows_before = dict(step_registry), dict(flow_registry)

    # Installing the app runs adminflow's ready(), whose autodiscovery imports it.
    with (
        pytest.raises(RuntimeError, match="breaks half way"),
        modify_settings(INSTALLED_APPS={"append": "halfapp"}),
    ):
        pass

    assert dict(step_registry) == steps_before
    assert dict(flow_registry) == flows_before
    assert flow_registry.starts_enabled("half-registered")

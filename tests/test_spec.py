"""Flows as data: specs (dicts, YAML, JSON, Flow rows) build the same flows as code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adminflow import AdminFlow, AdminRecordStep, FlowConfigError
from adminflow.models import Flow
from adminflow.registry import flow_registry, step_registry
from adminflow.runs.config import build_flow, stored_config
from tests.testapp.steps import AddNumbers, Double, Increment, Numbers, Total, reset_numbers

NUMBERS_SPEC: dict[str, Any] = {
    "name": "numbers",
    "description": "Add 1, 2 and 3, double every number, add one, report the total.",
    "settings": {"num_threads": 2},
    "storer": {"type": "Numbers", "name": "numbers", "config": {"collection": "numbers"}},
    "steps": [
        {"name": "add", "type": "AddNumbers", "kind": "record", "config": {"numbers": [1, 2, 3]}},
        {"name": "double", "type": "Double", "kind": "update", "config": {}},
        {
            "name": "increment",
            "type": "Increment",
            "kind": "update",
            "depends_on": ["double"],
            "config": {"by": 1},
        },
        {"name": "total", "type": "Total", "kind": "propagate", "config": {"label": "numbers"}},
    ],
}


def shape(flow: AdminFlow) -> list[tuple[str, str, type, tuple[str, ...]]]:
    """Return what a flow runs: each step's name, kind, class and dependencies, in order."""
    return [(name, e.kind, e.cls, e.depends_on) for name, e in flow.steps.items()]


def problems(excinfo: pytest.ExceptionInfo[FlowConfigError]) -> list[tuple[str, str]]:
    return [(problem.path, problem.message) for problem in excinfo.value.problems]


@pytest.fixture(autouse=True)
def _fresh_numbers():
    reset_numbers()
    yield
    reset_numbers()


# Round trips


def test_a_code_defined_flow_becomes_a_spec_naming_its_registered_types():
    assert flow_registry["numbers"].to_spec(step_registry) == NUMBERS_SPEC


def test_a_spec_builds_the_flow_it_came_from():
    code_flow = flow_registry["numbers"]

    flow = AdminFlow.from_spec(NUMBERS_SPEC, step_registry)

    assert flow.name == "numbers"
    assert flow.description == code_flow.description
    assert flow.record_storer_type is Numbers
    assert flow.record_storer_name == "numbers"
    assert shape(flow) == shape(code_flow)
    assert flow.default_config == code_flow.default_config
    assert flow.describe_config() == code_flow.describe_config()
    assert flow.to_spec(step_registry) == NUMBERS_SPEC


def test_without_registered_names_types_are_written_and_read_as_dotted_paths():
    spec = flow_registry["numbers"].to_spec()

    assert spec["storer"]["type"] == "tests.testapp.steps.Numbers"
    assert [step["type"] for step in spec["steps"]] == [
        "tests.testapp.steps.AddNumbers",
        "tests.testapp.steps.Double",
        "tests.testapp.steps.Increment",
        "tests.testapp.steps.Total",
    ]
    flow = AdminFlow.from_spec(spec)  # no step types at all: imported by path
    assert shape(flow) == shape(flow_registry["numbers"])


def test_a_dotted_path_that_does_not_import_is_named():
    spec = {
        "name": "dotted",
        "storer": {"type": "tests.testapp.steps.Numbers"},
        "steps": [
            {"name": "a", "type": "tests.testapp.steps.Triple"},
            {"name": "b", "type": "no_such_package.steps.Triple"},
        ],
    }

    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec(spec)

    assert problems(excinfo) == [
        (
            "steps[0].type",
            "cannot import 'tests.testapp.steps.Triple': "
            "module 'tests.testapp.steps' has no attribute 'Triple'",
        ),
        (
            "steps[1].type",
            "cannot import 'no_such_package.steps.Triple': No module named 'no_such_package'",
        ),
    ]


def test_steps_may_be_listed_in_any_order_and_only_move_for_their_dependencies():
    spec = {
        "name": "shuffled",
        "storer": {"type": "Numbers", "name": "numbers"},
        "steps": [
            {"name": "total", "type": "Total"},
            {"name": "increment", "type": "Increment", "depends_on": ["double"]},
            {"name": "add", "type": "AddNumbers", "config": {"numbers": [1]}},
            {"name": "double", "type": "Double"},
        ],
    }

    flow = AdminFlow.from_spec(spec, step_registry)

    assert list(flow.steps) == ["total", "double", "increment", "add"]
    assert flow.steps["increment"].depends_on == ("double",)
    assert flow.steps["add"].kind == "record"  # the kind comes from the class when not given


def test_the_storer_name_defaults_to_records():
    flow = AdminFlow.from_spec({"name": "bare", "storer": {"type": "Numbers"}}, step_registry)

    assert flow.record_storer_name == "records"
    assert flow.steps == {}
    assert flow.default_config == {}


def test_modes_and_settings_go_into_the_default_config():
    spec = {
        "name": "moded",
        "settings": {"num_threads": 1, "fail_fast": True},
        "storer": {"type": "Numbers", "name": "numbers", "mode": "debug"},
        "steps": [{"name": "double", "type": "Double", "mode": "exclude"}],
    }

    flow = AdminFlow.from_spec(spec, step_registry)

    assert flow.default_config == {
        "num_threads": 1,
        "fail_fast": True,
        "numbers-mode": "debug",
        "double-mode": "exclude",
    }
    assert flow.to_spec(step_registry) == {
        **spec,
        "description": "",
        "steps": [{"name": "double", "type": "Double", "kind": "update", "mode": "exclude"}],
    }


# Text


NUMBERS_YAML = """\
name: numbers
description: Add 1, 2 and 3, double every number, add one, report the total.
settings: {num_threads: 2}
storer:
  type: Numbers
  name: numbers
  config: {collection: numbers}
steps:
  - {name: add, type: AddNumbers, kind: record, config: {numbers: [1, 2, 3]}}
  - {name: double, type: Double, kind: update, config: {}}
  - name: increment
    type: Increment
    kind: update
    depends_on: [double]
    config: {by: 1}
  - {name: total, type: Total, kind: propagate, config: {label: numbers}}
"""


def test_a_spec_can_be_yaml_text():
    flow = AdminFlow.from_spec(NUMBERS_YAML, step_registry)

    assert flow.to_spec(step_registry) == NUMBERS_SPEC


def test_a_spec_can_be_json_text():
    text = json.dumps(NUMBERS_SPEC, indent="\t")  # tabs: JSON, but not YAML

    flow = AdminFlow.from_spec(text, step_registry)

    assert flow.to_spec(step_registry) == NUMBERS_SPEC
    assert AdminFlow.from_spec(text.encode(), step_registry).to_spec(step_registry) == NUMBERS_SPEC


def test_unreadable_text_is_reported_with_its_line_and_column():
    text = "name: numbers\nstorer: {type: Numbers\nsteps: []\n"

    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec(text, step_registry)

    message = str(excinfo.value)
    assert message.startswith("flow '<spec>': the spec is not valid YAML or JSON at line 3, column")
    assert "expected ',' or '}'" in message


def test_text_that_is_not_a_mapping_is_refused():
    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec("- name: numbers\n", step_registry)

    assert str(excinfo.value) == "flow '<spec>': a flow spec must be a mapping, got list"


# Faults, each at its place in the spec


def test_every_fault_is_reported_at_its_path_in_one_error():
    spec = {
        "name": "broken",
        "colour": "blue",
        "storer": {"type": "Shelf", "name": "numbers", "size": 3},
        "steps": [
            {"name": "add", "type": "AddNumbers", "kind": "update", "config": {"numbers": [1]}},
            {"name": "double", "type": "Double", "depends_on": ["halve"]},
            {"name": "double", "type": "Increment"},
            {"name": "total", "type": "Total"},
            {"name": "increment", "type": "Increment", "depends_on": ["total"]},
            {"name": "mystery", "type": "Triple", "colour": "red"},
            {"name": "store", "type": "Numbers"},
            {"name": "a", "type": "Double", "depends_on": ["b"]},
            {"name": "b", "type": "Double", "depends_on": ["a"]},
        ],
    }

    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec(spec, step_registry)

    known = ", ".join(sorted(step_registry))
    assert excinfo.value.flow == "broken"
    assert problems(excinfo) == [
        ("colour", "unknown key (expected: description, name, settings, steps, storer)"),
        ("storer.size", "unknown key (expected: config, mode, name, type)"),
        ("storer.type", f"unknown type 'Shelf' (known: {known})"),
        ("steps[0].kind", "'AddNumbers' is a record step, not 'update'"),
        ("steps[2].name", "'double' is already the name of steps[1]"),
        (
            "steps[5].colour",
            "unknown key (expected: config, depends_on, kind, mode, name, retry, time_limit, type)",
        ),
        ("steps[5].type", f"unknown type 'Triple' (known: {known})"),
        ("steps[6].type", "'Numbers' is not a step class (AdminStep)"),
        ("steps[1].depends_on[0]", "'halve' is not a step of this spec"),
        (
            "steps[4].depends_on[0]",
            "update step 'increment' cannot depend on propagate step 'total'",
        ),
        ("steps", "depends_on forms a cycle: a -> b -> a"),
    ]
    assert str(excinfo.value).startswith("flow 'broken': 11 configuration problems:\n")
    assert "  - steps[6].type: 'Numbers' is not a step class (AdminStep)" in str(excinfo.value)


def test_a_missing_name_and_storer_and_a_step_as_storer_are_reported():
    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec({"steps": {"name": "double"}}, step_registry)
    assert excinfo.value.flow == "<spec>"
    assert problems(excinfo) == [
        ("name", "expected a non-empty name, got None"),
        ("storer", "expected a mapping, got nothing"),
        ("storer.type", "expected a registered type name, got None"),
        ("steps", "expected a list, got dict"),
    ]

    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec({"name": "x", "storer": {"type": "Double"}}, step_registry)
    assert problems(excinfo) == [
        ("storer.type", "'Double' is not a record storer class (RecordStorer)")
    ]


def test_an_unknown_kind_is_named():
    spec = {
        "name": "x",
        "storer": {"type": "Numbers"},
        "steps": [{"name": "d", "type": "Double", "kind": "tidy"}],
    }

    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec(spec, step_registry)

    assert problems(excinfo) == [
        ("steps[0].kind", "expected one of record | update | propagate, got 'tidy'")
    ]


def test_record_steps_take_no_depends_on():
    spec = {
        "name": "x",
        "storer": {"type": "Numbers"},
        "steps": [
            {"name": "first", "type": "AddNumbers"},
            {"name": "second", "type": "AddNumbers", "depends_on": ["first"]},
        ],
    }

    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec(spec, step_registry)

    assert problems(excinfo) == [
        (
            "steps[1].depends_on",
            "record steps run in the order listed and take no depends_on",
        )
    ]


def test_faults_only_the_flow_can_see_are_reported_at_the_step():
    class NoRecords(AdminRecordStep):
        config_types = [("values", list, "taken by configs.values")]

        def new_records(self, curr_records: Any, logger: Any) -> Any:
            return curr_records

    spec = {
        "name": "x",
        "storer": {"type": "Numbers", "name": "numbers"},
        "steps": [
            {"name": "numbers", "type": "Double"},
            {"name": "num_threads", "type": "Double"},
            {"name": "odd", "type": "NoRecords"},
        ],
    }

    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec(spec, {**step_registry, "NoRecords": NoRecords})

    taken = "this name is taken by the storer or a flow setting"
    assert problems(excinfo) == [
        ("steps[0]", f"numbers: {taken}"),
        ("steps[1]", f"num_threads: {taken}"),
        (
            "steps[2]",
            "odd.config_types[0]: key name 'values' is taken by configs.values; rename it",
        ),
    ]


# Flow rows


def run_summary(result: Any) -> dict[str, Any]:
    """Return what two runs of equivalent flows must agree on (not timings)."""
    return {
        "status": result.status,
        "steps": [
            (s.name, s.kind, s.mode, s.depends_on, s.status, s.error) for s in result.steps.values()
        ],
        "records_in": result.records_in,
        "records_out": result.records_out,
        "stored": result.stored,
        "metadata": result.metadata,
        "error": result.error,
    }


@pytest.mark.django_db
def test_a_flow_row_holding_a_spec_runs_exactly_like_the_code_defined_flow():
    spec = flow_registry["numbers"].to_spec(step_registry)
    spec["storer"]["config"] = {"collection": "numbers-as-data"}
    del spec["name"]  # the row's name is the flow's
    Flow.objects.create(name="numbers-as-data", spec=spec)
    Numbers.collections.update({"numbers": [10], "numbers-as-data": [10]})
    code_flow = flow_registry["numbers"]

    row = Flow.objects.get(name="numbers-as-data")  # the spec as the database gives it back
    data_flow = build_flow(row)
    data_result = data_flow.with_config(stored_config(row, data_flow)).run()
    code_result = code_flow.with_config(code_flow.default_config).run()

    assert data_flow.name == "numbers-as-data"
    assert shape(data_flow) == shape(code_flow)
    assert run_summary(data_result) == run_summary(code_result)
    assert run_summary(code_result)["status"] == "succeeded"
    assert Numbers.collections == {"numbers": [21, 3, 5, 7], "numbers-as-data": [21, 3, 5, 7]}
    assert Total.reports == [("numbers", 36), ("numbers", 36)]


@pytest.mark.django_db
def test_a_flow_row_holding_yaml_text_builds_the_flow_under_the_rows_name():
    yaml_without_name = NUMBERS_YAML.removeprefix("name: numbers\n")
    row = Flow.objects.create(name="numbers-as-yaml", spec=yaml_without_name)

    assert build_flow(row).to_spec(step_registry) == {**NUMBERS_SPEC, "name": "numbers-as-yaml"}


@pytest.mark.django_db
def test_a_spec_naming_another_flow_than_its_row_is_refused():
    row = Flow.objects.create(name="numbers-copy", spec=NUMBERS_SPEC)

    with pytest.raises(FlowConfigError) as excinfo:
        build_flow(row)

    assert str(excinfo.value) == (
        "flow 'numbers-copy': name: the spec names flow 'numbers', not 'numbers-copy'"
    )


@pytest.mark.django_db
def test_a_broken_spec_on_a_row_is_reported_with_its_paths():
    row = Flow.objects.create(
        name="broken",
        spec={"storer": {"type": "Numbers"}, "steps": [{"name": "x", "type": "Nope"}]},
    )

    with pytest.raises(FlowConfigError) as excinfo:
        build_flow(row)

    assert excinfo.value.flow == "broken"
    assert [problem.path for problem in excinfo.value.problems] == ["steps[0].type"]


def test_the_step_classes_used_here_are_the_registered_ones():
    assert [step_registry[n] for n in ("AddNumbers", "Double", "Increment", "Total")] == [
        AddNumbers,
        Double,
        Increment,
        Total,
    ]


def test_without_imports_a_path_may_name_only_a_given_type():
    spec = flow_registry["numbers"].to_spec()  # every type as its dotted path
    flow = AdminFlow.from_spec(spec, step_registry, imports=False)
    assert shape(flow) == shape(flow_registry["numbers"])

    spec["steps"][0]["type"] = "os.path.join"
    with pytest.raises(FlowConfigError) as excinfo:
        AdminFlow.from_spec(spec, step_registry, imports=False)

    assert problems(excinfo) == [
        (
            "steps[0].type",
            "'os.path.join' is not a registered step type; a spec edited here names "
            "registered types only, never a module to import",
        )
    ]

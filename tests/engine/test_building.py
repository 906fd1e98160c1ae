"""Building a flow: the constructor and add_*_step refuse bad input at once."""

from __future__ import annotations

import pytest

from adminflow import (
    AdminFlow,
    AdminflowError,
    AdminPropagateStep,
    AdminUpdateStep,
    FlowConfigError,
    RecordStorer,
)

from .helpers import make_storer, propagate_step, record_step, update_step


def test_constructor_keeps_name_description_and_storer(storer):
    flow = AdminFlow("roster", "sync the roster", storer, "students")

    assert flow.name == "roster"
    assert flow.description == "sync the roster"
    assert flow.record_storer_type is storer
    assert flow.record_storer_name == "students"
    assert flow.steps == {}


@pytest.mark.parametrize("bad", [object, dict, "storer", None, AdminUpdateStep])
def test_constructor_refuses_a_storer_type_that_is_not_a_record_storer(bad):
    with pytest.raises(FlowConfigError, match="not a RecordStorer subclass"):
        AdminFlow("roster", "d", bad, "students")


def test_constructor_refuses_an_empty_flow_name(storer):
    with pytest.raises(FlowConfigError, match="non-empty name"):
        AdminFlow("  ", "d", storer)


def test_constructor_refuses_a_storer_with_a_broken_config_schema():
    broken = make_storer(config_types=[("path", dict, "where")])

    with pytest.raises(FlowConfigError, match="unsupported type"):
        AdminFlow("roster", "d", broken, "students")


def test_steps_are_listed_in_the_order_they_were_added(flow):
    flow.add_update_step("z-update", update_step())
    flow.add_record_step("b-record", record_step())
    flow.add_propagate_step("a-propagate", propagate_step())
    flow.add_record_step("a-record", record_step())

    assert list(flow.steps) == ["z-update", "b-record", "a-propagate", "a-record"]
    assert [str(entry.kind) for entry in flow.steps.values()] == [
        "update",
        "record",
        "propagate",
        "record",
    ]


def test_depends_on_is_kept_on_the_step(flow):
    flow.add_update_step("first", update_step())
    flow.add_update_step("second", update_step(), depends_on=["first"])

    assert flow.steps["second"].depends_on == ("first",)
    assert flow.steps["first"].depends_on == ()


@pytest.mark.parametrize("adder", ["add_record_step", "add_update_step", "add_propagate_step"])
def test_a_duplicate_step_name_is_refused_whatever_the_kind(flow, adder):
    flow.add_update_step("check", update_step())
    cls = {
        "add_record_step": record_step(),
        "add_update_step": update_step(),
        "add_propagate_step": propagate_step(),
    }[adder]

    with pytest.raises(FlowConfigError, match="'check'") as caught:
        getattr(flow, adder)("check", cls)

    assert "exists" in str(caught.value)
    assert isinstance(caught.value, AdminflowError)


def test_an_unknown_dependency_is_refused_naming_both_steps(flow):
    with pytest.raises(FlowConfigError) as caught:
        flow.add_update_step("assign-groups", update_step(), depends_on=["check-usernames"])

    message = str(caught.value)
    assert "assign-groups" in message
    assert "check-usernames" in message


def test_a_dependency_added_later_is_unknown_when_the_dependent_is_added(flow):
    with pytest.raises(FlowConfigError, match="not a step of this flow"):
        flow.add_propagate_step("ping", propagate_step(), depends_on=["later"])
    flow.add_propagate_step("later", propagate_step())

    assert list(flow.steps) == ["later"]


def test_an_update_step_cannot_depend_on_a_propagate_step(flow):
    flow.add_propagate_step("send-email", propagate_step())

    with pytest.raises(FlowConfigError) as caught:
        flow.add_update_step("compute", update_step(), depends_on=["send-email"])

    message = str(caught.value)
    assert "compute" in message
    assert "send-email" in message
    assert "same kind" in message


def test_a_propagate_step_cannot_depend_on_an_update_step(flow):
    flow.add_update_step("compute", update_step())

    with pytest.raises(FlowConfigError) as caught:
        flow.add_propagate_step("send-email", propagate_step(), depends_on=["compute"])

    assert "send-email" in str(caught.value)
    assert "compute" in str(caught.value)


def test_a_step_cannot_depend_on_a_record_step(flow):
    flow.add_record_step("import", record_step())

    with pytest.raises(FlowConfigError, match="import"):
        flow.add_update_step("compute", update_step(), depends_on=["import"])


def test_depends_on_must_be_a_list_of_names_not_a_string(flow):
    flow.add_update_step("first", update_step())

    with pytest.raises(FlowConfigError, match="depends_on must be a list"):
        flow.add_update_step("second", update_step(), depends_on="first")


def test_a_refused_step_leaves_the_flow_unchanged(flow):
    flow.add_update_step("first", update_step())
    before = flow.steps

    for attempt in (
        lambda: flow.add_update_step("first", update_step()),
        lambda: flow.add_update_step("second", update_step(), depends_on=["nope"]),
        lambda: flow.add_propagate_step("third", propagate_step(), depends_on=["first"]),
        lambda: flow.add_update_step("fourth", propagate_step()),
    ):
        with pytest.raises(FlowConfigError):
            attempt()

    assert flow.steps == before


def test_a_step_class_of_another_kind_is_refused(flow):
    with pytest.raises(FlowConfigError, match="not a record step"):
        flow.add_record_step("wrong", update_step())
    with pytest.raises(FlowConfigError, match="not a propagate step"):
        flow.add_propagate_step("wrong", update_step())


def test_the_flow_builds_steps_itself_so_an_instance_is_refused(flow):
    step_class = update_step()

    with pytest.raises(FlowConfigError, match="not a AdminUpdateStep subclass"):
        flow.add_update_step("instance", step_class(None))


@pytest.mark.parametrize("cls", [object, int, "UpdateStep"])
def test_a_class_that_is_no_step_is_refused(flow, cls):
    with pytest.raises(FlowConfigError, match="subclass"):
        flow.add_update_step("odd", cls)


def test_a_storer_class_is_not_accepted_as_a_step(flow):
    with pytest.raises(FlowConfigError, match="does not define update_records"):
        flow.add_update_step("odd", make_storer())


def test_a_step_that_does_not_define_its_method_is_refused(flow):
    class Lazy(AdminPropagateStep):
        description = "forgot to write propagate_records"

    with pytest.raises(FlowConfigError, match=r"does not define propagate_records\(\)"):
        flow.add_propagate_step("lazy", Lazy)


@pytest.mark.parametrize("name", ["records", "num_threads", "fail_fast", "x-mode", "_hidden", ""])
def test_names_that_would_clash_in_the_config_dict_are_refused(flow, name):
    with pytest.raises(FlowConfigError):
        flow.add_update_step(name, update_step())

    assert flow.steps == {}


def test_a_bad_config_schema_is_refused_when_the_step_is_added(flow):
    with pytest.raises(FlowConfigError) as caught:
        flow.add_update_step(
            "bad-schema",
            update_step(
                config_types=[
                    ("ok", int, "fine"),
                    ("odd", dict, "no dicts"),
                    ("short",),
                    ("ok", str, "declared twice"),
                    ("when", int, "bad default", "soon"),
                ]
            ),
        )

    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 4
    assert any("bad-schema.odd" in p and "unsupported type" in p for p in problems)
    assert any("config_types[2]" in p for p in problems)
    assert any("bad-schema.ok" in p and "declared twice" in p for p in problems)
    assert any("bad-schema.when" in p and "bad default" in p for p in problems)


def test_steps_may_be_typed_for_one_record_type(flow):
    class CountStudents(AdminUpdateStep[int]):
        description = "typed for int records"

        def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
            set_metadata("count", len(records))

    flow.add_update_step("count", CountStudents)

    assert flow.run().metadata == {"count": 3}


def test_a_storer_typed_for_one_record_type_works():
    class IntStorer(RecordStorer[int]):
        def get_records(self, logger):
            return [5]

        def set_records(self, rec_list, logger):
            pass

    flow = AdminFlow("typed", "d", IntStorer)

    assert flow.run().records_in == 1

"""Run metadata: update steps publish names, propagate steps read them."""

from __future__ import annotations

import threading

import pytest

from adminflow import MetadataConflictError, StepStatus

from .helpers import WAIT, propagate_step, record_step, update_step

pytestmark = pytest.mark.timeout(30)


def test_a_name_set_by_an_update_step_is_read_by_a_propagate_step(flow):
    seen = []
    flow.add_update_step("count", update_step(lambda call: call.set_metadata("missing", [2, 3])))
    flow.add_propagate_step(
        "ping", propagate_step(lambda call: seen.append(call.get_metadata("missing")))
    )

    result = flow.run()

    assert seen == [[2, 3]]
    assert result.metadata == {"missing": [2, 3]}


def test_a_name_set_by_a_record_step_is_seen_by_later_steps(flow):
    seen = []
    flow.add_record_step("import", record_step(lambda call: call.set_metadata("source", "csv")))
    flow.add_update_step("u", update_step(lambda call: seen.append(call.get_metadata("source"))))
    flow.add_propagate_step(
        "p", propagate_step(lambda call: seen.append(call.get_metadata("source")))
    )

    flow.run()

    assert seen == ["csv", "csv"]


def test_a_dependent_update_step_reads_what_its_dependency_set(flow):
    seen = []
    flow.add_update_step("first", update_step(lambda call: call.set_metadata("n", 1)))
    flow.add_update_step(
        "second",
        update_step(lambda call: seen.append(call.get_metadata("n"))),
        depends_on=["first"],
    )

    flow.run()

    assert seen == [1]


def test_a_missing_name_reads_as_none(flow):
    seen = []
    flow.add_update_step("u", update_step(lambda call: seen.append(call.get_metadata("nothing"))))
    flow.add_propagate_step(
        "p", propagate_step(lambda call: seen.append(call.get_metadata("nothing")))
    )

    assert flow.run().succeeded
    assert seen == [None, None]


def test_a_step_may_set_its_own_name_again(flow):
    def set_twice(call):
        call.set_metadata("n", 1)
        call.set_metadata("n", 2)

    flow.add_update_step("u", update_step(set_twice))

    result = flow.run()

    assert result.succeeded
    assert result.metadata == {"n": 2}


def test_a_second_step_setting_the_same_name_fails_naming_both_steps(flow, storer):
    flow.add_update_step("first", update_step(lambda call: call.set_metadata("groups", "A")))
    flow.add_update_step(
        "second",
        update_step(lambda call: call.set_metadata("groups", "B")),
        depends_on=["first"],
    )

    result = flow.run()

    first, second = result.steps["first"], result.steps["second"]
    assert first.status is StepStatus.SUCCEEDED
    assert second.status is StepStatus.FAILED
    assert second.error.startswith("MetadataConflictError")
    assert "'groups'" in second.error
    assert "'first'" in second.error
    assert "'second'" in second.error
    assert result.metadata == {"groups": "A"}
    assert storer.box.stored == []


def test_the_conflict_error_names_the_key_and_both_steps():
    error = MetadataConflictError("groups", "first", "second")

    assert (error.name, error.first_step, error.second_step) == ("groups", "first", "second")
    assert "first" in str(error)
    assert "second" in str(error)


def test_metadata_is_thread_safe_under_concurrent_steps(flow):
    barrier = threading.Barrier(3, timeout=WAIT)
    reads = {}

    def writer(prefix):
        def fn(call):
            barrier.wait()
            for index in range(500):
                call.set_metadata(f"{prefix}-{index}", index)
                assert call.get_metadata(f"{prefix}-{index}") == index

        return fn

    def reader(call):
        barrier.wait()
        reads["values"] = [call.get_metadata(f"a-{index}") for index in range(500)]

    flow.add_update_step("a", update_step(writer("a")))
    flow.add_update_step("b", update_step(writer("b")))
    flow.add_update_step("reader", update_step(reader))
    flow.config({"num_threads": 3})

    result = flow.run()

    assert result.succeeded, [s.error for s in result.steps.values()]
    assert len(result.metadata) == 1000
    assert all(result.metadata[f"b-{i}"] == i for i in range(500))
    assert all(value in (None, i) for i, value in enumerate(reads["values"]))


def test_two_concurrent_steps_racing_for_one_name_leave_exactly_one_winner(flow):
    barrier = threading.Barrier(2, timeout=WAIT)

    def claim(value):
        def fn(call):
            barrier.wait()
            call.set_metadata("owner", value)

        return fn

    flow.add_update_step("left", update_step(claim("left")))
    flow.add_update_step("right", update_step(claim("right")))
    flow.config({"num_threads": 2})

    result = flow.run()

    outcome = sorted(str(step.status) for step in result.steps.values())
    assert outcome == ["failed", "succeeded"]
    (winner,) = result.steps_with(StepStatus.SUCCEEDED)
    assert result.metadata == {"owner": winner.name}


def test_every_run_starts_with_empty_metadata(flow):
    seen = []
    flow.add_update_step(
        "u",
        update_step(lambda call: (seen.append(call.get_metadata("n")), call.set_metadata("n", 1))),
    )

    flow.run()
    second = flow.run()

    assert seen == [None, None]
    assert second.succeeded

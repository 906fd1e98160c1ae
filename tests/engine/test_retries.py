"""Retries: which errors are retried, how often, how long between attempts, and what is logged."""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

import pytest
import yaml

from adminflow import (
    AdminFlow,
    FlowConfigError,
    RetryableError,
    RetryPolicy,
    RunStatus,
    Secret,
    StepStatus,
)

from .helpers import (
    Call,
    Recorder,
    Trace,
    flaky,
    make_storer,
    propagate_step,
    record_step,
    tracing,
    update_step,
    with_policy,
)

INSTANT = {"backoff": 0, "jitter": False}
"""A ``<step>-retry`` config that retries at once: most tests are about attempts, not waits."""


def warnings(recorder: Recorder, step: str) -> list[str]:
    return [
        message
        for source, level, message in recorder.logs()
        if source == step and level == logging.WARNING
    ]


# Which errors are retried


def test_a_retryable_error_is_retried_until_the_step_succeeds(flow, recorder):
    flow.add_update_step("s", update_step(flaky([RetryableError("down"), RetryableError("down")])))
    flow.config({"s-retry": INSTANT})

    result = flow.run(observers=[recorder])

    assert result.succeeded
    assert result.steps["s"].attempts == 3
    assert result.steps["s"].error is None
    assert warnings(recorder, "s") == [
        "attempt 1 of 3 failed: RetryableError: down; retrying in 0.00 s",
        "attempt 2 of 3 failed: RetryableError: down; retrying in 0.00 s",
    ]


def test_a_subclass_of_retryable_error_is_retried(flow):
    class RateLimited(RetryableError):
        pass

    flow.add_update_step("s", update_step(flaky([RateLimited("slow down")])))
    flow.config({"s-retry": INSTANT})

    result = flow.run()

    assert result.succeeded
    assert result.steps["s"].attempts == 2


def test_errors_named_in_retry_on_are_retried_with_their_subclasses(flow, recorder):
    step = with_policy(
        update_step(flaky([ConnectionError("refused"), ConnectionResetError("reset")])),
        retry_on=(ConnectionError,),
    )
    flow.add_update_step("s", step)
    flow.config({"s-retry": INSTANT})

    result = flow.run(observers=[recorder])

    assert result.succeeded
    assert result.steps["s"].attempts == 3
    assert [event[1:4] for event in recorder.of("step_retrying")] == [
        ("s", 1, "ConnectionError: refused"),
        ("s", 2, "ConnectionResetError: reset"),
    ]


def test_an_error_not_worth_retrying_fails_the_step_at_once(flow, recorder):
    step = with_policy(update_step(flaky([ValueError("bad data")])), retry_on=(ConnectionError,))
    flow.add_update_step("s", step)

    result = flow.run(observers=[recorder])

    assert result.status is RunStatus.FAILED
    assert result.steps["s"].attempts == 1
    assert result.steps["s"].error == "ValueError: bad data"
    assert warnings(recorder, "s") == []
    assert recorder.of("step_retrying") == []


def test_a_step_that_succeeds_at_once_makes_one_attempt(flow):
    flow.add_update_step("s", update_step())

    result = flow.run()

    assert result.steps["s"].attempts == 1
    assert result.steps["s"].status is StepStatus.SUCCEEDED


def test_an_error_not_worth_retrying_after_a_retry_ends_the_retries(flow, recorder):
    flow.add_update_step("s", update_step(flaky([RetryableError("down"), KeyError("id")])))
    flow.config({"s-retry": INSTANT})

    result = flow.run(observers=[recorder])

    assert result.steps["s"].status is StepStatus.FAILED
    assert result.steps["s"].attempts == 2
    assert result.steps["s"].error == "KeyError: 'id' (after 2 attempts)"
    assert (
        warnings(recorder, "s")[-1] == "attempt 2 of 3 failed: KeyError: 'id'; not worth retrying"
    )


def test_a_step_that_keeps_failing_gives_up_after_max_attempts_each_attempt_logged(flow, recorder):
    count = iter(range(1, 100))

    def always(call: Call) -> None:
        raise ConnectionError(f"boom {next(count)}")

    flow.add_update_step("s", with_policy(update_step(always), retry_on=(ConnectionError,)))
    flow.add_update_step("after", update_step(), depends_on=["s"])
    flow.config({"s-retry": {"max_attempts": 4, **INSTANT}})

    result = flow.run(observers=[recorder])

    assert result.status is RunStatus.FAILED
    assert result.error == "failed steps: s"
    assert result.steps["s"].attempts == 4
    assert result.steps["s"].error == "ConnectionError: boom 4 (after 4 attempts)"
    assert "ConnectionError: boom 4" in result.steps["s"].traceback
    assert result.steps["after"].status is StepStatus.UPSTREAM_FAILED
    assert warnings(recorder, "s") == [
        "attempt 1 of 4 failed: ConnectionError: boom 1; retrying in 0.00 s",
        "attempt 2 of 4 failed: ConnectionError: boom 2; retrying in 0.00 s",
        "attempt 3 of 4 failed: ConnectionError: boom 3; retrying in 0.00 s",
        "attempt 4 of 4 failed: ConnectionError: boom 4; giving up",
    ]
    assert recorder.of("step_finished")[0] == ("step_finished", "s", "failed")


def test_max_attempts_1_never_retries_and_logs_no_attempt(flow, recorder):
    flow.add_update_step("s", update_step(flaky([RetryableError("down")])))
    flow.config({"s-retry": {"max_attempts": 1}})

    result = flow.run(observers=[recorder])

    assert result.steps["s"].attempts == 1
    assert result.steps["s"].error == "RetryableError: down"
    assert warnings(recorder, "s") == []


def test_secrets_in_a_retried_error_are_masked(flow, recorder):
    token = "s3cr3t-token"

    def leaky(call: Call) -> None:
        raise RetryableError(f"bad token {call.step.configs.token.reveal()}")

    flow.add_update_step("s", update_step(leaky, config_types=[("token", Secret, "API token")]))
    flow.config({"s": {"token": token}, "s-retry": {"max_attempts": 2, **INSTANT}})

    result = flow.run(observers=[recorder])

    assert token not in repr(recorder.events)
    assert token not in result.steps["s"].error
    assert recorder.of("step_retrying")[0][3] == "RetryableError: bad token ********"


# Backoff


def test_without_jitter_the_waits_double_up_to_the_cap(flow, recorder):
    flow.add_update_step("s", update_step(flaky([RetryableError("down")] * 4)))
    flow.config(
        {"s-retry": {"max_attempts": 5, "backoff": 0.01, "max_backoff": 0.03, "jitter": False}}
    )

    result = flow.run(observers=[recorder])

    assert result.succeeded
    assert [event[4] for event in recorder.of("step_retrying")] == [0.01, 0.02, 0.03, 0.03]
    assert [line.rpartition("retrying in ")[2] for line in warnings(recorder, "s")] == [
        "0.01 s",
        "0.02 s",
        "0.03 s",
        "0.03 s",
    ]


def test_policy_delay_doubles_from_backoff_and_is_capped():
    policy = RetryPolicy(backoff=0.5, max_backoff=3, jitter=False)
    rng = random.Random(0)

    assert [policy.delay(n, rng) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.delay(100_000, rng) == 3.0  # no overflow however many attempts


def test_policy_delay_with_jitter_lies_between_half_and_all_of_the_delay():
    policy = RetryPolicy(backoff=1, max_backoff=8, jitter=True)
    rng = random.Random(42)

    for n, full in enumerate([1, 2, 4, 8, 8, 8], start=1):
        for _ in range(50):
            assert full / 2 <= policy.delay(n, rng) <= full


def test_policy_delay_with_jitter_is_deterministic_for_a_seeded_random():
    policy = RetryPolicy(backoff=1, max_backoff=60)

    first = [policy.delay(n, random.Random(7)) for n in range(1, 6)]
    second = [policy.delay(n, random.Random(7)) for n in range(1, 6)]

    assert first == second
    assert len(set(first)) == len(first)


def test_the_default_policy_is_three_attempts_from_one_second_capped_at_a_minute():
    assert RetryPolicy() == RetryPolicy(max_attempts=3, backoff=1.0, max_backoff=60.0, jitter=True)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_attempts": 0}, "max_attempts: must be at least 1, got 0"),
        ({"max_attempts": True}, "max_attempts: expected int, got bool True"),
        ({"backoff": -1}, "backoff: must be a number of seconds, 0 or more"),
        ({"max_backoff": float("inf")}, "max_backoff: "),
        ({"backoff": "1s"}, "backoff: expected float, got str '1s'"),
        ({"jitter": "no"}, "jitter: expected bool"),
    ],
)
def test_a_bad_policy_is_refused_where_it_is_declared(arguments, message):
    with pytest.raises(ValueError, match=f"bad RetryPolicy: {message}"):
        RetryPolicy(**arguments)


def test_whole_seconds_in_a_policy_become_floats():
    assert RetryPolicy(backoff=2, max_backoff=10).backoff == 2.0


# The class policy and its checks


def test_the_class_policy_applies_without_config(flow):
    step = with_policy(
        update_step(flaky([RetryableError("down")] * 5)),
        retry=RetryPolicy(max_attempts=2, backoff=0),
    )
    flow.add_update_step("s", step)

    result = flow.run()

    assert result.steps["s"].attempts == 2
    assert result.steps["s"].status is StepStatus.FAILED


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"retry_on": ConnectionError}, "retry_on must be a tuple of exception classes"),
        ({"retry_on": ("ConnectionError",)}, "retry_on must be a tuple of exception classes"),
        ({"retry_on": (KeyboardInterrupt,)}, "retry_on must be a tuple of exception classes"),
        ({"retry": {"max_attempts": 2}}, "retry must be a RetryPolicy"),
        ({"time_limit": 0}, "time_limit must be None or a number of seconds above 0"),
        ({"time_limit": -5}, "time_limit must be None or a number of seconds above 0"),
        ({"time_limit": "30"}, "time_limit must be None or a number of seconds above 0"),
    ],
)
def test_bad_class_attributes_are_refused_when_the_step_is_added(flow, attributes, message):
    step = with_policy(update_step(), **attributes)

    with pytest.raises(FlowConfigError) as caught:
        flow.add_update_step("s", step)

    assert caught.value.problems[0].path == "s"
    assert f"UpdateStep.{message}" in caught.value.problems[0].message
    assert flow.steps == {}


@pytest.mark.parametrize("name", ["x-retry", "x-time_limit", "time_limit"])
def test_step_names_that_clash_with_the_new_keys_are_refused(flow, name):
    with pytest.raises(FlowConfigError, match="taken by the storer or a flow setting"):
        flow.add_update_step(name, update_step())


# Config overrides


def test_config_keys_override_the_class_policy_one_by_one(flow):
    step = with_policy(
        update_step(), retry=RetryPolicy(max_attempts=5, backoff=2, max_backoff=10, jitter=False)
    )
    flow.add_update_step("s", step)

    configured = flow.with_config({"s-retry": {"max_attempts": 2, "jitter": True}})

    assert configured.steps["s"].retry == RetryPolicy(
        max_attempts=2, backoff=2, max_backoff=10, jitter=True
    )
    assert flow.with_config({}).steps["s"].retry == step.retry
    assert flow.with_config({"s-retry": None}).steps["s"].retry == step.retry


def test_config_max_attempts_limits_the_calls(flow):
    flow.add_update_step("s", update_step(flaky([RetryableError("down")] * 9)))
    flow.config({"s-retry": {"max_attempts": 6, **INSTANT}})

    result = flow.run()

    assert result.steps["s"].attempts == 6


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ({"s-retry": {"tries": 3}}, "s-retry.tries", "unknown key (expected: backoff, jitter"),
        ({"s-retry": {"max_attempts": "3"}}, "s-retry.max_attempts", "expected int, got str"),
        ({"s-retry": {"max_attempts": 0}}, "s-retry.max_attempts", "must be at least 1, got 0"),
        ({"s-retry": {"backoff": -0.5}}, "s-retry.backoff", "must be a number of seconds, 0"),
        ({"s-retry": {"max_backoff": float("nan")}}, "s-retry.max_backoff", ""),
        ({"s-retry": {"jitter": "off"}}, "s-retry.jitter", "expected bool, got str 'off'"),
        ({"s-retry": 3}, "s-retry", "expected a mapping of keys, got int"),
        ({"s-time_limit": -1}, "s-time_limit", "must be a number of seconds, 0 or more"),
        ({"s-time_limit": "soon"}, "s-time_limit", "expected float, got str 'soon'"),
        ({"s-time_limit": True}, "s-time_limit", "expected float, got bool True"),
        ({"s-time_limit": 1e12}, "s-time_limit", "must be at most"),
        ({"s-retry": {"max_backoff": 1e12}}, "s-retry.max_backoff", "must be at most"),
        ({"records-retry": {}}, "records-retry", "unknown key"),
        ({"other-time_limit": 5}, "other-time_limit", "unknown key"),
    ],
)
def test_bad_retry_and_time_limit_config_is_refused_naming_the_key(flow, config, path, message):
    flow.add_update_step("s", update_step())

    with pytest.raises(FlowConfigError) as caught:
        flow.config(config)

    assert [(p.path, message in p.message) for p in caught.value.problems] == [(path, True)]


def test_every_retry_problem_is_reported_together(flow):
    flow.add_update_step("s", update_step())
    flow.add_update_step("t", update_step())

    with pytest.raises(FlowConfigError) as caught:
        flow.config(
            {"s-retry": {"max_attempts": 0, "backoff": "x"}, "t-time_limit": -2, "time_limit": -1}
        )

    assert sorted(p.path for p in caught.value.problems) == [
        "s-retry.backoff",
        "s-retry.max_attempts",
        "t-time_limit",
        "time_limit",
    ]


def test_the_snapshot_keeps_the_given_keys_and_configures_the_same_flow_again(flow):
    flow.add_update_step("s", update_step())
    flow.add_update_step("t", update_step())
    configured = flow.with_config(
        {"s-retry": {"max_attempts": 5, "backoff": 2}, "s-time_limit": 30, "time_limit": 600}
    )

    snapshot = configured.snapshot
    again = flow.with_config(yaml.safe_load(yaml.safe_dump(snapshot)))

    assert snapshot["time_limit"] == 600.0
    assert snapshot["s-retry"] == {"max_attempts": 5, "backoff": 2.0}
    assert snapshot["s-time_limit"] == 30.0
    assert "t-retry" not in snapshot
    assert "t-time_limit" not in snapshot
    assert again.steps["s"].retry == configured.steps["s"].retry
    assert again.steps["s"].time_limit == 30.0
    assert again.time_limit == 600.0
    assert again.snapshot == snapshot


def test_emit_config_shows_a_step_class_policy_as_comments_and_still_loads(storer):
    flow = AdminFlow("f", "d", storer)
    policy = RetryPolicy(max_attempts=5, backoff=0.5)
    flow.add_update_step("check", with_policy(update_step(), retry=policy, time_limit=30))
    flow.add_update_step("plain", update_step())

    text = flow.emit_config()

    assert "# check-retry: {max_attempts: 5, backoff: 0.5, max_backoff: 60.0, jitter: true}" in text
    assert "# check-time_limit: 30" in text
    assert "plain-retry" not in text
    assert yaml.safe_load(text)["time_limit"] == 0.0


def test_a_spec_carries_retries_and_time_limits_both_ways(storer):
    flow = AdminFlow(
        "f",
        "d",
        storer,
        default_config={"time_limit": 60, "s-retry": {"max_attempts": 4}, "s-time_limit": 5},
    )
    flow.add_update_step("s", update_step())
    types = {"S": flow.steps["s"].cls, "Storer": storer}

    spec = flow.to_spec(types)
    again = AdminFlow.from_spec(spec, types)

    assert spec["settings"] == {"time_limit": 60}
    assert spec["steps"][0]["retry"] == {"max_attempts": 4}
    assert spec["steps"][0]["time_limit"] == 5
    assert again.default_config == flow.default_config


# What a retried step sees


def test_a_retried_update_step_sees_what_its_failed_attempt_left(storer):
    flow = AdminFlow("f", "d", make_storer([{"n": 0}, {"n": 10}]))
    attempts = Trace()

    def bump_then_fail_once(call: Call) -> None:
        for record, lock in call.records:
            with lock:
                record["n"] += 1
        attempts.add("attempt")
        if len(attempts.events) == 1:
            raise RetryableError("half done")

    flow.add_update_step("bump", update_step(bump_then_fail_once))
    flow.config({"bump-retry": INSTANT})

    result = flow.run()

    assert result.succeeded
    # Not idempotent, so the second attempt built on the first: the rule the docs warn about.
    assert flow.record_storer_type.box.stored[-1] == [{"n": 2}, {"n": 12}]


def test_an_update_step_that_recomputes_its_own_fields_is_safe_to_retry(storer):
    flow = AdminFlow("f", "d", make_storer([{"n": 1}, {"n": 2}]))
    attempts = Trace()

    def double_into_own_field(call: Call) -> None:
        for record, lock in call.records:
            with lock:
                record["doubled"] = record["n"] * 2
        attempts.add("attempt")
        if len(attempts.events) == 1:
            raise RetryableError("half done")

    flow.add_update_step("double", update_step(double_into_own_field))
    flow.config({"double-retry": INSTANT})

    assert flow.run().succeeded
    assert flow.record_storer_type.box.stored[-1] == [
        {"n": 1, "doubled": 2},
        {"n": 2, "doubled": 4},
    ]


def test_a_retried_record_step_gets_the_same_input_list(flow):
    seen: list[tuple[int, list[Any]]] = []

    def add_then_fail_once(call: Call) -> list[Any]:
        seen.append((id(call.records), list(call.records)))
        out = [*call.records, 4]
        if len(seen) == 1:
            raise RetryableError("registrar timed out")
        return out

    flow.add_record_step("import", record_step(add_then_fail_once))
    flow.config({"import-retry": INSTANT})

    result = flow.run()

    assert result.succeeded
    assert seen[0] == seen[1]
    assert seen[0][1] == [1, 2, 3]
    assert flow.record_storer_type.box.stored[-1] == [1, 2, 3, 4]


def test_other_steps_run_once_while_one_retries(flow):
    trace = Trace()
    flow.add_update_step("before", update_step(tracing(trace, "before")))
    flow.add_update_step("s", update_step(flaky([RetryableError("down")] * 2)), ["before"])
    flow.add_update_step("beside", update_step(tracing(trace, "beside")))
    flow.add_update_step("after", update_step(tracing(trace, "after")), ["s"])
    flow.config({"s-retry": INSTANT})

    result = flow.run()

    assert result.succeeded
    assert sorted(trace.events) == ["after", "before", "beside"]
    assert {name: step.attempts for name, step in result.steps.items()} == {
        "before": 1,
        "s": 3,
        "beside": 1,
        "after": 1,
    }


def test_a_retried_propagate_step_that_succeeds_stores_the_records(flow):
    flow.add_propagate_step("ping", propagate_step(flaky([RetryableError("smtp down")])))
    flow.config({"ping-retry": INSTANT})

    result = flow.run()

    assert result.succeeded
    assert result.stored
    assert result.steps["ping"].attempts == 2


# Cancelling while a step waits to retry


class CancelOnRetry(Recorder):
    """Cancel the run as soon as a step says it will retry: the wait must end at once."""

    def __init__(self, cancel_event: threading.Event) -> None:
        super().__init__()
        self.cancel_event = cancel_event

    def step_retrying(self, flow, step, error, delay):
        super().step_retrying(flow, step, error, delay)
        self.cancel_event.set()


def test_cancelling_during_the_wait_stops_retrying_and_fails_the_step(flow):
    cancel = threading.Event()
    observer = CancelOnRetry(cancel)
    flow.add_update_step("s", update_step(flaky([RetryableError("down")] * 5)))
    flow.add_update_step("after", update_step(), depends_on=["s"])
    flow.add_propagate_step("ping", propagate_step())
    # An hour's wait: the run only ends quickly because the cancel cuts the wait short.
    flow.config({"s-retry": {"backoff": 3600, "max_backoff": 3600, "jitter": False}})

    result = flow.run(observers=[observer], cancel_event=cancel)

    assert result.steps["s"].attempts == 1
    assert result.steps["s"].status is StepStatus.FAILED
    assert result.steps["s"].error == "RetryableError: down; not retried: the run was cancelled"
    assert result.steps["after"].status is StepStatus.UPSTREAM_FAILED
    assert result.steps["ping"].status is StepStatus.SKIPPED
    assert result.status is RunStatus.FAILED
    assert not result.stored
    assert [event[1:3] for event in observer.of("step_retrying")] == [("s", 1)]

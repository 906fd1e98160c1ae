"""Any config either configures the flow or is refused with FlowConfigError, changing nothing."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from adminflow import AdminFlow, FlowConfigError
from adminflow.engine import ConfiguredFlow
from adminflow.engine.config import MASK

from .strategies import VALID_CONFIG, build_flow, configs, json_like

FLOW = build_flow()


def fingerprint(flow: AdminFlow) -> Any:
    """Return what configuring must never change: steps, defaults, the described config."""
    return (
        list(flow.steps.items()),
        json.dumps(flow.default_config, sort_keys=True),
        flow.describe_config(),
        flow.storer_fields,
    )


BEFORE = fingerprint(FLOW)


def configure(config: Any) -> ConfiguredFlow | FlowConfigError:
    """Return what ``FLOW.with_config(config)`` gives; any exception but FlowConfigError fails."""
    try:
        return FLOW.with_config(config)
    except FlowConfigError as exc:
        return exc


def with_check(**values: Any) -> dict[str, Any]:
    return {**VALID_CONFIG, "check": {"ids": [], **values}}


@settings(max_examples=300, deadline=None)
@given(configs)
# Each of these once raised something other than FlowConfigError, or made a snapshot
# that a database refuses.
@example(with_check(ratio=10**400))
@example(with_check(ratio=float("nan")))
@example(with_check(anything=[b"\x00", {1: 2}]))
@example({**VALID_CONFIG, "load-mode": 10**5000})
@example({**VALID_CONFIG, "load": {"count": 1, "since": 10**5000}})
def test_any_config_is_configured_or_refused_with_every_problem_named(config: Any) -> None:
    outcome = configure(config)

    if isinstance(outcome, FlowConfigError):
        assert outcome.problems
        assert str(outcome).startswith("flow 'hostile': ")
    else:
        assert isinstance(outcome, ConfiguredFlow)
        assert outcome.num_threads >= 1
        # What a run stores of its config must be JSON, without NaN (which PostgreSQL refuses).
        json.dumps(outcome.snapshot, allow_nan=False)
    assert fingerprint(FLOW) == BEFORE


@settings(max_examples=100, deadline=None)
@given(configs)
def test_a_refused_config_keeps_the_previous_one_in_use(config: Any) -> None:
    flow = build_flow()
    flow.config(VALID_CONFIG)
    previous = flow._configured

    try:
        flow.config(config)
    except FlowConfigError:
        assert flow._configured is previous
    else:
        assert flow._configured is not previous


@settings(max_examples=100, deadline=None)
@given(json_like)
def test_the_secret_is_never_in_a_refusal(value: Any) -> None:
    config = {**VALID_CONFIG, "notify": {"token": "tok-123", "dry": value}}

    outcome = configure(config)

    if isinstance(outcome, FlowConfigError):
        assert "tok-123" not in str(outcome)
    else:
        assert outcome.snapshot["notify"]["token"] == MASK


@settings(max_examples=50, deadline=None)
@given(st.sampled_from([0, -1, True, False, 1.5, "4", None, float("nan"), float("inf")]))
def test_num_threads_that_is_not_a_positive_whole_number_is_refused(value: Any) -> None:
    outcome = configure({**VALID_CONFIG, "num_threads": value})

    assert isinstance(outcome, FlowConfigError)
    assert [p.path for p in outcome.problems] == ["num_threads"]

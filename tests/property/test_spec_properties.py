"""Any spec either builds a flow or is refused with FlowConfigError; built flows round-trip."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import example, given, settings

from adminflow import AdminFlow, FlowConfigError
from adminflow.engine.documents import load_yaml

from .strategies import STEP_TYPES, specs, valid_specs


def build(spec: Any) -> AdminFlow | FlowConfigError:
    """Return what ``AdminFlow.from_spec`` gives; any exception but FlowConfigError fails."""
    try:
        return AdminFlow.from_spec(spec, STEP_TYPES)
    except FlowConfigError as exc:
        return exc


def check_usable(flow: AdminFlow) -> None:
    """Assert a built flow can be described, and configured or refused, without surprises."""
    assert flow.describe_config()
    assert isinstance(load_yaml(flow.emit_config()), dict)
    with contextlib.suppress(FlowConfigError):
        flow.with_config(flow.default_config)


@settings(max_examples=300, deadline=None)
@given(specs)
# Each of these once raised something other than FlowConfigError: type names that
# importlib refuses with TypeError or ValueError, a name without a repr, text that
# PyYAML fails on with ValueError or RecursionError; and a description that made
# the printed config template unreadable YAML.
@example({"name": "x", "storer": {"type": "..x"}})
@example({"name": "x", "storer": {"type": "Storer"}, "steps": [{"name": "a", "type": "a\x00b.c"}]})
@example({"name": 10**5000, "storer": {"type": "Storer"}})
@example("a: " + "1" * 5000)
@example("[" * 5000)
@example({"name": "x", "description": "\x1b", "storer": {"type": "Storer"}})
def test_any_spec_builds_a_flow_or_is_refused_with_every_problem_named(spec: Any) -> None:
    outcome = build(spec)

    if isinstance(outcome, FlowConfigError):
        assert outcome.problems
        assert str(outcome).startswith("flow '")
    else:
        check_usable(outcome)


@settings(max_examples=200, deadline=None)
@given(valid_specs())
def test_a_built_flow_round_trips_through_its_spec(spec: dict[str, Any]) -> None:
    outcome = build(spec)
    if isinstance(outcome, FlowConfigError):
        # Only names the flow reserves (the storer's, a setting's) make a generated spec fail.
        assert all("taken by the storer or a flow setting" in str(p) for p in outcome.problems)
        return

    written = outcome.to_spec(STEP_TYPES)
    again = AdminFlow.from_spec(written, STEP_TYPES)

    assert written == spec
    assert again.to_spec(STEP_TYPES) == written
    assert [(n, e.kind, e.cls, e.depends_on) for n, e in again.steps.items()] == [
        (n, e.kind, e.cls, e.depends_on) for n, e in outcome.steps.items()
    ]

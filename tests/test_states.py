"""Run and step statuses are the engine's, with Django labels: one set of values."""

from __future__ import annotations

import pytest

from adminflow import RunStatus, StepStatus
from adminflow.states import FlowRunStatus, StepRunStatus


@pytest.mark.parametrize(
    ("engine", "django", "django_only"),
    [(RunStatus, FlowRunStatus, {"queued"}), (StepStatus, StepRunStatus, set())],
)
def test_the_django_choices_are_the_engine_statuses_of_the_same_names_and_values(
    engine, django, django_only
):
    for status in engine:
        assert django[status.name].value == status.value
        assert django[status.name] == status
    assert set(django.values) - {status.value for status in engine} == django_only


def test_choices_keep_their_labels_and_compare_equal_to_plain_strings():
    assert FlowRunStatus.SUCCEEDED == "succeeded"
    assert FlowRunStatus.QUEUED.label == "Queued"
    assert StepRunStatus.UPSTREAM_FAILED == "upstream_failed"
    assert StepRunStatus.UPSTREAM_FAILED.label == "Upstream failed"
    assert type(FlowRunStatus.RUNNING.value) is str

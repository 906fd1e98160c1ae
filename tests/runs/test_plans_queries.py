"""A plan is recorded and approved in a number of queries that does not grow with it.

(An apply writes each intent's outcome as soon as it is known, one UPDATE per
intent, on purpose: a killed apply must not carry out an intent twice.)
"""

from __future__ import annotations

import pytest

from adminflow.runs import apply_plan, approve_plan, execute_run, plan_run
from adminflow.states import FlowRunStatus, Trigger
from tests.plan_helpers import set_up_welcome, stored_students

pytestmark = pytest.mark.django_db(transaction=True)

# The run's own rows, and the plan's and each step's record effects in bulk: a few statements
# (SQLite splits a bulk insert at its limit of bound parameters, so 200 intents, 400 records
# and their step effects cost a few more).
PLANNING_QUERIES = 34
APPROVING_QUERIES = 9


@pytest.mark.parametrize("size", [10, 200])
def test_planning_and_approving_take_the_same_queries_at_any_size(
    tmp_path, size, django_assert_max_num_queries
):
    welcome = set_up_welcome(tmp_path)
    students = stored_students(size)
    # Half dropped, half renamed, as many added: every kind of diff entry and an intent each.
    welcome.list_roster(
        [(n, f"{name} renamed", e) for n, name, e in students[: size // 2]]
        + [(f"new{i}", f"New {i}", f"new{i}@uni.edu") for i in range(size)]
    )
    run = plan_run("welcome", trigger=Trigger.COMMAND, execute="here")

    with django_assert_max_num_queries(PLANNING_QUERIES):
        execute_run(run)
    assert run.status == FlowRunStatus.PLANNED
    assert run.plan.intents.count() == size
    assert run.plan.records.count() == 2 * size

    deselected = list(run.plan.intents.values_list("pk", flat=True)[: size // 2])
    with django_assert_max_num_queries(APPROVING_QUERIES):
        approve_plan(run, None, deselected_intents=deselected)
    applied = execute_run(apply_plan(run, None, execute="here"))
    assert applied.status == FlowRunStatus.SUCCEEDED, applied.error

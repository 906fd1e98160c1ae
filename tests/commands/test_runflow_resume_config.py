"""``runflow --resume RUN_ID --resume-config run|flow``: which config a resume runs with, said."""

from __future__ import annotations

import pytest

from adminflow import AdminFlow
from adminflow.models import FlowRun
from adminflow.runs import execute_run, start_run
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, Trigger
from tests.engine.helpers import Trace, make_storer, update_step
from tests.run_helpers import runflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


@pytest.fixture
def failed(register, trace: Trace) -> FlowRun:
    """Return a failed run of flow ``checked``, whose stored config was corrected since."""

    def check(call):
        trace.add(call.step.configs.source)
        if call.step.configs.source != "good":
            raise RuntimeError(f"cannot read {call.step.configs.source}")

    flow = AdminFlow("checked", "checks its source", make_storer([1]), "records")
    flow.add_update_step(
        "check", update_step(check, config_types=[("source", str, "where to read from")])
    )
    register(flow)
    row = get_flow_row("checked")
    row.config = {"check": {"source": "bad"}}
    row.save()
    run = execute_run(start_run(row, trigger=Trigger.ADMIN))
    assert run.status == FlowRunStatus.FAILED
    row.config = {"check": {"source": "good"}}
    row.save()
    return run


def test_resume_config_flow_runs_with_the_flows_corrected_config(failed, trace):
    out, err, code = runflow("--resume", str(failed.pk), "--resume-config", "flow")

    assert code == 0, err
    resumed = FlowRun.objects.get(resumed_from=failed)
    assert (resumed.status, resumed.config_source) == (FlowRunStatus.SUCCEEDED, "flow")
    assert out.startswith(
        f"Resuming run {failed.pk} of flow 'checked' as run {resumed.pk}, "
        "with the flow's stored config.\n"
    )
    assert trace.events == ["bad", "good"]


def test_resume_uses_the_runs_config_by_default_and_says_so(failed, trace):
    out, err, code = runflow("--resume", str(failed.pk))

    assert code == 1, err
    resumed = FlowRun.objects.get(resumed_from=failed)
    assert (resumed.config_source, resumed.config_from) == ("run", failed)
    assert out.startswith(
        f"Resuming run {failed.pk} of flow 'checked' as run {resumed.pk}, "
        f"with the config of run {failed.pk}.\n"
    )
    assert trace.events == ["bad", "bad"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume-config", "flow"], "--resume-config goes with --resume RUN_ID"),
        (["checked", "--resume-config", "run"], "--resume-config goes with --resume RUN_ID"),
        (
            ["--resume", "{failed}", "--resume-config", "file"],
            "--resume-config must be 'run' or 'flow', not 'file'",
        ),
    ],
)
def test_a_bad_resume_config_exits_2_and_writes_nothing(failed, args, message):
    out, err, code = runflow(*(arg.format(failed=failed.pk) for arg in args))

    assert code == 2
    assert out == ""
    assert err == f"CommandError: {message}\n"
    assert FlowRun.objects.count() == 1

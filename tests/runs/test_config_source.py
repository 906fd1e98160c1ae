"""Which config a run runs with: recorded on every run, chosen on resume; what the storer said.

A run that failed on a bad config must be resumable with the flow's config
as corrected since, not only with its own; every run says which config it
used (the flow's, one given to it, or an earlier run's). The storer's report
(a debug store's "would add ...") is kept with the run.
"""

from __future__ import annotations

import pytest

from adminflow import AdminFlow
from adminflow.models import ConfigSource, Flow, FlowRun, Record
from adminflow.runs import execute_run, rerun_run, resume_run, start_run
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, Trigger
from tests.engine.helpers import Trace, make_storer, propagate_step, record_step, update_step
from tests.run_helpers import step_statuses
from tests.storer_flows import members_flow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def store_config(name: str, config: dict) -> Flow:
    row = get_flow_row(name)
    row.config = config
    row.save()
    return row


def failed_run(name: str, **options) -> FlowRun:
    """Return a run of ``name`` executed to its failure."""
    run = execute_run(start_run(name, trigger=Trigger.COMMAND, **options))
    assert run.status == FlowRunStatus.FAILED
    return run


def checking_flow(trace: Trace) -> AdminFlow:
    """Return flow ``checked``: its update step fails unless its config says ``source: good``."""

    def check(call):
        trace.add(("check", call.step.configs.source, call.debug))
        if call.step.configs.source != "good":
            raise RuntimeError(f"cannot read {call.step.configs.source}")

    flow = AdminFlow("checked", "checks its source", make_storer([1]), "records")
    flow.add_update_step(
        "check", update_step(check, config_types=[("source", str, "where to read from")])
    )
    return flow


def mailing_flow(trace: Trace) -> AdminFlow:
    """Return flow ``mailer``: it stores, and its ``mail`` step fails unless its host is good."""

    def publish(call):
        call.set_metadata("recipients", ["ada", "bob"])

    def mail(call):
        trace.add(("mail", call.step.configs.host, call.get_metadata("recipients")))
        if call.step.configs.host != "smtp.good":
            raise RuntimeError(f"no such host {call.step.configs.host}")

    flow = AdminFlow("mailer", "mails people", make_storer([1, 2]), "records")
    flow.add_record_step("r", record_step(lambda call: trace.add("r")))
    flow.add_update_step("u", update_step(publish))
    flow.add_propagate_step("invite", propagate_step(lambda call: trace.add("invite")))
    flow.add_propagate_step(
        "mail", propagate_step(mail, config_types=[("host", str, "the mail server")])
    )
    return flow


def test_a_run_failed_on_a_bad_config_resumes_with_the_flows_corrected_config(register, trace):
    register(checking_flow(trace))
    store_config("checked", {"check": {"source": "bad"}})
    failed = failed_run("checked")
    store_config("checked", {"check": {"source": "good"}})

    again = execute_run(resume_run(failed))  # its own config: fails as before
    FlowRun.objects.filter(pk=again.pk).update(resumed_from=None)  # resume the first again
    fixed = execute_run(resume_run(failed, config="flow"))

    assert again.status == FlowRunStatus.FAILED
    assert (again.config_source, again.config_from) == (ConfigSource.RUN, failed)
    assert fixed.status == FlowRunStatus.SUCCEEDED, fixed.error
    assert (fixed.config_source, fixed.config_from, fixed.resumed_from) == (
        ConfigSource.FLOW,
        None,
        failed,
    )
    assert fixed.config_snapshot["check"] == {"source": "good"}
    assert trace.events == [("check", "bad", False)] * 2 + [("check", "good", False)]


def test_a_resume_with_the_flows_config_reruns_only_the_failed_propagate_steps(register, trace):
    register(mailing_flow(trace))
    store_config("mailer", {"mail": {"host": "smtp.bad"}})
    failed = failed_run("mailer")
    assert failed.records_stored == 2
    store_config("mailer", {"mail": {"host": "smtp.good"}})

    resumed = execute_run(resume_run(failed, config="flow"))

    assert resumed.status == FlowRunStatus.SUCCEEDED
    assert step_statuses(resumed) == {
        "r": "excluded",
        "u": "excluded",
        "invite": "excluded",
        "mail": "succeeded",
    }
    # The metadata of the failed run is restored, as for a resume with its own config.
    assert trace.events == [
        "r",
        "invite",
        ("mail", "smtp.bad", ["ada", "bob"]),
        ("mail", "smtp.good", ["ada", "bob"]),
    ]


def test_a_resume_with_the_flows_config_keeps_the_runs_debug_mode(register, trace):
    register(checking_flow(trace))
    store_config("checked", {"check": {"source": "bad"}})
    failed = failed_run("checked", debug=True)
    store_config("checked", {"check": {"source": "good"}})

    resumed = execute_run(resume_run(failed, config="flow"))

    assert (resumed.status, resumed.debug) == (FlowRunStatus.SUCCEEDED, True)
    assert resumed.step_modes == {"records": "debug", "check": "debug"}
    assert trace.events[-1] == ("check", "good", True)


def test_a_resume_with_an_unknown_config_choice_is_refused(register, trace):
    register(checking_flow(trace))
    store_config("checked", {"check": {"source": "bad"}})
    failed = failed_run("checked")

    with pytest.raises(ValueError, match="resume with config 'run' or 'flow', not 'file'"):
        resume_run(failed, config="file")  # type: ignore[arg-type]

    assert FlowRun.objects.count() == 1


def test_every_run_records_which_config_it_ran_with(register, trace):
    register(checking_flow(trace))
    store_config("checked", {"check": {"source": "bad"}})

    stored = execute_run(start_run("checked", trigger=Trigger.COMMAND))
    given = execute_run(
        start_run("checked", trigger=Trigger.COMMAND, config={"check": {"source": "x"}})
    )
    rerun = execute_run(rerun_run(given))
    resumed = execute_run(resume_run(stored))

    sources = [
        (run.config_source, run.config_from)
        for run in FlowRun.objects.filter(pk__in=[stored.pk, given.pk, rerun.pk, resumed.pk])
        .select_related("config_from")
        .order_by("pk")
    ]
    assert sources == [
        (ConfigSource.FLOW, None),
        (ConfigSource.GIVEN, None),
        (ConfigSource.RUN, given),
        (ConfigSource.RUN, stored),
    ]
    assert rerun.config_snapshot["check"] == {"source": "x"}


# What the storer said


def test_a_debug_store_says_with_the_run_what_it_would_have_written(register):
    register(members_flow())
    Record.objects.create(
        collection="roster.members", key="ada", data={"netid": "ada", "name": "Ada"}
    )

    run = execute_run(start_run("roster", trigger=Trigger.COMMAND, debug=True))

    run.refresh_from_db()
    assert run.status == FlowRunStatus.SUCCEEDED, run.error
    assert run.storer_report.startswith("debug: would add 1")
    assert run.storer_report.endswith("nothing was written")
    assert Record.objects.count() == 1


def test_the_storer_report_is_cut_like_an_error(register, settings):
    settings.ADMINFLOW = {"MAX_LOG_LINE_LENGTH": 20}
    register(members_flow())

    run = execute_run(start_run("roster", trigger=Trigger.COMMAND, debug=True))

    run.refresh_from_db()
    assert run.storer_report.startswith("debug: would add 1 ")
    assert run.storer_report[20:].startswith("… [")
    assert run.storer_report.endswith("more characters cut]")

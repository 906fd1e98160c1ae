"""``manage.py runflow``: live output, exit codes, options, and Ctrl-C in a real process."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import pytest
import yaml

from adminflow import AdminFlow
from adminflow.models import FlowRun, RunLog, StepRun
from adminflow.runs import execute_run, start_run
from adminflow.states import FlowRunStatus, Trigger
from tests.commands.helpers import django_process, interrupted_at_wait, site_with
from tests.engine.helpers import (
    failing,
    make_storer,
    propagate_step,
    record_step,
    tracing,
    update_step,
)
from tests.factories import FlowFactory, FlowRunFactory, RunningFlowRunFactory
from tests.run_helpers import STDIN_FLOW_SPEC, pipeline, runflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def greeter(register, trace) -> AdminFlow:
    """A flow with config: its update step logs a greeting ``times`` times."""

    def greet(call):
        for _ in range(call.step.configs.times):
            call.logger(call.step.configs.greeting)
        call.logger.debug("greeted")
        trace.add(call.step.configs.greeting)

    flow = AdminFlow(
        "greeter",
        "greets",
        make_storer([1]),
        "records",
        default_config={"greet": {"greeting": "hello"}},
    )
    flow.add_update_step(
        "greet",
        update_step(
            greet,
            config_types=[("greeting", str, "what to say"), ("times", int, "how often", 1)],
        ),
    )
    flow.add_propagate_step("send", propagate_step(tracing(trace, "send")))
    return register(flow)


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# Running and exit codes


def test_a_successful_run_prints_its_steps_and_a_summary_and_exits_0(register, trace):
    register(pipeline("tidy", trace))

    out, err, code = runflow("tidy")

    assert code == 0, err
    run = FlowRun.objects.get()
    assert (run.status, run.trigger) == (FlowRunStatus.SUCCEEDED, Trigger.COMMAND)
    assert "[FLOW] tidy: started (1 record, 2 update, 1 propagate steps)" in out
    assert "[STEP] u1 (update): started" in out
    assert "[STEP] u1: succeeded in " in out
    summary = out[out.index("STEP  ") :].splitlines()
    assert summary[0].split() == ["STEP", "KIND", "STATUS", "DURATION", "ERROR"]
    assert [line.split()[:3] for line in summary[1:5]] == [
        ["r", "record", "succeeded"],
        ["u1", "update", "succeeded"],
        ["u2", "update", "succeeded"],
        ["p", "propagate", "succeeded"],
    ]
    assert summary[5].startswith(f"Run {run.pk} of flow 'tidy': succeeded in ")
    assert summary[5].endswith("(3 records loaded, 3 stored)")
    assert err == ""


def test_a_failed_run_shows_the_error_and_exits_1(register, trace):
    flow = AdminFlow("broken", "fails", make_storer([1]), "records")
    flow.add_update_step("bad", update_step(failing("no roster")))
    flow.add_propagate_step("p", propagate_step(tracing(trace, "p")))
    register(flow)

    out, err, code = runflow("broken")

    assert code == 1
    run = FlowRun.objects.get()
    assert err == f"CommandError: run {run.pk} of flow 'broken' failed: failed steps: bad\n"
    rows = {line.split()[0]: line for line in out[out.index("STEP  ") :].splitlines()[1:3]}
    assert rows["bad"].split()[2] == "failed"
    assert rows["bad"].endswith("RuntimeError: no roster")
    assert rows["p"].split()[2:4] == ["skipped", "-"]
    assert "(1 records loaded, not stored)" in out


def test_an_unknown_flow_exits_2_and_writes_nothing(register, trace):
    register(pipeline("known", trace))

    out, err, code = runflow("ghost")

    assert code == 2
    assert out == ""
    assert "CommandError: no flow named 'ghost' (known: " in err
    assert "known" in err.split("(known: ")[1]
    assert not FlowRun.objects.exists()


def test_a_flow_that_is_already_running_exits_3_naming_the_active_run(register, trace):
    register(pipeline("busy", trace))
    active = start_run("busy", trigger=Trigger.ADMIN)

    out, err, code = runflow("busy")

    assert code == 3
    assert out == ""
    assert err == (
        f"CommandError: flow 'busy' is already running: run {active.pk} is queued; "
        "wait for it to finish or cancel it first\n"
    )
    assert list(FlowRun.objects.all()) == [active]
    assert trace.events == []


def test_a_disabled_flow_exits_2(register, trace):
    register(pipeline("off", trace))
    FlowFactory(name="off", enabled=False)

    out, err, code = runflow("off")

    assert code == 2
    assert out == ""
    assert err == "CommandError: flow 'off' is disabled; enable it to run it\n"
    assert not FlowRun.objects.exists()


def test_no_flow_name_is_a_usage_error():
    out, err, code = runflow()

    assert code == 2
    assert out == ""
    assert err == "CommandError: name the flow to run (or use --list to see the flows)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--list", "tidy"], "--list cannot be combined with a flow name ('tidy')"),
        (
            ["--resume", "1", "--debug", "--threads", "2"],
            "--resume cannot be combined with --debug, --threads",
        ),
    ],
)
def test_options_that_do_not_go_together_are_refused(args, message):
    out, err, code = runflow(*args)

    assert code == 2
    assert out == ""
    assert err == f"CommandError: {message}\n"
    assert not FlowRun.objects.exists()


# Options that shape the run


def test_debug_runs_every_step_and_the_storer_in_debug_mode(register, trace):
    register(pipeline("careful", trace))

    out, err, code = runflow("careful", "--debug")

    assert code == 0, err
    run = FlowRun.objects.get()
    assert run.debug is True
    assert set(run.step_modes.values()) == {"debug"}
    assert "[STEP] p (propagate) in debug mode: started" in out
    assert "debug mode: would store 3 records; nothing was written" in out


def test_mode_sets_single_steps(register, trace):
    register(pipeline("picky", trace))

    _out, err, code = runflow("picky", "--mode", "u2=exclude", "--mode", "p=debug")

    assert code == 0, err
    run = FlowRun.objects.get()
    assert run.step_modes == {
        "records": "include",
        "r": "include",
        "u1": "include",
        "u2": "exclude",
        "p": "debug",
    }
    assert trace.events == ["r", "u1", "p"]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("u2", "--mode expects STEP=MODE (e.g. --mode notify=debug), got 'u2'"),
        ("=debug", "--mode expects STEP=MODE (e.g. --mode notify=debug), got '=debug'"),
        ("nope=debug", "flow 'picky': nope: no step named 'nope' (steps: r, u1, u2, p)"),
        ("u2=loud", "flow 'picky': u2-mode: expected one of include | exclude | debug, got 'loud'"),
    ],
)
def test_a_bad_mode_exits_2_naming_it(register, trace, mode, message):
    register(pipeline("picky", trace))

    out, err, code = runflow("picky", "--mode", mode)

    assert code == 2
    assert out == ""
    assert err == f"CommandError: {message}\n"
    assert not FlowRun.objects.exists()
    assert trace.events == []


def test_threads_sets_the_thread_count(register, trace):
    register(pipeline("narrow", trace))

    _out, err, code = runflow("narrow", "--threads", "1")

    assert code == 0, err
    assert FlowRun.objects.get().num_threads == 1


def test_too_few_threads_exit_2(register, trace):
    register(pipeline("narrow", trace))

    out, err, code = runflow("narrow", "--threads", "0")

    assert code == 2
    assert out == ""
    assert err == "CommandError: flow 'narrow': num_threads: must be at least 1\n"
    assert not FlowRun.objects.exists()


@pytest.mark.parametrize(
    ("verbosity", "shown", "hidden"),
    [
        ("0", [], ["[greet] hello", "[greet] greeted"]),
        ("1", ["[greet] hello"], ["[greet] greeted"]),
        ("2", ["[greet] hello", "[greet] greeted"], []),
    ],
)
def test_verbosity_chooses_which_log_lines_are_shown(greeter, verbosity, shown, hidden):
    out, err, code = runflow("greeter", "--verbosity", verbosity)

    assert code == 0, err
    assert "[STEP] greet: succeeded in " in out
    for line in shown:
        assert line in out
    for line in hidden:
        assert line not in out
    # The database keeps every line, whatever is shown.
    took = StepRun.objects.get(name="greet").duration
    assert list(RunLog.objects.filter(step="greet").values_list("level", "message")) == [
        (logging.INFO, "greet (update): started"),
        (logging.INFO, "hello"),
        (logging.DEBUG, "greeted"),
        (logging.INFO, f"greet: succeeded in {took:.2f}s"),
    ]


# --config


def test_config_reads_a_yaml_file(greeter, trace, tmp_path):
    path = write(
        tmp_path / "greet.yaml", "greet:\n  greeting: howdy\n  times: 2\nsend-mode: exclude\n"
    )

    out, err, code = runflow("greeter", "--config", path)

    assert code == 0, err
    assert out.count("[greet] howdy") == 2
    assert trace.events == ["howdy"]
    run = FlowRun.objects.get()
    assert run.config_snapshot["greet"] == {"greeting": "howdy", "times": 2}
    assert run.step_modes["send"] == "exclude"


def test_config_reads_a_json_file(greeter, trace, tmp_path):
    path = write(tmp_path / "greet.json", json.dumps({"greet": {"greeting": "hi"}}))

    _out, err, code = runflow("greeter", "--config", path)

    assert code == 0, err
    assert trace.events == ["hi", "send"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "broken.yaml",
            "greet:\n  greeting: [unclosed\n",
            "config file '{path}' is not valid YAML at line 3, column 1: "
            "expected ',' or ']', but got '<stream end>'",
        ),
        (
            "broken.json",
            '{"greet": {"greeting": "hi"}',
            "config file '{path}' is not valid JSON: Expecting ',' delimiter at line 1, column 29",
        ),
        (
            "list.yaml",
            "- greet\n",
            "config file '{path}' must hold a mapping of config keys "
            "(num_threads, <step>, <step>-mode, ...), got list",
        ),
    ],
)
def test_a_broken_config_file_exits_2_naming_the_file(greeter, tmp_path, name, text, message):
    path = write(tmp_path / name, text)

    out, err, code = runflow("greeter", "--config", path)

    assert code == 2
    assert out == ""
    assert err == f"CommandError: {message.format(path=path)}\n"
    assert not FlowRun.objects.exists()


def test_a_missing_config_file_exits_2_naming_it(greeter, tmp_path):
    path = str(tmp_path / "nowhere.yaml")

    out, err, code = runflow("greeter", "--config", path)

    assert code == 2
    assert out == ""
    assert err.startswith(f"CommandError: cannot read config file '{path}': ")
    assert "No such file or directory" in err
    assert not FlowRun.objects.exists()


def test_an_invalid_config_in_a_file_exits_2_with_every_problem(greeter, tmp_path):
    path = write(tmp_path / "bad.yaml", "greet:\n  times: often\nextra: 1\n")

    out, err, code = runflow("greeter", "--config", path)

    assert code == 2
    assert out == ""
    assert err == (
        "CommandError: flow 'greeter': 3 configuration problems:\n"
        "  - extra: unknown key (expected num_threads, fail_fast, time_limit, a step or "
        "storer name, '<name>-mode', or a step's '<name>-retry' or '<name>-time_limit')\n"
        "  - greet.greeting: missing required key (str) what to say\n"
        "  - greet.times: expected int, got str 'often'\n"
        f"(config read from {path})\n"
    )
    assert not FlowRun.objects.exists()


# --validate, --describe, --list


def test_validate_prints_ok_and_writes_nothing(greeter, trace):
    out, err, code = runflow("greeter", "--validate", "--mode", "send=debug")

    assert code == 0, err
    assert (
        out == "OK: the config of flow 'greeter' is valid (4 threads; greet=include, send=debug)\n"
    )
    assert not FlowRun.objects.exists()
    assert trace.events == []


def test_validate_prints_the_problems_and_exits_2(greeter, tmp_path):
    path = write(tmp_path / "bad.yaml", "greet: {greeting: 5}\n")

    out, err, code = runflow("greeter", "--validate", "--config", path)

    assert code == 2
    assert err == (
        "CommandError: flow 'greeter': greet.greeting: expected str, got int 5\n"
        f"(config read from {path})\n"
    )
    assert out == ""
    assert not FlowRun.objects.exists()


def test_describe_prints_a_yaml_template_of_the_config(greeter):
    out, err, code = runflow("greeter", "--describe")

    assert code == 0, err
    assert out.startswith("# greeter: greets\n")
    assert "  # (int, default 1) how often\n  times: 1\n" in out
    template = yaml.safe_load(out)
    assert template["greet-mode"] == "include"
    assert template["greet"] == {"greeting": "<fill in: str>", "times": 1}
    assert not FlowRun.objects.exists()


def test_the_described_template_fails_validate_only_on_its_placeholders(greeter, tmp_path):
    template, _, _ = runflow("greeter", "--describe")
    path = write(tmp_path / "template.yaml", template)

    _out, err, code = runflow("greeter", "--validate", "--config", path)

    assert code == 2
    assert err == (
        "CommandError: flow 'greeter': greet.greeting: still the template's placeholder: "
        f"fill in (str) what to say\n(config read from {path})\n"
    )
    write(tmp_path / "template.yaml", template.replace("'<fill in: str>'", "hi"))
    assert "OK:" in runflow("greeter", "--validate", "--config", path)[0]


def test_list_shows_every_flow_with_its_last_run_in_one_query(
    register, trace, django_assert_num_queries
):
    for name in ("alpha", "beta", "gamma"):
        register(pipeline(name, trace))
    alpha, beta = FlowFactory(name="alpha"), FlowFactory(name="beta", enabled=False)
    FlowRunFactory(flow=alpha, status=FlowRunStatus.FAILED)
    last = FlowRunFactory(flow=alpha, status=FlowRunStatus.SUCCEEDED)
    FlowRunFactory(flow=beta, status=FlowRunStatus.CANCELLED)

    with django_assert_num_queries(1):
        out, err, code = runflow("--list")

    assert code == 0, err
    lines = {line.split()[0]: line.split() for line in out.splitlines()}
    assert lines["FLOW"] == ["FLOW", "ENABLED", "LAST", "RUN"]
    assert lines["alpha"][:4] == ["alpha", "yes", f"#{last.pk}", "succeeded"]
    assert lines["beta"][:4] == ["beta", "no", f"#{last.pk + 1}", "cancelled"]
    assert lines["gamma"] == ["gamma", "yes", "never", "run"]


# --resume


def test_resume_reruns_a_failed_run_and_exits_0(register, trace):
    attempts = []

    def flaky(call):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("timeout")

    flow = AdminFlow("flaky", "fails once", make_storer([1]), "records")
    flow.add_record_step("r", record_step(tracing(trace, "r")))
    flow.add_update_step("flaky", update_step(flaky))
    register(flow)
    failed = execute_run(start_run("flaky", trigger=Trigger.ADMIN))

    out, err, code = runflow("--resume", str(failed.pk))

    assert code == 0, err
    resumed = FlowRun.objects.get(resumed_from=failed)
    assert (resumed.status, resumed.trigger) == (FlowRunStatus.SUCCEEDED, Trigger.COMMAND)
    assert f"Run {resumed.pk} of flow 'flaky': succeeded" in out
    assert trace.events == ["r", "r"]


def test_resume_of_an_unknown_run_exits_2():
    out, err, code = runflow("--resume", "404")

    assert code == 2
    assert out == ""
    assert err == "CommandError: no run with id 404\n"


def test_resume_of_a_run_that_did_not_fail_exits_2(register, trace):
    register(pipeline("fine", trace))
    run = FlowRunFactory(flow=FlowFactory(name="fine"), status=FlowRunStatus.SUCCEEDED)

    out, err, code = runflow("--resume", str(run.pk))

    assert code == 2
    assert out == ""
    assert err == (
        f"CommandError: run {run.pk} of flow 'fine' is succeeded; only failed runs can be resumed\n"
    )
    assert FlowRun.objects.count() == 1


# --cancel


def test_cancel_of_a_queued_run_cancels_it_at_once_and_exits_0():
    run = FlowRunFactory(flow=FlowFactory(name="tidy"), status=FlowRunStatus.QUEUED)

    out, err, code = runflow("--cancel", str(run.pk))

    assert (code, err) == (0, "")
    assert out == f"Run {run.pk} of flow 'tidy': cancelled before it started.\n"
    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == (FlowRunStatus.CANCELLED, True)


def test_cancel_of_a_running_run_asks_its_worker_to_stop_and_exits_0():
    run = RunningFlowRunFactory(flow=FlowFactory(name="tidy"))

    out, err, code = runflow("--cancel", str(run.pk))

    assert (code, err) == (0, "")
    assert out == (
        f"Run {run.pk} of flow 'tidy': cancel requested; its worker stops it at its next "
        "heartbeat (no new step starts, running steps finish).\n"
    )
    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == (FlowRunStatus.RUNNING, True)


def test_cancel_of_an_unknown_run_exits_2():
    out, err, code = runflow("--cancel", "404")

    assert (out, err, code) == ("", "CommandError: no run with id 404\n", 2)


@pytest.mark.parametrize(
    "status", [FlowRunStatus.SUCCEEDED, FlowRunStatus.FAILED, FlowRunStatus.CANCELLED]
)
def test_cancel_of_a_finished_run_exits_2_naming_it_and_its_status(status):
    run = FlowRunFactory(flow=FlowFactory(name="tidy"), status=status)

    out, err, code = runflow("--cancel", str(run.pk))

    assert (out, code) == ("", 2)
    assert err == (
        f"CommandError: run {run.pk} of flow 'tidy' is {status}: "
        "only queued or running runs can be cancelled\n"
    )
    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == (status, False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cancel", "1", "tidy"], "--cancel cannot be combined with a flow name ('tidy')"),
        (
            ["--cancel", "1", "--debug", "--mode", "p=debug", "--threads", "2"],
            "--cancel cannot be combined with --debug, --mode, --threads",
        ),
        (["--cancel", "1", "--config", "week2.yaml"], "--cancel cannot be combined with --config"),
        (["--due", "--cancel", "1"], "--due cannot be combined with --cancel"),
    ],
)
def test_cancel_with_a_flow_name_or_run_options_is_a_usage_error(args, message):
    run = FlowRunFactory(pk=1, status=FlowRunStatus.QUEUED)

    out, err, code = runflow(*args)

    assert (out, err, code) == ("", f"CommandError: {message}\n", 2)
    run.refresh_from_db()
    assert run.status == FlowRunStatus.QUEUED


# Ctrl-C, in a real process


@pytest.fixture
def site_env(tmp_path) -> dict[str, str]:
    """The environment of a subprocess using a migrated SQLite file with the stdin flow."""
    return site_with(
        tmp_path,
        f"from adminflow.models import Flow; Flow.objects.create(name='wait-for-stdin', spec={STDIN_FLOW_SPEC!r})",
    )


def test_ctrl_c_cancels_the_run_cleanly_and_exits_1(site_env):
    out, err, code = interrupted_at_wait(site_env, "wait-for-stdin")

    assert code == 1, err
    assert "Cancelling: no new step starts, running steps finish" in err
    assert "CommandError: run 1 of flow 'wait-for-stdin' cancelled: " in err
    assert "[wait] got 'go'" in out
    summary = out[out.index("STEP  ") :].splitlines()
    assert [line.split()[:3] for line in summary[1:3]] == [
        ["wait", "record", "succeeded"],
        ["after", "update", "cancelled"],
    ]
    assert "(0 records loaded, not stored)" in summary[3]

    listing = subprocess.run(
        django_process("runflow", "--list"),
        cwd=ROOT,
        env=site_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    listed = {line.split()[0]: line.split()[1:4] for line in listing.stdout.splitlines()}
    assert listed["wait-for-stdin"] == ["yes", "#1", "cancelled"]


def test_validate_refuses_a_roster_path_that_names_no_file(tmp_path):
    config = "import-roster: {path: exports/week9.csv}\n"
    path = write(tmp_path / "sync.yaml", config)

    _out, err, code = runflow("roster-sync", "--validate", "--config", path)

    assert code == 2
    assert err.startswith(
        "CommandError: flow 'roster-sync': import-roster.path: no file at 'exports/week9.csv' "
        f"(relative to {Path.cwd()})\n"
    )
    assert not FlowRun.objects.exists()

"""Observers: what a run reports, the console and logging observers, broken observers."""

from __future__ import annotations

import io
import logging

import pytest

from adminflow import ConsoleObserver, FlowObserver, LoggingObserver

from .helpers import Recorder, failing, propagate_step, record_step, update_step

pytestmark = pytest.mark.timeout(30)

ANSI = "\033["


def small_flow(flow):
    flow.add_record_step("import", record_step(lambda call: call.logger("imported 3")))
    flow.add_update_step("check", update_step(lambda call: call.logger.warning("2 unknown users")))
    flow.add_propagate_step("ping", propagate_step(lambda call: call.logger("pinged 2")))
    return flow


def test_a_run_reports_start_steps_logs_and_finish_in_order(flow, recorder):
    small_flow(flow).run(observers=[recorder])

    events = recorder.events
    assert events[0] == (
        "run_started",
        "test-flow",
        (("import", "pending"), ("check", "pending"), ("ping", "pending")),
    )
    assert events[-1] == ("run_finished", "succeeded")
    for step in ("import", "check", "ping"):
        started = events.index(("step_started", step))
        finished = events.index(("step_finished", step, "succeeded"))
        assert started < finished
    assert events.index(("step_finished", "import", "succeeded")) < events.index(
        ("step_started", "check")
    )
    assert events.index(("step_finished", "check", "succeeded")) < events.index(
        ("step_started", "ping")
    )


def test_the_store_is_announced_after_every_step_and_before_the_storer_writes(flow, recorder):
    small_flow(flow).run(observers=[recorder])

    events = recorder.events
    store = events.index(("store_started", "test-flow"))
    assert store > max(i for i, event in enumerate(events) if event[0] == "step_finished")
    assert events[store + 1] == ("log", "records", logging.INFO, "stored 3 records")


def test_a_run_that_stores_nothing_announces_no_store(flow, recorder):
    flow.add_update_step("bad", update_step(failing()))

    flow.run(observers=[recorder])

    assert recorder.of("store_started") == []


def test_log_lines_carry_their_step_and_level(flow, recorder):
    small_flow(flow).run(observers=[recorder])

    logs = recorder.logs()
    assert ("import", logging.INFO, "imported 3") in logs
    assert ("check", logging.WARNING, "2 unknown users") in logs
    assert ("ping", logging.INFO, "pinged 2") in logs


def test_a_step_logger_takes_any_level(flow, recorder):
    def log_all(call):
        call.logger.debug("d")
        call.logger.info("i")
        call.logger.error("e")
        call.logger("custom", logging.CRITICAL)
        call.logger(42)

    flow.add_update_step("u", update_step(log_all))
    flow.run(observers=[recorder])

    assert [(level, message) for step, level, message in recorder.logs() if step == "u"] == [
        (logging.DEBUG, "d"),
        (logging.INFO, "i"),
        (logging.ERROR, "e"),
        (logging.CRITICAL, "custom"),
        (logging.INFO, "42"),
    ]


def test_steps_that_never_start_are_reported_finished_only(flow, recorder):
    flow.add_update_step("bad", update_step(failing()))
    flow.add_update_step("child", update_step(), depends_on=["bad"])
    flow.add_update_step("off", update_step())
    flow.add_propagate_step("p", propagate_step())
    flow.config({"off-mode": "exclude"})

    flow.run(observers=[recorder])

    assert ("step_finished", "bad", "failed") in recorder.events
    assert ("step_finished", "child", "upstream_failed") in recorder.events
    assert ("step_finished", "p", "skipped") in recorder.events
    started = {event[1] for event in recorder.of("step_started")}
    assert started == {"bad"}
    assert recorder.events[-1] == ("run_finished", "failed")


def test_every_observer_hears_every_event(flow):
    first, second = Recorder(), Recorder()

    small_flow(flow).run(observers=[first, second])

    assert first.events == second.events
    assert len(first.events) == 14  # run x2, storer logs x2, steps x6, step logs x3, store x1


class Exploding(FlowObserver):
    def run_started(self, flow, steps):
        raise RuntimeError("observer broke")

    step_started = step_finished = run_started

    def log(self, flow, step, level, message):
        raise RuntimeError("observer broke")

    def run_finished(self, result):
        raise RuntimeError("observer broke")


def test_an_observer_that_raises_does_not_break_the_run(flow, storer, recorder, caplog):
    caplog.set_level(logging.ERROR, logger="adminflow.engine")

    result = small_flow(flow).run(observers=[Exploding(), recorder])

    assert result.succeeded
    assert storer.box.stored == [[1, 2, 3]]
    assert recorder.events[-1] == ("run_finished", "succeeded")
    assert len(recorder.events) == 14
    failures = [r for r in caplog.records if r.name == "adminflow.engine"]
    assert failures
    assert all("observer broke" in (r.exc_text or "") for r in failures)


def test_the_default_observer_methods_do_nothing(flow):
    assert small_flow(flow).run(observers=[FlowObserver()]).succeeded


# ConsoleObserver


def console_run(flow, **options) -> list[str]:
    stream = io.StringIO()
    flow.run(observers=[ConsoleObserver(stream, **options)])
    return stream.getvalue().splitlines()


def test_the_console_prints_one_line_per_event_in_flow_and_step_style(flow):
    lines = console_run(small_flow(flow))

    assert lines[0] == "[FLOW] test-flow: started (1 record, 1 update, 1 propagate steps)"
    assert "[STEP] import (record): started" in lines
    assert any(line.startswith("[STEP] import: succeeded in ") for line in lines)
    assert "[import] imported 3" in lines
    assert "[check] 2 unknown users" in lines
    assert "[records] loading 3 records" in lines
    assert lines[-1].startswith("[FLOW] test-flow: succeeded in ")
    assert lines[-1].endswith("(3 records in, 3 out, stored)")
    assert len(lines) == 13
    assert not any(ANSI in line for line in lines)


def test_the_console_shows_errors_and_debug_mode(flow):
    flow.add_update_step("bad", update_step(failing("no such org")))
    flow.add_propagate_step("p", propagate_step())
    flow.config({"bad-mode": "debug"})

    lines = console_run(flow)

    assert "[STEP] bad (update) in debug mode: started" in lines
    assert any(
        line.startswith("[STEP] bad: failed") and "RuntimeError: no such org" in line
        for line in lines
    )
    assert "[STEP] p: skipped" in lines
    assert "failed steps: bad" in lines[-1]
    assert "not stored" in lines[-1]


def test_the_console_hides_log_lines_below_its_level(flow):
    def chatty(call):
        call.logger.debug("noise")
        call.logger.info("news")

    flow.add_update_step("u", update_step(chatty))

    assert "[u] news" in console_run(flow)
    assert "[u] noise" not in console_run(flow)
    assert "[u] noise" in console_run(flow, min_level=logging.DEBUG)
    assert "[u] news" not in console_run(flow, min_level=logging.WARNING)


class TtyStream(io.StringIO):
    def isatty(self):
        return True


def test_the_console_colours_only_when_asked_or_on_a_terminal(flow, monkeypatch):
    small_flow(flow)
    monkeypatch.delenv("NO_COLOR", raising=False)

    assert any(ANSI in line for line in console_run(flow, colour=True))
    assert not any(ANSI in line for line in console_run(flow))

    tty = TtyStream()
    flow.run(observers=[ConsoleObserver(tty)])
    assert ANSI in tty.getvalue()

    tty = TtyStream()
    flow.run(observers=[ConsoleObserver(tty, colour=False)])
    assert ANSI not in tty.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    tty = TtyStream()
    flow.run(observers=[ConsoleObserver(tty)])
    assert ANSI not in tty.getvalue()


def test_the_console_writes_to_stdout_by_default(flow, capsys):
    flow.run(observers=[ConsoleObserver()])

    assert capsys.readouterr().out.startswith("[FLOW] test-flow: started")


def test_the_engine_itself_prints_nothing(flow, capsys):
    small_flow(flow).run()

    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


# LoggingObserver


def test_the_logging_observer_sends_events_to_the_adminflow_logger(flow, caplog):
    caplog.set_level(logging.DEBUG, logger="adminflow")
    small_flow(flow)

    flow.run(observers=[LoggingObserver()])

    records = [r for r in caplog.records if r.name == "adminflow"]
    messages = [r.getMessage() for r in records]
    assert messages[0] == "flow test-flow started"
    assert "step import started" in messages
    assert "step import succeeded" in messages
    assert "imported 3" in messages
    assert messages[-1] == "flow test-flow succeeded"
    warning = next(r for r in records if r.getMessage() == "2 unknown users")
    assert warning.levelno == logging.WARNING
    assert (warning.flow, warning.step) == ("test-flow", "check")


def test_the_logging_observer_logs_failures_as_errors(flow, caplog):
    caplog.set_level(logging.INFO, logger="adminflow")
    flow.add_update_step("bad", update_step(failing("no such org")))

    flow.run(observers=[LoggingObserver()])

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "step bad failed: RuntimeError: no such org" in errors
    assert any(m.startswith("flow test-flow failed") for m in errors)


def test_the_logging_observer_may_use_another_logger(flow, caplog):
    caplog.set_level(logging.INFO, logger="course.roster")

    flow.run(observers=[LoggingObserver(logging.getLogger("course.roster"))])

    assert {r.name for r in caplog.records} == {"course.roster"}

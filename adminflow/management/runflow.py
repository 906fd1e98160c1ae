"""What ``manage.py runflow`` does: plain functions over :mod:`adminflow.runs`.

The command (:mod:`adminflow.management.commands.runflow`) turns its options
into a :class:`Console` and :class:`RunOptions` and calls one function here:
run a flow here with live output and a summary, queue it for a worker,
resume or cancel a run, start the runs that fell due, validate or describe a
config, list the flows. Each writes to the console and raises CommandError
with the command's exit code for any outcome but success: 1 a run failed or
was cancelled, 2 bad usage or config.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml
from django.core.management.base import CommandError, OutputWrapper
from django.core.management.color import Style
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from adminflow.engine import ConsoleObserver
from adminflow.engine.documents import DocumentFileError, load_json, load_yaml, read_text_file
from adminflow.engine.yaml_errors import yaml_problem
from adminflow.models import Flow, FlowRun
from adminflow.registry import flow_registry
from adminflow.runs import cancel_run, execute_run, resume_run, start_run
from adminflow.runs.config import build_flow, configure_flow, get_flow_row
from adminflow.runs.service import ResumeConfig
from adminflow.runs.workers import no_worker_warning
from adminflow.schedule.scheduler import start_due_runs
from adminflow.states import FlowRunStatus, IllegalTransition, Trigger

FAILED = 1
USAGE = 2
RESUME_CONFIGS = ("run", "flow")
"""What ``--resume-config`` takes: the failed run's config, or the flow's stored config."""
# The signals that cancel a run cleanly: Ctrl-C, and what supervisors send to stop a process.
CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def usage_error(message: str) -> CommandError:
    return CommandError(message, returncode=USAGE)


@dataclass(frozen=True)
class Console:
    """Where the command writes and how: its streams, style, verbosity and colour."""

    stdout: OutputWrapper
    stderr: OutputWrapper
    style: Style
    verbosity: int = 1
    colour: bool | None = None
    """Colour the live output; None: only on a terminal."""


@dataclass(frozen=True)
class RunOptions:
    """What shapes a run's config: ``--config FILE``, ``--debug``, ``--mode``, ``--threads``."""

    config_file: str | None = None
    debug: bool = False
    modes: Sequence[str] = ()
    threads: int | None = None

    def config_arguments(self) -> dict[str, Any]:
        """Return the config keywords of :func:`start_run`: the file's config and overrides.

        Raise a usage error naming a config file that cannot be read, or a bad ``--mode``.
        """
        return {
            "config": read_config(self.config_file) if self.config_file else None,
            "debug": self.debug,
            "modes": parse_modes(self.modes),
            "num_threads": self.threads,
        }


# Running here


def run_here(flow: str, options: RunOptions, console: Console) -> None:
    """Run ``flow`` in this process with live output and a summary; exit 1 unless it succeeded.

    A run of a flow that requires a plan may stop as a plan instead (see
    :func:`adminflow.management.plans.finish_gated`).
    """
    from .plans import finish_gated  # plans builds on this module's console helpers

    run = start_run(flow, trigger=Trigger.COMMAND, execute="here", **options.config_arguments())
    finish_gated(execute_here(run, console), console)


def resume(run_id: int, console: Console, *, config: str = "run") -> None:
    """Resume the failed run ``run_id`` here, as :func:`run_here` runs a flow.

    ``config`` is ``run`` (the failed run's config) or ``flow`` (the flow's
    current stored config); the command says which before the run starts.
    Raise a usage error for any other.
    """
    if config not in RESUME_CONFIGS:
        raise usage_error(f"--resume-config must be 'run' or 'flow', not '{config}'")
    failed = find_run(run_id)
    chosen: ResumeConfig = "run" if config == "run" else "flow"
    run = resume_run(failed, trigger=Trigger.COMMAND, execute="here", config=chosen)
    if console.verbosity > 0:
        used = f"the config of run {failed.pk}" if config == "run" else "the flow's stored config"
        console.stdout.write(
            f"Resuming run {failed.pk} of flow '{failed.flow.name}' as run {run.pk}, with {used}."
        )
    exit_unless_succeeded(execute_here(run, console))


def execute_here(
    run: FlowRun, console: Console, interrupted: threading.Event | None = None
) -> FlowRun:
    """Execute the queued ``run`` here with live output and a summary; return it, finished.

    The first Ctrl-C or SIGTERM cancels the run, and sets ``interrupted``
    for a caller with more runs to execute.
    """
    observer = ConsoleObserver(
        console.stdout, min_level=verbosity_level(console.verbosity), colour=console.colour
    )
    cancel = threading.Event()
    try:
        with cancel_on_signals(console.stderr, [cancel, *([interrupted] if interrupted else [])]):
            run = execute_run(run, observers=[observer], cancel_event=cancel)
    except KeyboardInterrupt:
        raise CommandError(
            f"run {run.pk} was interrupted before its steps finished; marked failed",
            returncode=FAILED,
        ) from None
    write_summary(run, console.stdout)
    return run


def exit_unless_succeeded(run: FlowRun) -> None:
    if run.status != FlowRunStatus.SUCCEEDED:
        raise CommandError(run_outcome(run), returncode=FAILED)


@contextmanager
def cancel_on_signals(stderr: OutputWrapper, events: Sequence[threading.Event]) -> Iterator[None]:
    """Turn the first Ctrl-C or SIGTERM into a clean cancel (setting ``events``); a second
    one interrupts.

    SIGTERM is how a supervisor (systemd, a container runtime) stops a
    process: the run ends cancelled, as with Ctrl-C, rather than killed and
    left running until it is reaped. A second signal of either kind raises
    KeyboardInterrupt: no store, and the run is marked failed.

    The engine coordinates from this (the main) thread, which is where
    Python runs signal handlers; elsewhere no handler can be installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        for handled in previous:
            signal.signal(handled, signal.default_int_handler)
        for event in events:
            event.set()
        stderr.write(
            "Cancelling: no new step starts, running steps finish (Ctrl-C again to stop now)."
            if signum == signal.SIGINT
            else "Cancelling on SIGTERM: no new step starts, running steps finish "
            "(a second SIGTERM stops now)."
        )

    previous = {signum: signal.signal(signum, on_signal) for signum in CANCEL_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def write_summary(run: FlowRun, stdout: OutputWrapper) -> None:
    """Write the finished run's steps as a table, then one line on the run."""
    rows = [
        (
            step.name,
            step.kind,
            step.status,
            "-" if step.duration is None else f"{step.duration:.2f}s",
            step.error.splitlines()[0] if step.error else "",
        )
        for step in run.steps.order_by("position")
    ]
    stdout.write("")
    write_table(stdout, ("STEP", "KIND", "STATUS", "DURATION", "ERROR"), rows)
    stored = "not stored" if run.records_stored is None else f"{run.records_stored} stored"
    stdout.write(
        f"Run {run.pk} of flow '{run.flow.name}': {run.status} in {run.duration or 0:.2f}s "
        f"({run.records_loaded or 0} records loaded, {stored})"
    )


def write_table(
    stdout: OutputWrapper, header: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        stdout.write("  ".join(cells).rstrip())


# Queueing and cancelling


def enqueue(flow: str, options: RunOptions, console: Console) -> None:
    """Queue a run of ``flow`` for a task worker and print its id (only the id at -v0).

    Exit 1 if the backend refused it. If no worker was seen lately, say so
    on stderr: the run would wait, then fail as lost.
    """
    run = start_run(flow, trigger=Trigger.COMMAND, execute="worker", **options.config_arguments())
    # Failed here: the backend refused the task (or an immediate backend ran it at once).
    if run.status in (FlowRunStatus.FAILED, FlowRunStatus.CANCELLED):
        raise CommandError(run_outcome(run), returncode=FAILED)
    if console.verbosity == 0:
        console.stdout.write(str(run.pk))
    else:
        console.stdout.write(
            f"Run {run.pk} of flow '{run.flow.name}': {run.status}, task {run.task_id}"
        )
    if warning := no_worker_warning([run]):
        console.stderr.write(f"Warning: {warning}", style_func=console.style.WARNING)


def cancel(run_id: int, console: Console) -> None:
    """Cancel run ``run_id``: a queued one at once, a running one at its next heartbeat.

    Exit 2 for an unknown run or a finished one, naming its status.
    """
    run = find_run(run_id)
    try:
        cancel_run(run)
    except IllegalTransition:
        raise usage_error(
            f"run {run.pk} of flow '{run.flow.name}' is {run.status}: "
            "only queued or running runs can be cancelled"
        ) from None
    if console.verbosity == 0:
        return
    if run.is_active:
        console.stdout.write(
            f"Run {run.pk} of flow '{run.flow.name}': cancel requested; its worker stops it "
            "at its next heartbeat (no new step starts, running steps finish)."
        )
    else:
        console.stdout.write(
            f"Run {run.pk} of flow '{run.flow.name}': cancelled before it started."
        )


def find_run(run_id: int) -> FlowRun:
    """Return run ``run_id``; raise a usage error if there is none."""
    run = FlowRun.objects.select_related("flow").filter(pk=run_id).first()
    if run is None:
        raise usage_error(f"no run with id {run_id}")
    return run


# Scheduled runs


def start_due(console: Console, *, enqueue: bool) -> None:
    """Start every flow whose schedule fell due: run here one after another, or queue them.

    Exit 1 unless every one started (and, run here, succeeded).
    """
    due = start_due_runs(execute="worker" if enqueue else "here")
    for line in due.lines(console.verbosity):
        console.stdout.write(line)
    failures = list(due.errors)
    if not enqueue:
        failures += execute_due(due.started, console)
    if failures:
        raise CommandError("\n".join(failures), returncode=FAILED)


def execute_due(runs: list[FlowRun], console: Console) -> list[str]:
    """Execute the runs here, one after another; return the outcomes of the unsuccessful.

    Ctrl-C cancels the run in progress and the ones still waiting, which
    are never left queued with nothing to execute them.
    """
    failures = []
    waiting = list(runs)
    interrupted = threading.Event()
    try:
        while waiting and not interrupted.is_set():
            run = execute_here(waiting.pop(0), console, interrupted)
            if run.status != FlowRunStatus.SUCCEEDED:
                failures.append(run_outcome(run))
    finally:
        failures += [run_outcome(cancel_run(run)) for run in waiting]
    return failures


# Checking and listing


def validate(flow: str, options: RunOptions, console: Console) -> None:
    """Check ``flow``'s config with the options; print OK (write nothing) or exit 2."""
    row = get_flow_row(flow)
    configured = configure_flow(row, **options.config_arguments())
    modes = ", ".join(f"{name}={step.mode}" for name, step in configured.steps.items())
    console.stdout.write(
        f"OK: the config of flow '{row.name}' is valid "
        f"({configured.num_threads} threads; {modes or 'no steps'})"
    )


def describe(flow: str, console: Console) -> None:
    """Print ``flow``'s config as a commented YAML template."""
    console.stdout.write(build_flow(get_flow_row(flow)).emit_config(), ending="")


def list_flows(console: Console) -> None:
    """Print every flow, stored or registered, with its last run: one query."""
    last = FlowRun.objects.filter(flow=OuterRef("pk")).order_by("-queued_at", "-pk")
    flows = Flow.objects.annotate(
        last_run=Subquery(last.values("pk")[:1]),
        last_status=Subquery(last.values("status")[:1]),
        last_queued=Subquery(last.values("queued_at")[:1]),
    ).order_by("name")
    rows = [
        (
            flow.name,
            "yes" if flow.enabled else "no",
            "never run"
            if flow.last_run is None
            else f"#{flow.last_run} {flow.last_status} "
            f"{timezone.localtime(flow.last_queued):%Y-%m-%d %H:%M}",
        )
        for flow in flows
    ]
    listed = {row[0] for row in rows}
    rows += [(name, "yes", "never run") for name in flow_registry if name not in listed]
    if not rows:
        console.stdout.write("No flows: register one in an app's flows.py.")
        return
    write_table(console.stdout, ("FLOW", "ENABLED", "LAST RUN"), sorted(rows))


# Reading the options


def run_outcome(run: FlowRun) -> str:
    """Return how an unsuccessful run ended, with its error: the command's error message."""
    why = f": {run.error}" if run.error else ""
    return f"run {run.pk} of flow '{run.flow.name}' {run.status}{why}"


def verbosity_level(verbosity: int) -> int:
    """Return the lowest log level shown: none at 0, INFO at 1, DEBUG from 2."""
    return {0: logging.CRITICAL + 1, 1: logging.INFO}.get(verbosity, logging.DEBUG)


def read_config(path: str) -> dict[str, Any]:
    """Return the config in a YAML or JSON file; raise a usage error naming the file."""
    is_json = path.endswith(".json")
    try:
        text = read_text_file(path, "config file")
        data = load_json(text) if is_json else load_yaml(text)
    except DocumentFileError as exc:
        raise usage_error(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise usage_error(
            f"config file '{path}' is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}"
        ) from None
    except yaml.YAMLError as exc:
        where, problem = yaml_problem(exc)
        kind = "JSON" if is_json else "YAML"
        raise usage_error(f"config file '{path}' is not valid {kind}{where}: {problem}") from None
    if not isinstance(data, dict):
        raise usage_error(
            f"config file '{path}' must hold a mapping of config keys "
            f"(num_threads, <step>, <step>-mode, ...), got {type(data).__name__}"
        )
    return data


def parse_modes(values: Sequence[str]) -> dict[str, str]:
    """Return ``{step: mode}`` from ``--mode STEP=MODE`` values; the flow checks both."""
    modes = {}
    for value in values:
        step, equals, mode = value.partition("=")
        if not (step and equals and mode):
            raise usage_error(f"--mode expects STEP=MODE (e.g. --mode notify=debug), got '{value}'")
        modes[step] = mode
    return modes

"""``manage.py runflow``: run a flow here and now, recorded like any other run.

A thin shell over :mod:`adminflow.runs`. Exit codes scripts can trust: 0 the
run succeeded, 1 it failed or was cancelled, 2 bad usage or config (nothing
written), 3 the flow is already running. Ctrl-C or SIGTERM cancels the run
cleanly: no new step starts, running steps finish, the store rule applies.

With ``--enqueue`` the run is queued for a Tasks worker instead (see
:mod:`adminflow.tasks`): 0 once it is queued, 1 if the backend refused it.

With ``--due`` it starts every flow whose schedule fell due (see
:mod:`adminflow.schedule.scheduler`), running them here one after another, or queueing
them with ``--enqueue``: 0 if every one started (and, run here, succeeded),
1 otherwise. A flow skipped because it is still running is not a failure.
Safe to call from cron every minute on several machines at once.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from adminflow.engine import AdminflowError, ConsoleObserver, FlowConfigError
from adminflow.engine.documents import DocumentFileError, load_json, load_yaml, read_text_file
from adminflow.engine.yaml_errors import yaml_problem
from adminflow.models import Flow, FlowRun
from adminflow.registry import flow_registry
from adminflow.runs import FlowAlreadyRunning, cancel_run, execute_run, resume_run, start_run
from adminflow.runs.config import build_flow, configure_flow, get_flow_row
from adminflow.schedule.scheduler import start_due_runs
from adminflow.states import FlowRunStatus, Trigger

USAGE = 2
ALREADY_RUNNING = 3
# The signals that cancel a run cleanly: Ctrl-C, and what supervisors send to stop a process.
CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM)
RUN_OPTIONS = ("config", "debug", "mode", "threads")
# The ways to run with no flow name; --due may be combined with --enqueue.
STANDALONE = ("due", "list", "resume")


def usage_error(message: str) -> CommandError:
    return CommandError(message, returncode=USAGE)


class Command(BaseCommand):
    help = (
        "Run a flow in this process with live output and record the run; or queue it for "
        "a background worker (--enqueue), check its config (--validate), print a config "
        "template (--describe), list flows (--list), resume a failed run (--resume) or "
        "start the flows whose schedule fell due (--due)."
    )
    # Set by the first Ctrl-C or SIGTERM: a --due batch then starts no further run.
    interrupted = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("flow", nargs="?", help="The name of the flow.")
        parser.add_argument(
            "--config",
            metavar="FILE",
            help="Run with the config in this YAML or JSON file instead of the stored one.",
        )
        parser.add_argument(
            "--debug",
            action="store_true",
            help="Run every step and the storer in debug mode: nothing changes outside.",
        )
        parser.add_argument(
            "--mode",
            action="append",
            default=[],
            metavar="STEP=MODE",
            help="Set one step's mode (include, exclude or debug); repeatable.",
        )
        parser.add_argument("--threads", type=int, metavar="N", help="Run up to N steps at once.")
        parser.add_argument(
            "--due",
            action="store_true",
            help="Start every flow whose schedule fell due since its last scheduled run, "
            "once however many times were missed; with --enqueue, queue them for a worker. "
            "For cron: safe to call every minute, on several machines at once.",
        )
        what = parser.add_mutually_exclusive_group()
        what.add_argument(
            "--enqueue",
            action="store_true",
            help="Queue the run for a Tasks worker (e.g. manage.py db_worker) instead of "
            "running it here, and print its id (only the id with -v0).",
        )
        what.add_argument(
            "--validate",
            action="store_true",
            help="Only check the config: print OK or every problem, write nothing.",
        )
        what.add_argument(
            "--describe", action="store_true", help="Print a commented YAML config template."
        )
        what.add_argument("--list", action="store_true", help="List the flows with their last run.")
        what.add_argument(
            "--resume", type=int, metavar="RUN_ID", help="Resume the failed run RUN_ID."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.check_usage(options)
        try:
            if options["due"]:
                self.start_due(options)
            elif options["list"]:
                self.list_flows()
            elif options["resume"] is not None:
                self.resume(options)
            elif options["describe"]:
                self.stdout.write(
                    build_flow(get_flow_row(options["flow"])).emit_config(), ending=""
                )
            elif options["validate"]:
                self.validate(options)
            elif options["enqueue"]:
                self.enqueue(options)
            else:
                self.run_and_report(
                    options,
                    lambda: start_run(
                        options["flow"],
                        trigger=Trigger.COMMAND,
                        execute="here",
                        **self.config_arguments(options),
                    ),
                )
        except FlowAlreadyRunning as exc:
            raise CommandError(str(exc), returncode=ALREADY_RUNNING) from None
        except FlowConfigError as exc:
            source = f"\n(config read from {options['config']})" if options["config"] else ""
            raise usage_error(f"{exc}{source}") from None
        except AdminflowError as exc:
            raise usage_error(str(exc)) from None

    def check_usage(self, options: dict[str, Any]) -> None:
        given = {name for name in STANDALONE if options[name] not in (None, False)}
        given |= {name for name in ("validate", "describe", *RUN_OPTIONS) if options[name]}
        chosen = [name for name in STANDALONE if name in given]
        if not chosen:
            if not options["flow"]:
                raise usage_error("name the flow to run (or use --list to see the flows)")
            return
        # argparse already keeps --enqueue, --validate and --describe from --list and --resume.
        standalone = chosen[0]
        order = [*STANDALONE, "validate", "describe", *RUN_OPTIONS]
        others = [f"--{name}" for name in order if name in given and name != standalone]
        if options["flow"]:
            others.insert(0, f"a flow name ('{options['flow']}')")
        if others:
            raise usage_error(f"--{standalone} cannot be combined with {', '.join(others)}")

    # Running

    def config_arguments(self, options: dict[str, Any]) -> dict[str, Any]:
        """Return what shapes the run's config: the file's config and the overrides."""
        return {
            "config": read_config(options["config"]) if options["config"] else None,
            "debug": options["debug"],
            "modes": parse_modes(options["mode"]),
            "num_threads": options["threads"],
        }

    def enqueue(self, options: dict[str, Any]) -> None:
        run = start_run(
            options["flow"],
            trigger=Trigger.COMMAND,
            execute="worker",
            **self.config_arguments(options),
        )
        # Failed here: the backend refused the task (or an immediate backend ran it at once).
        if run.status in (FlowRunStatus.FAILED, FlowRunStatus.CANCELLED):
            raise CommandError(run_outcome(run), returncode=1)
        if options["verbosity"] == 0:
            self.stdout.write(str(run.pk))
        else:
            self.stdout.write(
                f"Run {run.pk} of flow '{run.flow.name}': {run.status}, task {run.task_id}"
            )

    def resume(self, options: dict[str, Any]) -> None:
        failed = FlowRun.objects.select_related("flow").filter(pk=options["resume"]).first()
        if failed is None:
            raise usage_error(f"no run with id {options['resume']}")
        self.run_and_report(
            options, lambda: resume_run(failed, trigger=Trigger.COMMAND, execute="here")
        )

    def run_and_report(self, options: dict[str, Any], start: Callable[[], FlowRun]) -> None:
        run = self.execute_and_report(options, start())
        if run.status != FlowRunStatus.SUCCEEDED:
            raise CommandError(run_outcome(run), returncode=1)

    def execute_and_report(self, options: dict[str, Any], run: FlowRun) -> FlowRun:
        """Execute the queued ``run`` here with live output and a summary; return it, finished."""
        console = ConsoleObserver(
            self.stdout,
            min_level=verbosity_level(options["verbosity"]),
            colour=False if options["no_color"] else True if options["force_color"] else None,
        )
        cancel = threading.Event()
        try:
            with self.cancel_on_signals(cancel):
                run = execute_run(run, observers=[console], cancel_event=cancel)
        except KeyboardInterrupt:
            raise CommandError(
                f"run {run.pk} was interrupted before its steps finished; marked failed",
                returncode=1,
            ) from None
        self.write_summary(run)
        return run

    # Scheduled runs

    def start_due(self, options: dict[str, Any]) -> None:
        due = start_due_runs(execute="worker" if options["enqueue"] else "here")
        for line in due.lines(options["verbosity"]):
            self.stdout.write(line)
        failures = list(due.errors)
        if not options["enqueue"]:
            failures += self.execute_due(due.started, options)
        if failures:
            raise CommandError("\n".join(failures), returncode=1)

    def execute_due(self, runs: list[FlowRun], options: dict[str, Any]) -> list[str]:
        """Execute the runs here, one after another; return the outcomes of the unsuccessful.

        Ctrl-C cancels the run in progress and the ones still waiting, which
        are never left queued with nothing to execute them.
        """
        failures = []
        waiting = list(runs)
        try:
            while waiting and not self.interrupted:
                run = self.execute_and_report(options, waiting.pop(0))
                if run.status != FlowRunStatus.SUCCEEDED:
                    failures.append(run_outcome(run))
        finally:
            failures += [run_outcome(cancel_run(run)) for run in waiting]
        return failures

    @contextmanager
    def cancel_on_signals(self, cancel: threading.Event) -> Iterator[None]:
        """Turn the first Ctrl-C or SIGTERM into a clean cancel; a second one interrupts.

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
            self.interrupted = True
            cancel.set()
            self.stderr.write(
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

    def write_summary(self, run: FlowRun) -> None:
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
        self.stdout.write("")
        self.write_table(("STEP", "KIND", "STATUS", "DURATION", "ERROR"), rows)
        stored = "not stored" if run.records_stored is None else f"{run.records_stored} stored"
        self.stdout.write(
            f"Run {run.pk} of flow '{run.flow.name}': {run.status} in {run.duration or 0:.2f}s "
            f"({run.records_loaded or 0} records loaded, {stored})"
        )

    def write_table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())

    # Checking and listing

    def validate(self, options: dict[str, Any]) -> None:
        row = get_flow_row(options["flow"])
        configured = configure_flow(row, **self.config_arguments(options))
        modes = ", ".join(f"{name}={step.mode}" for name, step in configured.steps.items())
        self.stdout.write(
            f"OK: the config of flow '{row.name}' is valid "
            f"({configured.num_threads} threads; {modes or 'no steps'})"
        )

    def list_flows(self) -> None:
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
            self.stdout.write("No flows: register one in an app's flows.py.")
            return
        self.write_table(("FLOW", "ENABLED", "LAST RUN"), sorted(rows))


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

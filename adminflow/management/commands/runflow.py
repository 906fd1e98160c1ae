"""``manage.py runflow``: run a flow here and now, recorded like any other run.

A thin shell over :mod:`adminflow.management.runflow`, whose functions do
the work. Exit codes scripts can trust: 0 the run succeeded, 1 it failed or
was cancelled, 2 bad usage or config (nothing written), 3 the flow is
already running. Ctrl-C or SIGTERM cancels the run cleanly: no new step
starts, running steps finish, the store rule applies.

With ``--enqueue`` the run is queued for a Tasks worker instead (see
:mod:`adminflow.tasks`): 0 once it is queued (with a warning on stderr if no
worker was seen lately), 1 if the backend refused it.

With ``--due`` it starts every flow whose schedule fell due (see
:mod:`adminflow.schedule.scheduler`), running them here one after another, or queueing
them with ``--enqueue``: 0 if every one started (and, run here, succeeded),
1 otherwise. A flow skipped because it is still running is not a failure.
Safe to call from cron every minute on several machines at once.

``--resume RUN_ID`` resumes a failed run with its own config, or with the
flow's current stored config with ``--resume-config flow`` (for a run that
failed on a config corrected since), and says which.

With ``--cancel RUN_ID`` it cancels a queued run at once and asks a running
one to stop at its next heartbeat: 0 then, 2 for an unknown or finished run.

Plans (see :mod:`adminflow.runs.plans`): ``--plan`` plans the flow here (0
once planned; 2 naming each propagate step that plans no intents, nothing
recorded); ``--approve RUN_ID`` and ``--reject RUN_ID`` (2 if refused, with
the reason); ``--apply RUN_ID`` applies an approved plan here: 4 if refused
(not approved, rejected, expired, already applied, records changed since the
plan), nothing changed; 1 if the apply failed part way, which
``--resume APPLY_RUN_ID`` carries on (4 if its records changed meanwhile). A
run of a flow that requires a plan and stops as one awaiting approval exits 5.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from adminflow.engine import AdminflowError, FlowConfigError
from adminflow.management import plans, runflow
from adminflow.management.runflow import Console, RunOptions, usage_error
from adminflow.runs import ApplyRefused, FlowAlreadyRunning

ALREADY_RUNNING = 3
# The ways to run with no flow name; --due may be combined with --enqueue.
STANDALONE = ("--due", "--list", "--resume", "--cancel", "--approve", "--reject", "--apply")
EXIT_CODES = (
    "Exit codes: 0 done (run succeeded, planned, approved, rejected, applied); 1 the run or "
    "apply failed or was cancelled; 2 bad usage or config, or a refused plan or approval "
    "(nothing written); 3 the flow is already running; 4 the apply was refused (not "
    "approved, rejected, expired, already applied, or records changed since the plan; "
    "nothing changed); 5 a run of a flow requiring a plan stopped as a plan awaiting approval."
)


class Command(BaseCommand):
    help = (
        "Run a flow in this process with live output and record the run; or queue it for "
        "a background worker (--enqueue), check its config (--validate), print a config "
        "template (--describe), list flows (--list), resume a failed run (--resume), "
        "cancel a run (--cancel), start the flows whose schedule fell due (--due), or plan a "
        "run for review (--plan) and approve, reject or apply the plan. " + EXIT_CODES
    )

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
            "running it here, and print its id (only the id with -v0); warn if no worker "
            "was seen lately.",
        )
        what.add_argument(
            "--validate",
            action="store_true",
            help="Only check the config: print OK or every problem, write nothing.",
        )
        what.add_argument(
            "--describe", action="store_true", help="Print a commented YAML config template."
        )
        what.add_argument(
            "--list",
            action="store_true",
            dest="list_flows",
            help="List the flows with their last run.",
        )
        what.add_argument(
            "--resume", type=int, metavar="RUN_ID", help="Resume the failed run RUN_ID."
        )
        parser.add_argument(
            "--resume-config",
            metavar="run|flow",
            help="With --resume: run with the failed run's config (run, the default) or "
            "with the flow's current stored config (flow).",
        )
        what.add_argument(
            "--plan",
            action="store_true",
            help="Plan the run here: the propagate steps only say what they would do "
            "(intents) and the record changes are computed, not written; print the plan.",
        )
        what.add_argument(
            "--approve", type=int, metavar="RUN_ID", help="Approve the plan of run RUN_ID."
        )
        what.add_argument(
            "--reject", type=int, metavar="RUN_ID", help="Reject the plan of run RUN_ID."
        )
        what.add_argument(
            "--apply",
            type=int,
            metavar="RUN_ID",
            help="Apply the approved plan of run RUN_ID here: carry out exactly its selected "
            "intents and store exactly its selected record changes (exit 4 if refused).",
        )
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="With --plan, --approve, --reject, --apply: who does it (recorded; a "
            "two-person flow needs an approver other than the planner).",
        )
        parser.add_argument(
            "--deselect-intent",
            type=int,
            action="append",
            default=[],
            metavar="ID",
            help="With --approve: leave out the intent ID (and its record's change); repeatable.",
        )
        parser.add_argument(
            "--deselect-record",
            type=int,
            action="append",
            default=[],
            metavar="ID",
            help="With --approve: leave out the record change ID; repeatable.",
        )
        what.add_argument(
            "--cancel",
            type=int,
            metavar="RUN_ID",
            help="Cancel the run RUN_ID: a queued one at once, a running one at its "
            "worker's next heartbeat.",
        )

    def handle(
        self,
        *args: Any,
        flow: str | None,
        config: str | None,
        debug: bool,
        mode: list[str],
        threads: int | None,
        due: bool,
        enqueue: bool,
        validate: bool,
        describe: bool,
        list_flows: bool,
        resume: int | None,
        resume_config: str | None,
        cancel: int | None,
        plan: bool,
        approve: int | None,
        reject: int | None,
        apply: int | None,
        user: str | None,
        deselect_intent: list[int],
        deselect_record: list[int],
        verbosity: int,
        no_color: bool,
        force_color: bool,
        **options: Any,
    ) -> None:
        check_usage(
            flow,
            {
                "--due": due,
                "--list": list_flows,
                "--resume": resume is not None,
                "--cancel": cancel is not None,
                "--approve": approve is not None,
                "--reject": reject is not None,
                "--apply": apply is not None,
                "--validate": validate,
                "--describe": describe,
                "--config": bool(config),
                "--debug": debug,
                "--mode": bool(mode),
                "--threads": threads is not None,
            },
        )
        if resume_config is not None and resume is None:
            raise usage_error("--resume-config goes with --resume RUN_ID")
        if (deselect_intent or deselect_record) and approve is None:
            raise usage_error("--deselect-intent and --deselect-record go with --approve RUN_ID")
        console = Console(
            self.stdout,
            self.stderr,
            self.style,
            verbosity,
            colour=False if no_color else True if force_color else None,
        )
        run_options = RunOptions(config or None, debug, tuple(mode), threads)
        try:
            if due:
                runflow.start_due(console, enqueue=enqueue)
            elif list_flows:
                runflow.list_flows(console)
            elif resume is not None:
                runflow.resume(resume, console, config=resume_config or "run")
            elif cancel is not None:
                runflow.cancel(cancel, console)
            elif approve is not None:
                plans.approve(
                    approve,
                    console,
                    username=user,
                    deselected_intents=deselect_intent,
                    deselected_records=deselect_record,
                )
            elif reject is not None:
                plans.reject(reject, console, username=user)
            elif apply is not None:
                plans.apply(apply, console, username=user)
            elif not flow:
                raise usage_error("name the flow to run (or use --list to see the flows)")
            elif describe:
                runflow.describe(flow, console)
            elif validate:
                runflow.validate(flow, run_options, console)
            elif enqueue:
                runflow.enqueue(flow, run_options, console)
            elif plan:
                plans.plan(flow, run_options, console, username=user)
            else:
                runflow.run_here(flow, run_options, console)
        except FlowAlreadyRunning as exc:
            raise CommandError(str(exc), returncode=ALREADY_RUNNING) from None
        except ApplyRefused as exc:
            raise CommandError(str(exc), returncode=plans.REFUSED) from None
        except FlowConfigError as exc:
            source = f"\n(config read from {config})" if config else ""
            raise usage_error(f"{exc}{source}") from None
        except AdminflowError as exc:
            raise usage_error(str(exc)) from None


def check_usage(flow: str | None, given: Mapping[str, bool]) -> None:
    """Raise a usage error if a way to run with no flow name comes with anything else.

    ``given`` says which options were given, in the order the message names
    them. argparse already keeps --enqueue, --validate and --describe from
    --list, --resume and --cancel.
    """
    chosen = [name for name in STANDALONE if given[name]]
    if not chosen:
        return
    others = [name for name, present in given.items() if present and name != chosen[0]]
    if flow:
        others.insert(0, f"a flow name ('{flow}')")
    if others:
        raise usage_error(f"{chosen[0]} cannot be combined with {', '.join(others)}")

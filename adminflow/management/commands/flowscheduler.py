"""``manage.py flowscheduler``: start scheduled runs as they fall due, for sites without cron.

Each pass queues the due runs for a Tasks worker, as ``runflow --due
--enqueue`` does, then the command sleeps until the next scheduled time
(or ``ADMINFLOW["SCHEDULER_MAX_SLEEP"]`` seconds, so that it notices
schedules edited meanwhile). SIGTERM or Ctrl-C wakes it and it stops at
once, exit code 0. Several schedulers, and cron calling ``runflow --due``,
may run side by side: each due time starts one run.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections
from django.utils import timezone

from adminflow.conf import adminflow_settings
from adminflow.runs import reap_stale_runs
from adminflow.schedule.scheduler import next_due_at, start_due_runs

logger = logging.getLogger("adminflow.schedule.scheduler")

# However soon the next time is due, or overdue while another scheduler claims
# it, passes are at least this far apart: no busy loop.
MIN_SLEEP = 1.0


class Command(BaseCommand):
    help = (
        "Start scheduled runs as they fall due, queueing them for a Tasks worker, until "
        "stopped by SIGTERM or Ctrl-C. For sites without cron (which would call "
        "`runflow --due --enqueue` every minute instead)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Make one pass, then exit.")
        parser.add_argument(
            "--max-sleep",
            type=float,
            metavar="SECONDS",
            help="Look for edited schedules at least this often "
            "(default: ADMINFLOW['SCHEDULER_MAX_SLEEP']).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        max_sleep = options["max_sleep"]
        if max_sleep is None:
            max_sleep = float(adminflow_settings.SCHEDULER_MAX_SLEEP)
        if max_sleep < MIN_SLEEP:
            raise CommandError(
                f"--max-sleep (or ADMINFLOW['SCHEDULER_MAX_SLEEP']) must be at least "
                f"{MIN_SLEEP:g} second, got {max_sleep:g}",
                returncode=2,
            )
        verbosity = options["verbosity"]
        if options["once"]:
            self.make_pass(verbosity)
            return
        stop = threading.Event()
        with stop_on_signals(stop):
            self.stdout.write(f"flowscheduler started (looks again at least every {max_sleep:g}s)")
            while not stop.is_set():
                try:
                    self.make_pass(verbosity)
                    pause = seconds_to_next_time(max_sleep)
                except Exception:
                    # Outlive a failed pass (the database restarting, say), without spinning.
                    logger.exception("flowscheduler: a pass failed; next pass in %gs", max_sleep)
                    pause = max_sleep
                stop.wait(pause)
        self.stdout.write("flowscheduler stopped")

    def make_pass(self, verbosity: int) -> None:
        """Queue every due run; print what happened, errors on stderr."""
        # A long-lived process: drop connections the database closed or that are too old.
        close_old_connections()
        # Whether or not their flows are due: a lost run is failed (and its notices
        # sent) when it is found, not when someone next starts its flow.
        for run in reap_stale_runs():
            self.stderr.write(f"Run {run.pk} of flow '{run.flow.name}' was lost: {run.error}")
        due = start_due_runs(execute="worker")
        for line in due.lines(verbosity):
            self.stdout.write(line)
        for error in due.errors:
            self.stderr.write(error)


def seconds_to_next_time(max_sleep: float) -> float:
    """Return how long to sleep: until the next scheduled time, within ``MIN_SLEEP..max_sleep``.

    At most ``max_sleep``, so that a schedule edited meanwhile is noticed.
    """
    due = next_due_at()
    if due is None:
        return max_sleep
    return min(max_sleep, max(MIN_SLEEP, (due - timezone.now()).total_seconds()))


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM or SIGINT while inside; restore the handlers after.

    Handlers can only be installed in the main thread; elsewhere (a test
    calling the command from a thread) the loop runs until ``stop`` is set.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

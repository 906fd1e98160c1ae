"""Record a run in the database while it executes: step rows, log lines, heartbeats.

The engine reports through observer calls made from its worker threads.
Writing there would tie every step to the database's speed, and make each
worker thread open (and close) a connection of its own: on a 1000-step run
that alone took seconds. So the observer calls only note what changed, and
one side thread writes it over one connection: step rows as soon as it
wakes, log lines in batches. The same thread heartbeats the run and notices
a cancel requested from another process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from time import monotonic
from types import TracebackType
from typing import Any, Self

from django.db import connections, router, transaction
from django.utils import timezone

from ..conf import adminflow_settings
from ..engine import FlowObserver, StepResult
from ..models import FlowRun, RunLog, StepRun
from ..reconnect import retried_if_lost
from ..signals import send_robust, step_run_finished
from ..states import STEP_TRANSITIONS, FlowRunStatus, StepRunStatus, check_transition

logger = logging.getLogger("adminflow.runs")


class StepRowsNotRecorded(Exception):
    """Raise when a run's step rows could not be written even as the run ended."""


class RunRecorder(FlowObserver):
    """The observer that writes one run's progress to the database.

    Use it as a context manager around ``ConfiguredFlow.run``: entering starts
    the side thread, leaving stops it and writes the last log lines.
    """

    def __init__(
        self, run: FlowRun, step_rows: Mapping[str, StepRun], cancel_event: threading.Event
    ) -> None:
        self.run = run
        self.step_rows = step_rows
        self.cancel_event = cancel_event
        # The thread running the flow keeps its connection; worker threads close theirs.
        self.owner = threading.current_thread()
        self.batch_size: int = adminflow_settings.LOG_BATCH_SIZE
        self.flush_interval: float = adminflow_settings.LOG_FLUSH_INTERVAL
        self.heartbeat_interval: float = adminflow_settings.HEARTBEAT_INTERVAL
        self.max_line_length: int = adminflow_settings.MAX_LOG_LINE_LENGTH
        self.max_lines: int = adminflow_settings.MAX_LOG_LINES_PER_RUN
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._buffer: list[RunLog] = []
        # Step rows' changes not yet written (name -> fields), and the steps whose
        # step_run_finished is due once they are.
        self._step_changes: dict[str, dict[str, Any]] = {}
        self._steps_finished: list[str] = []
        # When the side thread writes them: at once (0.0), or later after a failed write.
        self._steps_retry_at = 0.0
        # Each step's latest status, noted or written: what the next move is checked against.
        self._step_status = {name: row.status for name, row in step_rows.items()}
        self._buffered_since = 0.0
        self._kept = 0
        self._dropped = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._side_loop, name=f"adminflow-run-{run.pk}", daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
        try:
            self._write_last_steps()
        finally:
            if self._dropped:
                self._append(
                    None,
                    logging.WARNING,
                    f"{self._dropped} more log lines were not stored: a run keeps at most "
                    f"{self.max_lines} (ADMINFLOW['MAX_LOG_LINES_PER_RUN'])",
                )
            self.flush()

    def _write_last_steps(self) -> None:
        """Write every step change still noted, over a new connection if ours was lost.

        The last chance: raise StepRowsNotRecorded if even this write fails,
        so that the run is not finished as if its step rows were right (the
        run service marks it failed, its active step rows with it).
        """
        try:
            self.write_steps()
        except Exception as exc:
            # One line: the run's error quotes the last line of the traceback.
            reason = str(exc).partition("\n")[0]
            raise StepRowsNotRecorded(
                f"run {self.run.pk}: the rows of steps {', '.join(self._step_changes)} "
                f"could not be written: {type(exc).__name__}: {reason}"
            ) from exc

    # Observer calls, from the engine's threads

    def step_started(self, flow: str, step: StepResult) -> None:
        self._note_step(step.name, status=StepRunStatus.RUNNING, started_at=step.started_at)

    def step_retrying(self, flow: str, step: StepResult, error: str, delay: float) -> None:
        self._note_step(step.name, attempts=step.attempts)

    def step_overdue(self, flow: str, step: StepResult) -> None:
        self._note_step(step.name, overdue=True)

    def step_finished(self, flow: str, step: StepResult) -> None:
        try:
            self._note_step(
                step.name,
                finished=True,
                status=str(step.status),
                finished_at=step.finished_at,
                duration=step.duration,
                attempts=step.attempts,
                overdue=step.overdue,
                error=cut(step.error or "", self.max_line_length),
                traceback=cut(step.traceback or "", self.max_line_length, keep_end=True),
            )
        finally:
            # A node's work on a worker thread ends here: if the step used the ORM,
            # close what that thread opened rather than leak a connection.
            if threading.current_thread() is not self.owner:
                connections.close_all()

    def store_started(self, flow: str) -> None:
        # Written now, by the thread about to store: on SQLite the store's transaction
        # would keep the side thread from writing them until it ends.
        self.write_steps()

    def _note_step(self, name: str, *, finished: bool = False, **fields: Any) -> None:
        """Note a change of a step's row for the side thread, and wake it to write it."""
        status = fields.get("status")
        with self._lock:
            if status is not None:
                # Checked here, in order, though the row may be written once for both moves.
                check_transition(STEP_TRANSITIONS, f"step {name}", self._step_status[name], status)
                self._step_status[name] = status
            self._step_changes.setdefault(name, {}).update(fields)
            if finished:
                self._steps_finished.append(name)
        self._wake.set()

    def write_steps(self) -> None:
        """Write the step rows' noted changes, in one transaction; then send step_run_finished.

        Raise what the write raised, keeping the changes for the next write:
        a step row must end in its step's final status, so a lost write is
        written again, never dropped.
        """
        with self._flush_lock:
            with self._lock:
                changes, self._step_changes = self._step_changes, {}
                finished, self._steps_finished = self._steps_finished, []
            if changes:
                try:
                    retried_if_lost(lambda: self._update_steps(changes), StepRun)
                except BaseException:
                    self._keep(changes, finished)
                    raise
                self._steps_retry_at = 0.0
        for name in finished:
            send_robust(step_run_finished, self.run, step=self.step_rows[name])

    def _update_steps(self, changes: Mapping[str, dict[str, Any]]) -> None:
        # One UPDATE per row, of its changed fields only: measured faster than one
        # bulk_update, whose CASE over every changed field rewrites them all.
        with transaction.atomic(using=router.db_for_write(StepRun)):
            for name, fields in changes.items():
                row = self.step_rows[name]
                StepRun.objects.filter(pk=row.pk).update(**fields)
                for field, value in fields.items():
                    setattr(row, field, value)

    def _keep(self, changes: dict[str, dict[str, Any]], finished: list[str]) -> None:
        """Put back the changes of a write that failed, under those noted since, for the
        next write to carry; and make the side thread try again no sooner than a flush
        interval from now, unless a new change wakes it: not in a loop while the
        database is away."""
        with self._lock:
            for name, fields in self._step_changes.items():
                changes.setdefault(name, {}).update(fields)
            self._step_changes = changes
            self._steps_finished[:0] = finished
            self._steps_retry_at = monotonic() + self.flush_interval

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        message = cut(message, self.max_line_length)
        with self._lock:
            if self._kept >= self.max_lines:
                self._dropped += 1
                return
            self._kept += 1
        self._append(step, level, message)

    # Buffering and the side thread

    def _append(self, step: str | None, level: int, message: str) -> None:
        line = RunLog(run_id=self.run.pk, step=step or "", level=level, message=message)
        with self._lock:
            if not self._buffer:
                self._buffered_since = monotonic()
            self._buffer.append(line)
            # Wake the side thread to set a flush deadline, or to write a full batch.
            wake = len(self._buffer) in (1, self.batch_size)
        if wake:
            self._wake.set()

    def flush(self, count: int | None = None) -> None:
        """Write the first ``count`` buffered lines (all by default), in the order logged."""
        with self._flush_lock:
            with self._lock:
                count = len(self._buffer) if count is None else count
                batch, self._buffer = self._buffer[:count], self._buffer[count:]
            if batch:
                retried_if_lost(
                    lambda: RunLog.objects.bulk_create(batch, batch_size=self.batch_size), RunLog
                )

    def _side_loop(self) -> None:
        next_beat = monotonic() + self.heartbeat_interval
        try:
            while not self._stopping:
                self._wake.wait(self._seconds_until_due(next_beat))
                self._wake.clear()
                try:
                    self.write_steps()
                except Exception:
                    # Kept for the next write. Rows that cannot be written now must not
                    # hold up the log lines, nor the heartbeat that keeps the run alive.
                    logger.exception(
                        "writing run %s's step rows failed; kept for the next write", self.run.pk
                    )
                try:
                    if due := self._lines_due():
                        self.flush(due)
                    if monotonic() >= next_beat:
                        retried_if_lost(self.heartbeat, FlowRun)
                        next_beat = monotonic() + self.heartbeat_interval
                except Exception:
                    logger.exception("recording run %s failed; the run goes on", self.run.pk)
        finally:
            connections.close_all()

    def _seconds_until_due(self, next_beat: float) -> float:
        with self._lock:
            due = next_beat
            if self._step_changes:
                due = min(due, self._steps_retry_at)
            if len(self._buffer) >= self.batch_size:
                due = 0.0
            elif self._buffer:
                due = min(due, self._buffered_since + self.flush_interval)
        return max(0.0, due - monotonic())

    def _lines_due(self) -> int:
        """Return how many lines to write now: all once the oldest waited long enough,
        else whole batches only, so that each INSERT carries a full batch."""
        with self._lock:
            if self._buffer and monotonic() >= self._buffered_since + self.flush_interval:
                return len(self._buffer)
            return len(self._buffer) - len(self._buffer) % self.batch_size

    def heartbeat(self) -> None:
        """Mark the run alive; on a cancel request, or if the run ended elsewhere, stop it.

        The common case is three UPDATEs (the task worker's row, the held
        queued runs, this run); a fourth only runs once a cancel was
        requested (or the reaper gave the run up), to tell which.
        """
        # Imported here, where the worker is beaten: recording needs nothing else of it.
        from .workers import worker_beat

        now = timezone.now()
        # A task worker stays seen alive while it executes; runflow has no row to beat.
        worker_beat(self.run.worker, now)
        # Runs this process queued to execute after this one (`runflow --due`) are
        # alive while it is; without a beat they would be reaped as lost.
        FlowRun.objects.filter(status=FlowRunStatus.QUEUED, worker=self.run.worker).update(
            heartbeat_at=now
        )
        runs = FlowRun.objects.filter(pk=self.run.pk, status=FlowRunStatus.RUNNING)
        if runs.filter(cancel_requested=False).update(heartbeat_at=now):
            return
        alive = runs.update(heartbeat_at=now)
        if not self.cancel_event.is_set():
            self.log(
                "",
                None,
                logging.WARNING,
                "cancel requested: no new step starts; running steps finish"
                if alive
                else "the run was ended elsewhere (marked stale?): no new step starts",
            )
            self.cancel_event.set()


def cut(text: str, limit: int, *, keep_end: bool = False) -> str:
    """Return ``text`` cut to ``limit`` characters, with a marker saying how many were dropped.

    A traceback keeps its end, where the exception is; anything else its start.
    """
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    if keep_end:
        return f"[{dropped} characters cut] …{text[-limit:]}"
    return f"{text[:limit]}… [{dropped} more characters cut]"

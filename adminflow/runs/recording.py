"""Record a run in the database while it executes: step rows, log lines, heartbeats.

The engine reports through observer calls made from its worker threads.
Writing there would tie every step to the database's speed, and make each
worker thread open (and close) a connection of its own: on a 1000-step run
that alone took seconds. So the observer calls only note what changed, and
one side thread writes it over one connection: step rows at most every
``STEP_WRITE_INTERVAL``, each batch of them in one statement and each row
once however often its step moved meanwhile; log lines in batches. The same
thread heartbeats the run and notices a cancel requested from another
process.

Every step's start and end is a log line too, worded as the console prints
it (:func:`adminflow.engine.observers.step_line`).

What each step did to each record (:mod:`adminflow.engine.tracing`) arrives
once per step, as the step ends, and is written by the same side thread in
batches, as ``StepEffect`` rows; a log line about one record carries its key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from time import monotonic
from types import TracebackType
from typing import Any, Self

from django.db import connections, router
from django.db.backends.signals import connection_created
from django.utils import timezone

from ..conf import adminflow_settings
from ..engine import FlowObserver, StepResult, StepStatus
from ..engine.observers import step_line
from ..engine.tracing import RecordEffect, logged_record
from ..models import FlowRun, RunLog, StepEffect, StepRun
from ..reconnect import retried_if_lost
from ..signals import send_robust, step_run_finished
from ..states import STEP_TRANSITIONS, FlowRunStatus, StepRunStatus, check_transition
from .bulk_writes import insert_rows, update_rows
from .step_rows import StepRowValues
from .workers import worker_beat

logger = logging.getLogger("adminflow.runs")

STEP_WRITE_INTERVAL = 0.05
"""Seconds at least between two writes of step rows by the side thread.

A step's move is written at once if none was written for this long, else
this long after the last write, with every move made meanwhile: a page
polling the run sees it move at once, and a run of many quick steps writes
its rows a batch at a time, not one transaction per move.
"""

# A step row's fields that change as its step moves: all written on every write of it.
STEP_FIELDS = (
    "status",
    "started_at",
    "finished_at",
    "duration",
    "attempts",
    "overdue",
    "error",
    "traceback",
)
LOG_FIELDS = ("run", "step", "level", "message", "created_at", "record_key")
LogLine = tuple[int, str, int, str, datetime, str]
"""A log line not written yet: a RunLog row's values, in the order of ``LOG_FIELDS``."""
EFFECT_FIELDS = ("run", "step", "collection", "key", "action", "fields", "error", "lines")
STEP_ROWS_PER_STATEMENT = 500
"""Step rows inserted or updated by one statement at most: a run's steps in a few."""


class StepRowsNotRecorded(Exception):
    """Raise when a run's step rows could not be written even as the run ended."""


def save_step_rows(rows: Sequence[StepRowValues]) -> dict[str, StepRowValues]:
    """Insert one run's new step rows; return them by step name, each with its key
    (``id``).

    What ``bulk_create`` does, in a fraction of its time for a run of many
    steps (see :mod:`.bulk_writes`); the keys are read back by step name,
    unique in a run, as SQLite cannot return them from a multi-row INSERT
    on every version Django supports.
    """
    if not rows:
        return {}
    fields = list(rows[0])
    insert_rows(StepRun, fields, list(map(itemgetter(*fields), rows)), STEP_ROWS_PER_STATEMENT)
    keys = dict(StepRun.objects.filter(run=rows[0]["run_id"]).values_list("name", "pk"))
    return {row["name"]: {**row, "id": keys[row["name"]]} for row in rows}


def saved_step_run(run: FlowRun, row: StepRowValues) -> StepRun:
    """Return the saved StepRun of ``run`` whose values are ``row``, as if read from the
    database: made only for a step_run_finished receiver to be given."""
    names = [field.attname for field in StepRun._meta.concrete_fields]
    step = StepRun.from_db(router.db_for_write(StepRun), names, itemgetter(*names)(row))
    StepRun.run.field.set_cached_value(step, run)
    return step


class RunRecorder(FlowObserver):
    """The observer that writes one run's progress to the database.

    Use it as a context manager around ``ConfiguredFlow.run``: entering starts
    the side thread, leaving stops it and writes the last log lines.
    """

    def __init__(
        self,
        run: FlowRun,
        step_rows: Mapping[str, StepRowValues],
        cancel_event: threading.Event,
        collection: str = "",
    ) -> None:
        self.run = run
        self.collection = collection
        """The collection the run's records are audited under, for its StepEffect rows."""
        self.run_id: int = run.pk  # read for every line: the model's pk property costs a call
        self.step_rows = step_rows
        self.cancel_event = cancel_event
        # The thread running the flow keeps its connection; worker threads close theirs.
        self.owner = threading.current_thread()
        # The threads that opened a connection since the run started: a worker thread
        # closes its connections after a step only if it is one of them. Asking Django
        # which connections each thread holds cost as much as the rest of recording a
        # step.
        self._connected: set[int] = set()
        self.batch_size: int = adminflow_settings.LOG_BATCH_SIZE
        self.flush_interval: float = adminflow_settings.LOG_FLUSH_INTERVAL
        self.heartbeat_interval: float = adminflow_settings.HEARTBEAT_INTERVAL
        self.max_line_length: int = adminflow_settings.MAX_LOG_LINE_LENGTH
        self.max_lines: int = adminflow_settings.MAX_LOG_LINES_PER_RUN
        self._lock = threading.Lock()
        # Held while writing step rows, and while writing log lines: two writes of one kind
        # never overtake each other, and a write of either kind never waits for one of
        # the other (the thread storing the run writes the step rows while the side
        # thread writes a batch of lines).
        self._steps_write_lock = threading.Lock()
        self._lines_write_lock = threading.Lock()
        self._buffer: list[LogLine] = []
        self._effects: list[tuple[Any, ...]] = []
        # The steps whose rows changed since they were written (the rows hold the
        # changes; set under the lock), and those whose step_run_finished is due
        # once they are written.
        self._steps_changed: dict[str, None] = {}
        self._steps_finished: list[str] = []
        # When the side thread writes them next, and when it last did.
        self._steps_due = 0.0
        self._steps_written = -STEP_WRITE_INTERVAL
        self._buffered_since = 0.0
        self._kept = 0
        self._dropped = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._side_loop, name=f"adminflow-run-{run.pk}", daemon=True
        )

    def __enter__(self) -> Self:
        connection_created.connect(self._note_connected, weak=False)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection_created.disconnect(self._note_connected)
        self._stopping = True
        self._wake.set()
        self._thread.join()
        try:
            self._write_last_steps()
        finally:
            if self._dropped:
                line = self._line(
                    None,
                    logging.WARNING,
                    f"{self._dropped} more log lines were not stored: a run keeps at most "
                    f"{self.max_lines} (ADMINFLOW['MAX_LOG_LINES_PER_RUN'])",
                )
                with self._lock:
                    self._buffer_line(line, counted=False)
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
                f"run {self.run.pk}: the rows of steps {', '.join(self._steps_changed)} "
                f"could not be written: {type(exc).__name__}: {reason}"
            ) from exc

    # Observer calls, from the engine's threads

    def run_started(self, flow: str, steps: Sequence[StepResult]) -> None:
        # An excluded step is final from the start (so is its row): its line is logged here.
        for step in steps:
            if step.status is StepStatus.EXCLUDED:
                level, text = step_line(step)
                self.log(flow, step.name, level, text)

    def step_started(self, flow: str, step: StepResult) -> None:
        at = step.started_at
        self._note_step(step, {"status": StepRunStatus.RUNNING, "started_at": at}, said_at=at)

    def step_retrying(self, flow: str, step: StepResult, error: str, delay: float) -> None:
        self._note_step(step, {"attempts": step.attempts})

    def step_overdue(self, flow: str, step: StepResult) -> None:
        self._note_step(step, {"overdue": True})

    def step_records(self, flow: str, step: StepResult, effects: Sequence[RecordEffect]) -> None:
        run, name, collection = self.run.pk, step.name, self.collection
        limit = self.max_line_length
        rows = [
            (
                run,
                name,
                collection,
                effect.key,
                effect.action,
                effect.fields,
                cut(effect.error, limit),
                effect.lines,
            )
            for effect in effects
        ]
        with self._lock:
            self._effects.extend(rows)
            wake = len(self._effects) >= self.batch_size
        if wake:
            self._wake.set()

    def step_finished(self, flow: str, step: StepResult) -> None:
        fields = {
            "status": str(step.status),
            "finished_at": step.finished_at,
            "duration": step.duration,
            "attempts": step.attempts,
            "overdue": step.overdue,
            "error": cut(step.error, self.max_line_length) if step.error else "",
            "traceback": cut(step.traceback, self.max_line_length, keep_end=True)
            if step.traceback
            else "",
        }
        try:
            # A step that never started (skipped, upstream failed) has no time of its own.
            self._note_step(step, fields, said_at=step.finished_at or timezone.now(), finished=True)
        finally:
            # A node's work on a worker thread ends here: if the step used the ORM,
            # close what that thread opened rather than leak a connection.
            thread = threading.get_ident()
            if thread in self._connected and thread != self.owner.ident:
                self._connected.discard(thread)
                connections.close_all()

    def _note_connected(self, **kwargs: Any) -> None:
        """Note that this thread opened a database connection (``connection_created``)."""
        self._connected.add(threading.get_ident())

    def store_started(self, flow: str) -> None:
        # Written now, by the thread about to store: on SQLite the store's transaction
        # would keep the side thread from writing them until it ends.
        self.write_steps()
        with self._lines_write_lock:
            self.write_effects()

    def _note_step(
        self,
        step: StepResult,
        fields: dict[str, Any],
        *,
        said_at: datetime | None = None,
        finished: bool = False,
    ) -> None:
        """Change a step's row for the side thread to write, and log the step's line, dated
        ``said_at``, if the move is said; wake the side thread if that makes something due
        sooner.

        One lock for both: every step takes this path twice, from threads that
        contend for it. A step's line is dated with the time the engine gave
        the move, which the row holds too: the same moment, not read twice.
        """
        name = step.name
        row = self.step_rows[name]
        status = fields.get("status")
        line = self._line(name, *step_line(step), at=said_at) if said_at is not None else None
        with self._lock:
            # Checked here, in order, though the row may be written once for both moves;
            # check_transition only to raise, so that no message is made for a legal move.
            if status is not None and status not in STEP_TRANSITIONS[row["status"]]:
                check_transition(STEP_TRANSITIONS, f"step {name}", row["status"], status)
            row.update(fields)
            wake = not self._steps_changed
            if wake:
                self._steps_due = max(monotonic(), self._steps_written + STEP_WRITE_INTERVAL)
            self._steps_changed[name] = None
            if finished:
                self._steps_finished.append(name)
            if line is not None:
                wake = self._buffer_line(line) or wake
        if wake:
            self._wake.set()

    def write_steps(self) -> None:
        """Write the changed step rows, in one transaction; then send step_run_finished.

        Raise what the write raised, keeping the rows for the next write: a
        step row must end in its step's final status, so a lost write is
        written again, never dropped.
        """
        with self._steps_write_lock:
            with self._lock:
                names, self._steps_changed = list(self._steps_changed), {}
                finished, self._steps_finished = self._steps_finished, []
                rows = [self._step_values(self.step_rows[name]) for name in names]
            if rows:
                try:
                    retried_if_lost(
                        lambda: update_rows(StepRun, STEP_FIELDS, rows, STEP_ROWS_PER_STATEMENT),
                        StepRun,
                    )
                except BaseException:
                    self._keep(names, finished)
                    raise
                self._steps_written = monotonic()
        # A StepRun is made for a receiver only: a run of many steps is spared a model
        # instance per step where nobody listens.
        if finished and step_run_finished.has_listeners(type(self.run)):
            for name in finished:
                step = saved_step_run(self.run, self.step_rows[name])
                send_robust(step_run_finished, self.run, step=step)

    # The whole changing part of a row: one statement shape for every row of a batch,
    # whichever of its fields changed since the last write.
    _step_values = staticmethod(itemgetter("id", *STEP_FIELDS))

    def _keep(self, names: list[str], finished: list[str]) -> None:
        """Mark the rows of a write that failed changed again, for the next write to
        carry; and make the side thread try again no sooner than a flush interval from
        now: not in a loop while the database is away."""
        with self._lock:
            self._steps_changed = dict.fromkeys([*names, *self._steps_changed])
            self._steps_finished[:0] = finished
            self._steps_due = monotonic() + self.flush_interval

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        line = self._line(step, level, message, logged_record() or "")
        with self._lock:
            wake = self._buffer_line(line)
        if wake:
            self._wake.set()

    # Buffering and the side thread

    def _line(
        self,
        step: str | None,
        level: int,
        message: str,
        record_key: str = "",
        *,
        at: datetime | None = None,
    ) -> LogLine:
        """Return a log line as it is written, dated ``at`` (now by default): a RunLog row's
        values, cut to length."""
        if len(message) > self.max_line_length:
            message = cut(message, self.max_line_length)
        return (self.run_id, step or "", level, message, at or timezone.now(), record_key[:255])

    def _buffer_line(self, line: LogLine, *, counted: bool = True) -> bool:
        """Buffer ``line`` unless the run has kept its most lines (then count it); return
        whether to wake the side thread: to set a flush deadline, or to write a full
        batch. Call under the lock."""
        if counted:
            if self._kept >= self.max_lines:
                self._dropped += 1
                return False
            self._kept += 1
        if not self._buffer:
            self._buffered_since = monotonic()
        self._buffer.append(line)
        return len(self._buffer) in (1, self.batch_size)

    def flush(self, count: int | None = None) -> None:
        """Write the first ``count`` buffered lines (all by default), in the order logged."""
        with self._lines_write_lock:
            with self._lock:
                count = len(self._buffer) if count is None else count
                batch, self._buffer = self._buffer[:count], self._buffer[count:]
            if batch:
                retried_if_lost(
                    lambda: insert_rows(RunLog, LOG_FIELDS, batch, self.batch_size), RunLog
                )
            self.write_effects()

    def write_effects(self) -> None:
        """Write the step effects noted so far; keep them for the next write if it fails."""
        with self._lock:
            effects, self._effects = self._effects, []
        if not effects:
            return
        try:
            retried_if_lost(
                lambda: insert_rows(StepEffect, EFFECT_FIELDS, effects, self.batch_size),
                StepEffect,
            )
        except BaseException:
            with self._lock:
                self._effects[:0] = effects
            raise

    def _side_loop(self) -> None:
        next_beat = monotonic() + self.heartbeat_interval
        try:
            while not self._stopping:
                self._wake.wait(self._seconds_until_due(next_beat))
                self._wake.clear()
                # Lines first: once the steps have ended, the thread about to store writes
                # the step rows itself (store_started), at the same time as these lines.
                try:
                    if (due := self._lines_due()) or self._effects_due():
                        self.flush(due)
                except Exception:
                    logger.exception("writing run %s's log lines failed", self.run.pk)
                try:
                    if self._steps_are_due():
                        self.write_steps()
                except Exception:
                    # Kept for the next write. Rows that cannot be written now must not
                    # hold up the heartbeat that keeps the run alive.
                    logger.exception(
                        "writing run %s's step rows failed; kept for the next write", self.run.pk
                    )
                try:
                    if monotonic() >= next_beat:
                        retried_if_lost(self.heartbeat, FlowRun)
                        next_beat = monotonic() + self.heartbeat_interval
                except Exception:
                    logger.exception("recording run %s failed; the run goes on", self.run.pk)
        finally:
            connections.close_all()

    def _steps_are_due(self) -> bool:
        with self._lock:
            return bool(self._steps_changed) and monotonic() >= self._steps_due

    def _seconds_until_due(self, next_beat: float) -> float:
        with self._lock:
            due = next_beat
            if self._steps_changed:
                due = min(due, self._steps_due)
            if len(self._buffer) >= self.batch_size:
                due = 0.0
            elif self._buffer:
                due = min(due, self._buffered_since + self.flush_interval)
        return max(0.0, due - monotonic())

    def _effects_due(self) -> bool:
        with self._lock:
            return len(self._effects) >= self.batch_size

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

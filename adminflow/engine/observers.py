"""Ready-made observers: a console printer and a bridge to Python ``logging``.

A retry or a step past its time limit reaches them as the WARNING line the
run logs for it; their line for the finished step then says so again.
:func:`step_line` words a step's start and end once, for the console and
for a recorded run's log alike.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from .events import FlowObserver
from .limits import seconds_text
from .result import RunResult, RunStatus, StepResult, StepStatus

_RESET = "\033[0m"
_COLOURS = {
    "flow": "\033[1;36m",
    "step": "\033[1;34m",
    "ok": "\033[32m",
    "bad": "\033[31m",
    "muted": "\033[33m",
    "dim": "\033[2m",
}
_STATUS_COLOUR = {
    RunStatus.SUCCEEDED: "ok",
    StepStatus.SUCCEEDED: "ok",
    RunStatus.FAILED: "bad",
    StepStatus.FAILED: "bad",
    StepStatus.UPSTREAM_FAILED: "bad",
}


def step_notes(step: StepResult) -> str:
    """Return what a finished step's line adds: its retries and an overrun time limit.

    A failed step's error already says after how many attempts it failed.
    """
    notes = []
    if step.attempts > 1 and step.status is StepStatus.SUCCEEDED:
        notes.append(f"after {step.attempts} attempts")
    if step.overdue and step.time_limit is not None:
        notes.append(f"over its time limit of {seconds_text(step.time_limit)}")
    return f" ({'; '.join(notes)})" if notes else ""


Paint = Callable[[str, str], str]
"""Colour a part of a line: ``paint(text, tone)``, a tone being a key of ``_COLOURS``."""


def unpainted(text: str, tone: str) -> str:
    """Return ``text`` as it is: a line for a log, not for a terminal."""
    return text


# A step that was meant to run and did not is worth a warning; one excluded by its
# config, or that ended as it should, is not.
_STEP_LEVEL = {
    StepStatus.FAILED: logging.ERROR,
    StepStatus.UPSTREAM_FAILED: logging.WARNING,
    StepStatus.SKIPPED: logging.WARNING,
    StepStatus.CANCELLED: logging.WARNING,
}


class StepLine(NamedTuple):
    """A line saying where a step is: its level and its text."""

    level: int
    text: str


def step_line(step: StepResult, paint: Paint = unpainted) -> StepLine:
    """Return the line that says ``step`` started (while it runs) or how it ended.

    The one wording of a step's moves: the console prints it after
    ``[STEP]``, a recorded run keeps it in its log, so the two never say
    different things. A failure gives the error in one line; the traceback
    is kept elsewhere.
    """
    if step.status is StepStatus.RUNNING:
        debug = " in debug mode" if step.mode == "debug" else ""
        return StepLine(logging.INFO, f"{step.name} ({step.kind}){debug}: started")
    status = paint(str(step.status), _STATUS_COLOUR.get(step.status, "muted"))
    took = f" in {step.duration:.2f}s" if step.duration is not None else ""
    error = f": {one_line(step.error)}" if step.error else ""
    return StepLine(
        _STEP_LEVEL.get(step.status, logging.INFO),
        f"{step.name}: {status}{took}{step_notes(step)}{error}",
    )


def one_line(text: str) -> str:
    """Return ``text`` on one line: an error's message may span several."""
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())


class Stream(Protocol):
    """Where a ConsoleObserver prints: a text file, or a management command's stdout."""

    def write(self, text: str, /) -> object: ...
    def flush(self) -> object: ...
    def isatty(self) -> bool: ...


class ConsoleObserver(FlowObserver):
    """Print one line per event, courseflow style: ``[FLOW]``, ``[STEP]``, ``[step-name]``.

    ``min_level`` hides step log lines below it (``runflow`` maps verbosity
    to it). Colour is used on a terminal unless ``NO_COLOR`` is set.
    """

    def __init__(
        self,
        stream: Stream | None = None,
        *,
        min_level: int = logging.INFO,
        colour: bool | None = None,
    ) -> None:
        self.stream = stream
        self.min_level = min_level
        self.colour = colour
        self._lock = threading.Lock()

    def _out(self) -> Stream:
        return self.stream if self.stream is not None else sys.stdout

    def _paint(self, text: str, tone: str) -> str:
        colour = self.colour
        if colour is None:
            colour = self._out().isatty() and "NO_COLOR" not in os.environ
        return f"{_COLOURS[tone]}{text}{_RESET}" if colour else text

    def _write(self, line: str) -> None:
        with self._lock:
            stream = self._out()
            stream.write(line + "\n")
            stream.flush()

    def run_started(self, flow: str, steps: Sequence[StepResult]) -> None:
        counts = ", ".join(
            f"{sum(1 for s in steps if s.kind == kind)} {kind}"
            for kind in ("record", "update", "propagate")
        )
        self._write(f"{self._paint('[FLOW]', 'flow')} {flow}: started ({counts} steps)")
        # An excluded step is final from the start, and never reported again: its end is here.
        for step in steps:
            if step.status is StepStatus.EXCLUDED:
                self.step_finished(flow, step)

    def step_started(self, flow: str, step: StepResult) -> None:
        self._write_step(step)

    def step_finished(self, flow: str, step: StepResult) -> None:
        self._write_step(step)

    def _write_step(self, step: StepResult) -> None:
        self._write(f"{self._paint('[STEP]', 'step')} {step_line(step, self._paint).text}")

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        if level < self.min_level:
            return
        tag = self._paint(f"[{step or flow}]", "dim")
        if level >= logging.ERROR:
            message = self._paint(message, "bad")
        elif level >= logging.WARNING:
            message = self._paint(message, "muted")
        self._write(f"{tag} {message}")

    def run_finished(self, result: RunResult) -> None:
        status = self._paint(str(result.status), _STATUS_COLOUR.get(result.status, "muted"))
        stored = "stored" if result.stored else "not stored"
        line = (
            f"{self._paint('[FLOW]', 'flow')} {result.flow}: {status} in {result.duration:.2f}s "
            f"({result.records_in} records in, {result.records_out} out, {stored})"
        )
        if result.error:
            line += f": {result.error}"
        self._write(line)


class LoggingObserver(FlowObserver):
    """Send every event to the ``adminflow`` logger, with ``flow`` and ``step`` as extras."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("adminflow")

    def run_started(self, flow: str, steps: Sequence[StepResult]) -> None:
        self.logger.info("flow %s started", flow, extra={"flow": flow, "step": None})

    def step_started(self, flow: str, step: StepResult) -> None:
        self.logger.info("step %s started", step.name, extra={"flow": flow, "step": step.name})

    def step_finished(self, flow: str, step: StepResult) -> None:
        level = logging.ERROR if step.status is StepStatus.FAILED else logging.INFO
        self.logger.log(
            level,
            "step %s %s%s%s",
            step.name,
            step.status,
            step_notes(step),
            f": {step.error}" if step.error else "",
            extra={"flow": flow, "step": step.name},
        )

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        self.logger.log(level, "%s", message, extra={"flow": flow, "step": step})

    def run_finished(self, result: RunResult) -> None:
        level = logging.INFO if result.succeeded else logging.ERROR
        self.logger.log(
            level,
            "flow %s %s%s",
            result.flow,
            result.status,
            f": {result.error}" if result.error else "",
            extra={"flow": result.flow, "step": None},
        )

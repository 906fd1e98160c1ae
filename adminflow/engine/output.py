"""What ``AdminFlow.run()`` reports when given no observers: Python ``logging``, courseflow style.

courseflow's ``flow.run()`` prints its progress; adminflow's engine prints
nothing of its own, so a run without observers sends every event to the
``adminflow`` logger instead, at levels named for what they are: ``FLOW``
(a run starts or ends), ``STEP`` (a step starts or ends) and ``SUCCESS``
(a step or the run succeeded); failures are ``ERROR``. Step log lines keep
their own level. The lines read as ``runflow``'s console prints them.

Where the program has configured logging, those records go to its handlers
and nothing else happens. Where it has not (a flow script), the run prints
them itself, as courseflow did: its progress and any warning or error, and
with ``verbose()`` every line the steps log too; ``silent()`` prints nothing.
``logfile(path)`` appends every line, whatever is printed, to a file.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .observers import ConsoleObserver
from .result import RunResult, RunStatus, StepResult, StepStatus

STEP = 21
"""A step started, or ended other than by succeeding or failing."""
FLOW = 22
"""A run started, or ended other than by succeeding or failing."""
SUCCESS = 23
"""A step or a run succeeded."""

for _level, _name in ((STEP, "STEP"), (FLOW, "FLOW"), (SUCCESS, "SUCCESS")):
    logging.addLevelName(_level, _name)

LOGGER_NAME = "adminflow"


@dataclass(frozen=True)
class OutputSettings:
    """How a flow reports when run without observers; set by its silent/verbose/logfile."""

    silent: bool = False
    verbose: bool = False
    logfile: str | None = None

    @property
    def printed(self) -> int:
        """Return the lowest level printed: progress alone, or every line when verbose."""
        return logging.DEBUG if self.verbose else STEP


class FlowOutput(ConsoleObserver):
    """Report one run through the ``adminflow`` logger, printing it where logging is unset.

    The lines are the console's (``runflow`` prints the same); each goes out
    as a log record at the level its event has, with ``flow`` and ``step``
    as extras. Events come from several threads, so each call keeps its
    level and names in a thread-local while the console builds its line.
    """

    def __init__(self, settings: OutputSettings) -> None:
        # Every line reaches _write; the handlers and the logger's own level filter.
        super().__init__(min_level=logging.DEBUG, colour=False)
        self.logger = logging.getLogger(LOGGER_NAME)
        self.to_logging = self.logger.hasHandlers()
        self.handlers: list[logging.Handler] = []
        self._event = threading.local()
        if not (settings.silent or self.to_logging):
            self._add(logging.StreamHandler(sys.stdout), settings.printed, "%(message)s")
        if settings.logfile:
            handler = logging.FileHandler(settings.logfile, encoding="utf-8", delay=True)
            self._add(handler, logging.DEBUG, "%(asctime)s %(message)s")

    @property
    def listening(self) -> bool:
        """Return whether any line would reach anyone: a logging handler, the console, a file.

        A silent run of a program without logging has nobody to tell: it then
        needs no output at all, and pays nothing for lines nobody reads.
        """
        return self.to_logging or bool(self.handlers)

    def _add(self, handler: logging.Handler, level: int, layout: str) -> None:
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(layout))
        self.handlers.append(handler)

    def _as(self, level: int, flow: str, step: str | None) -> None:
        self._event.level, self._event.flow, self._event.step = level, flow, step

    def _write(self, line: str) -> None:
        event = self._event
        record = self.logger.makeRecord(
            self.logger.name,
            event.level,
            __file__,
            0,
            line,
            (),
            None,
            extra={"flow": event.flow, "step": event.step},
        )
        if self.to_logging and self.logger.isEnabledFor(event.level):
            self.logger.handle(record)
        for handler in self.handlers:
            if event.level >= handler.level:
                handler.handle(record)

    def run_started(self, flow: str, steps: Sequence[StepResult]) -> None:
        self._as(FLOW, flow, None)
        super().run_started(flow, steps)

    def step_started(self, flow: str, step: StepResult) -> None:
        self._as(STEP, flow, step.name)
        super().step_started(flow, step)

    def step_finished(self, flow: str, step: StepResult) -> None:
        levels = {StepStatus.SUCCEEDED: SUCCESS, StepStatus.FAILED: logging.ERROR}
        self._as(levels.get(step.status, STEP), flow, step.name)
        super().step_finished(flow, step)

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        self._as(level, flow, step)
        super().log(flow, step, level, message)

    def run_finished(self, result: RunResult) -> None:
        levels = {RunStatus.SUCCEEDED: SUCCESS, RunStatus.FAILED: logging.ERROR}
        self._as(levels.get(result.status, FLOW), result.flow, None)
        super().run_finished(result)
        for handler in self.handlers:
            handler.close()

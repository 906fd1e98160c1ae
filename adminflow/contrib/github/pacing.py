"""Pacing of one run's GitHub requests: writes one at a time, spaced; everything held off
while GitHub has asked to wait.

GitHub's REST API guidance ("Best practices for using the REST API") asks
integrators to make requests that create content serially, not concurrently,
and to wait at least one second between them; after a rate-limit answer, to
send nothing until the time its headers name. A run's steps share one
:class:`Pacer`, whatever ``num_threads`` is, so its writes queue on one lock
and its reads, which GitHub lets run in parallel, only respect a pause.

PyGithub has its own spacing (``seconds_between_writes``), but it keeps no
lock: two threads that read the same "last write" time sleep the same
amount and then write together. The client is built with it switched off and
this class does the job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Pacer:
    """Serialise and space writes, and hold every request back during a pause."""

    def __init__(self, write_spacing: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.write_spacing = write_spacing
        self._clock = clock
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._last_write_end = float("-inf")
        self._paused_until = float("-inf")

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (never shortening a pause)."""
        with self._state_lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _wait_for_pause(self) -> None:
        while True:
            with self._state_lock:
                remaining = self._paused_until - self._clock()
            if remaining <= 0:
                return
            time.sleep(remaining)

    @contextmanager
    def read(self) -> Iterator[None]:
        """Let a read go once any pause is over; reads run side by side."""
        self._wait_for_pause()
        yield

    @contextmanager
    def write(self) -> Iterator[None]:
        """Let one write go at a time, ``write_spacing`` seconds after the last one ended."""
        with self._write_lock:
            self._wait_for_pause()
            # Spaced from the end of the last write, as GitHub's guidance counts it.
            gap = self._last_write_end + self.write_spacing - self._clock()
            if gap > 0:
                time.sleep(gap)
            try:
                yield
            finally:
                self._last_write_end = self._clock()

"""Pacing of one run's Canvas requests by its cost bucket.

Canvas throttles each token with a leaky bucket: every request costs
(``X-Request-Cost``), the quota left comes back on each answer
(``X-Rate-Limit-Remaining``), and a request in flight is charged a
pre-flight penalty until it ends. Canvas's "Throttling" page says a client
making one request at a time is unlikely to be throttled; parallel requests
are what empty the bucket. So a run's writes go one at a time, always; its
reads go side by side while the bucket is comfortable, and one at a time once
the quota left falls below ``low_water`` or Canvas has throttled the run.
Waiting after a throttle is the retry policy's backoff, not this class's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests

LOW_WATER = 200.0
"""Quota left below which requests go one at a time (Canvas's default bucket holds 700)."""


class Pacer:
    """Serialise writes always, and reads while the cost bucket runs low."""

    def __init__(self, low_water: float = LOW_WATER) -> None:
        self.low_water = low_water
        self.remaining: float | None = None
        """The quota Canvas said was left on its latest answer; None before any."""
        self._one_at_a_time = threading.Lock()
        self._serial = False

    def observe(self, response: requests.Response) -> None:
        """Read the quota left from an answer's ``X-Rate-Limit-Remaining`` header."""
        value = response.headers.get("X-Rate-Limit-Remaining")
        try:
            remaining = float(value) if value is not None else None
        except ValueError:
            return
        if remaining is not None:
            self.remaining = remaining
            if remaining < self.low_water:
                self._serial = True

    def throttled(self) -> None:
        """Canvas refused a request for the bucket: from now on, one request at a time."""
        self._serial = True

    @property
    def serial(self) -> bool:
        return self._serial

    @contextmanager
    def read(self) -> Iterator[None]:
        if not self._serial:
            yield
            return
        with self._one_at_a_time:
            yield

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._one_at_a_time:
            yield

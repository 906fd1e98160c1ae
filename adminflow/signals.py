"""Signals a host site can connect to, to react to runs without subclassing anything.

Every signal is sent with ``sender=FlowRun``. Receivers run in the thread
that sends: ``flow_run_started``, ``flow_run_finished`` and
``run_notification`` in the one executing the run (or cancelling or reaping
it), ``step_run_finished`` in the thread recording the run, once the step's
row is saved.
A receiver that raises is logged and ignored: reporting never breaks a run.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger("adminflow.runs")

flow_run_started = Signal()
"""A run moved to ``running``; kwargs: ``run`` (the FlowRun)."""

flow_run_finished = Signal()
"""A run reached a finished status (succeeded, failed or cancelled); kwargs: ``run``."""

step_run_finished = Signal()
"""A step reached a finished status, whether or not it started; kwargs: ``run``, ``step``.

Excluded steps are recorded as such before the run starts and send none.
"""

run_notification = Signal()
"""A run's notice is due: it failed, or it succeeded and its flow reports successes.

Sent whether or not the flow lists email recipients, after the email (if
any) was tried, so a site can post the notice elsewhere (a chat channel, a
pager). Kwargs: ``run``; ``event`` (``"failed"`` or ``"succeeded"``);
``subject`` (one line); ``message`` (the email's text body); ``link`` (the
run's admin page, absolute if ``ADMINFLOW["SITE_URL"]`` is set, else a path;
None if the admin has no page for runs); ``recipients`` (the flow's email
addresses, perhaps none). Not sent for cancelled runs.
"""


def send_robust(signal: Signal, run: Any, **kwargs: Any) -> None:
    """Send ``signal`` for ``run`` (a FlowRun); log, never raise, what a receiver raises."""
    for receiver, response in signal.send_robust(sender=type(run), run=run, **kwargs):
        if isinstance(response, Exception):
            logger.error(
                "receiver %r of an adminflow signal failed for run %s",
                receiver,
                run.pk,
                exc_info=response,
            )

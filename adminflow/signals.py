"""Signals a host site can connect to, to react to runs without subclassing anything.

Every signal is sent with ``sender=FlowRun``. Receivers run in the thread
that sends: ``flow_run_started`` and ``flow_run_finished`` in the one
executing the run (or cancelling or reaping it), ``step_run_finished`` in the
engine's worker thread that ran the step. A receiver that raises is logged
and ignored: reporting never breaks a run.
"""

from __future__ import annotations

from django.dispatch import Signal

flow_run_started = Signal()
"""A run moved to ``running``; kwargs: ``run`` (the FlowRun)."""

flow_run_finished = Signal()
"""A run reached a finished status (succeeded, failed or cancelled); kwargs: ``run``."""

step_run_finished = Signal()
"""A step reached a finished status, whether or not it started; kwargs: ``run``, ``step``.

Excluded steps are recorded as such before the run starts and send none.
"""

"""Servers some tests need (Redis, RabbitMQ): whether they answer, and the skip if not.

A test that needs a server skips with the reason ``needs <server> at
<host>:<port>``. Where every server must be there (CI, which starts them),
``ADMINFLOW_REQUIRE_SERVERS=1`` turns such a skip into a failure
(``tests/conftest.py``), so a missing server cannot pass for a green run.
"""

from __future__ import annotations

import os
import re
import socket

import pytest

REQUIRE_SERVERS = "ADMINFLOW_REQUIRE_SERVERS"
"""The environment variable that makes a missing server fail its tests."""

_UNREACHABLE = re.compile(r"^(?:Skipped: )?needs .+ at \S+:\d+ ")

CONNECT_SECONDS = 1.0


def reachable(host: str, port: int) -> bool:
    """Return whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_SECONDS):
            return True
    except OSError:
        return False


def need_server(name: str, host: str, port: int) -> None:
    """Skip the calling test unless ``name`` answers at ``host:port``."""
    if not reachable(host, port):
        pytest.skip(f"needs {name} at {host}:{port} (nothing answers there)")


def servers_required() -> bool:
    """Return whether a test may not skip for want of a server (CI sets this)."""
    return os.environ.get(REQUIRE_SERVERS, "") not in ("", "0")


def fail_missing_server(report: pytest.TestReport) -> None:
    """Turn ``report`` of a test skipped by :func:`need_server` into a failure, if servers
    are required; leave any other report alone."""
    if not (report.skipped and servers_required() and isinstance(report.longrepr, tuple)):
        return
    reason = report.longrepr[2]
    if _UNREACHABLE.search(reason):
        report.outcome = "failed"
        report.longrepr = f"{reason}; {REQUIRE_SERVERS} is set, so this fails: start the server"

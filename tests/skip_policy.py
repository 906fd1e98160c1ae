"""A pytest plugin for CI: a test may skip only for a reason on a short allowed list.

Loaded by the root conftest.py; switched on with ``--allowed-skips-only`` or, as
.ci/run does, ``ADMINFLOW_ALLOWED_SKIPS_ONLY=1`` (so CI runs the README's test
command as it is).
A skip for any other reason (a missing browser, a server that does not
answer, an import that failed) fails the session after the summary, listing
each one, so that a green run cannot hide tests that never ran. The allowed
reasons are those a CI leg cannot avoid by design: the PostgreSQL-only tests
on SQLite, Celery on the Django 5.2 leg, and the Tasks backport's check on
Django 6.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import pytest

ENVIRONMENT = "ADMINFLOW_ALLOWED_SKIPS_ONLY"

ALLOWED = [
    # tests/faults and tests/queues/test_load.py, on the SQLite legs.
    re.compile(r"needs PostgreSQL: set DATABASE_URL"),
    # django-tasks-celery builds on django.tasks (tests/queues, the docs' Celery example).
    re.compile(r"needs Django 6 on Python 3\.12\+"),
    # tests/test_compat.py: the backport is checked on Django 5.2 only.
    re.compile(r"Django 6 has the Tasks framework built in"),
]


def unexpected(reasons: Iterable[str]) -> list[str]:
    """Return the skip reasons that match no allowed pattern, in order, without repeats."""
    seen: dict[str, None] = {}
    for reason in reasons:
        if not any(pattern.search(reason) for pattern in ALLOWED):
            seen.setdefault(reason)
    return list(seen)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--allowed-skips-only",
        action="store_true",
        help="Fail the session if a test skips for a reason not in tests.skip_policy.ALLOWED.",
    )


class SkipPolicy:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and isinstance(report.longrepr, tuple):
            self.reasons.append(f"{report.nodeid}: {report.longrepr[2]}")

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        bad = unexpected(self.reasons)
        if bad:
            terminalreporter.section("skips not on the allowed list", red=True)
            for line in bad:
                terminalreporter.line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if unexpected(self.reasons) and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--allowed-skips-only") or os.environ.get(ENVIRONMENT) == "1":
        config.pluginmanager.register(SkipPolicy(), "adminflow-skip-policy")

"""Tests that need a server skip without it, saying which, and fail instead where required."""

from __future__ import annotations

import socket

import pytest

from tests.servers import REQUIRE_SERVERS, fail_missing_server, need_server


@pytest.fixture
def closed_port() -> int:
    """Return a local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def skipped(reason: str) -> pytest.TestReport:
    """Return the report of a test skipped with ``reason``, as pytest makes it."""
    return pytest.TestReport(
        nodeid="tests/test_x.py::test_x",
        location=("tests/test_x.py", 1, "test_x"),
        keywords={},
        outcome="skipped",
        longrepr=("tests/test_x.py", 2, f"Skipped: {reason}"),
        when="setup",
    )


def skip_reason(name: str, port: int) -> str:
    with pytest.raises(pytest.skip.Exception) as skip:
        need_server(name, "127.0.0.1", port)
    return skip.value.msg


def test_a_test_skips_saying_which_server_does_not_answer_where(closed_port):
    reason = skip_reason("Redis", closed_port)

    assert reason == f"needs Redis at 127.0.0.1:{closed_port} (nothing answers there)"


def test_a_test_whose_server_answers_goes_on():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        need_server("Redis", "127.0.0.1", server.getsockname()[1])


def test_where_servers_are_required_a_missing_server_fails_the_test(monkeypatch, closed_port):
    monkeypatch.setenv(REQUIRE_SERVERS, "1")
    report = skipped(skip_reason("RabbitMQ", closed_port))

    fail_missing_server(report)

    assert report.failed
    assert f"needs RabbitMQ at 127.0.0.1:{closed_port}" in str(report.longrepr)
    assert REQUIRE_SERVERS in str(report.longrepr)


@pytest.mark.parametrize("required", ["", "0"])
def test_elsewhere_a_missing_server_only_skips(monkeypatch, closed_port, required):
    monkeypatch.setenv(REQUIRE_SERVERS, required)
    report = skipped(skip_reason("RabbitMQ", closed_port))

    fail_missing_server(report)

    assert report.skipped


def test_other_skips_stay_skips_where_servers_are_required(monkeypatch):
    monkeypatch.setenv(REQUIRE_SERVERS, "1")
    report = skipped("the load test needs PostgreSQL: set DATABASE_URL")

    fail_missing_server(report)

    assert report.skipped

"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from adminflow import AdminFlow
from adminflow.compat import task_backends
from tests.engine.helpers import Trace
from tests.fake_canvas import COURSE_ID, FakeCanvas
from tests.fake_canvas import TOKEN as CANVAS_TOKEN
from tests.fake_github import ORG, TEMPLATE, TOKEN, FakeGitHub
from tests.run_helpers import DUMMY_BACKEND, registered_flows
from tests.servers import fail_missing_server


@pytest.fixture
def trace() -> Trace:
    """A thread-safe list of what ran, in order."""
    return Trace()


@pytest.fixture
def register() -> Iterator[Callable[[AdminFlow], AdminFlow]]:
    """Register flows on the site's registry for one test, and take them away after."""
    with registered_flows() as register:
        yield register


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A fake GitHub on 127.0.0.1 serving organization ORG to TOKEN, with repository TEMPLATE."""
    fake = FakeGitHub(ORG, TOKEN).start()
    fake.add_repo(TEMPLATE, template=True)
    yield fake
    fake.stop()


@pytest.fixture
def fake_canvas() -> Iterator[FakeCanvas]:
    """A fake Canvas on 127.0.0.1 serving course COURSE_ID to its TOKEN."""
    fake = FakeCanvas(COURSE_ID, CANVAS_TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def sent(settings) -> list:
    """Swap in the dummy Tasks backend; return the list of task results sent to it."""
    settings.TASKS = {"default": {"BACKEND": DUMMY_BACKEND}}
    return task_backends["default"].results


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    """Fail, rather than skip, a test whose server is missing where servers are required."""
    report = yield
    fail_missing_server(report)
    return report

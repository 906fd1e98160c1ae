"""The docs' example files (``docs/examples/``), imported and run.

The tutorial's files are run by ``test_tutorial``; the others here: each is
what a page includes with ``literalinclude``, so a change that breaks an
example fails here.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import django
import pytest

from adminflow import AdminFlow, RunStatus
from adminflow.signals import run_notification, send_robust
from tests.engine.helpers import make_storer
from tests.queues.backends import CELERY_SUPPORTED, CELERY_UNSUPPORTED

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def load(relative: str) -> ModuleType:
    """Import an example file as a module of its own."""
    path = EXAMPLES / relative
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings_fragment(relative: str, **names: Any) -> dict[str, Any]:
    """Run a settings example after ``names`` (what the settings module already has)."""
    namespace: dict[str, Any] = {"django": django, **names}
    exec(compile((EXAMPLES / relative).read_text(), relative, "exec"), namespace)
    return namespace


@dataclass
class Student:
    github: str
    invited: bool = False


def test_retried_invites_skip_what_an_earlier_attempt_did(monkeypatch) -> None:
    retries = load("retries.py")
    sent: list[str] = []

    def invite(username: str) -> None:
        sent.append(username)
        if len(sent) in (2, 3):  # the second invite fails twice, then goes through
            raise ConnectionError("reset")

    monkeypatch.setattr(retries, "invite", invite)
    flow = AdminFlow("invites", "Invite", make_storer([Student("ada"), Student("bob")]), "roster")
    flow.add_propagate_step("invite", retries.InviteToOrg)
    flow.config({"num_threads": 1, "invite-retry": {"backoff": 0.0, "jitter": False}})
    flow.silent()
    result = flow.run()
    assert result.status == RunStatus.SUCCEEDED
    assert result.steps["invite"].attempts == 3
    assert sent == ["ada", "bob", "bob", "bob"]  # ada once: her record said invited


def test_retries_stop_on_an_error_not_worth_retrying(monkeypatch) -> None:
    retries = load("retries.py")
    flow = AdminFlow("invites", "Invite", make_storer([Student("ada")]), "roster")
    flow.add_propagate_step("invite", retries.InviteToOrg)
    flow.config({})
    flow.silent()
    result = flow.run()  # the example's invite() is a stub that raises
    assert result.status == RunStatus.FAILED
    assert result.steps["invite"].attempts == 1
    assert "NotImplementedError: call your GitHub client here" in result.steps["invite"].error


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any]]]:
    """Serve a chat webhook on 127.0.0.1; yield its URL and the JSON bodies it received."""
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_notice_receiver_posts_the_failed_run_to_the_webhook(settings, webhook) -> None:
    url, received = webhook
    settings.SLACK_WEBHOOK_URL = url
    load("notices.py")
    run = SimpleNamespace(pk=7, error="step 'invite' failed")
    try:
        send_robust(
            run_notification,
            run,
            event="failed",
            subject="Run 7 of flow 'invites' failed",
            message="...",
            link="https://course.example.edu/admin/adminflow/flowrun/7/change/",
            recipients=[],
        )
    finally:
        assert run_notification.disconnect(dispatch_uid="yourapp.slack")
    assert received == [
        {
            "text": "Run 7 of flow 'invites' failed\nstep 'invite' failed\n"
            "https://course.example.edu/admin/adminflow/flowrun/7/change/"
        }
    ]


def test_rq_settings_send_runs_to_rq() -> None:
    fragment = settings_fragment("queues/rq_settings.py", INSTALLED_APPS=["django.contrib.admin"])
    assert fragment["INSTALLED_APPS"][:4] == [
        "django.contrib.admin",
        "adminflow",
        "django_rq",
        "django_tasks_rq",
    ]
    assert ("django_tasks" in fragment["INSTALLED_APPS"]) == (django.VERSION < (6, 0))
    assert fragment["TASKS"]["default"]["BACKEND"] == "django_tasks_rq.RQBackend"
    assert fragment["RQ_QUEUES"]["default"]["DEFAULT_TIMEOUT"] == 3600


def test_celery_settings_and_app() -> None:
    if not CELERY_SUPPORTED:
        pytest.skip(CELERY_UNSUPPORTED)
    fragment = settings_fragment("queues/celery_settings.py")
    assert fragment["TASKS"]["default"]["BACKEND"] == "django_tasks_celery.CeleryBackend"
    app = load("queues/celery_app.py").app
    assert app.main == "mysite"
    assert app.conf.worker_prefetch_multiplier == 1

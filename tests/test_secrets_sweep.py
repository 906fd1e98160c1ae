"""A secret config value appears nowhere: not in any stored row, page, or command output.

One flow's steps log the secret, put it in metadata and raise with it. The
flow runs every way it can (``runflow`` with the stored config and with a
config file, the admin's run action on the immediate and the database
backends with a real ``db_worker``, re-run and resume), its config is
checked, described and saved in the admin; then every column of every row
of every table, and every admin page of the flow, is searched for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from adminflow.engine.config import MASK
from adminflow.models import Flow, FlowRun, Record, RecordChange, RunLog
from adminflow.states import FlowRunStatus
from tests.admin.crawl import admin_pages, stored_values
from tests.admin.flow_helpers import messages_of
from tests.leaky_flow import CONFIG, SECRET, SPEC, registered
from tests.run_helpers import database_url, runflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parent.parent

STORED_ON_PURPOSE = {("adminflow_flow", "config")}
"""Where the secret is kept so that a worker can use it: the flow's stored config."""


def post_flow_action(client: Client, action: str, flow: Flow) -> list[str]:
    data = {"action": action, "_selected_action": [flow.pk], "index": "0"}
    return messages_of(client.post(reverse("admin:adminflow_flow_changelist"), data))


def post_run_action(client: Client, action: str, run: FlowRun) -> list[str]:
    data = {"action": action, "_selected_action": [run.pk], "index": "0"}
    return messages_of(client.post(reverse("admin:adminflow_flowrun_changelist"), data))


def last_run() -> FlowRun:
    return FlowRun.objects.order_by("-pk").first()


WORKER = """
import django
django.setup()
from django.core.management import call_command
from tests.leaky_flow import registered
with registered():
    call_command("db_worker", "--backend", "database", "--batch", "--no-startup-delay")
"""
"""A ``db_worker`` that knows the leaky types, as a site's would know its own."""


def db_worker() -> str:
    """Run a real worker over the database queue until it is empty; return all it printed."""
    worker = subprocess.run(
        [sys.executable, "-c", WORKER],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    return worker.stdout + worker.stderr


@pytest.fixture(autouse=True)
def leaky_types() -> Iterator[None]:
    with registered():
        yield


def test_a_secret_config_value_is_in_no_row_page_or_output(
    admin_client: Client, settings, tmp_path, caplog
) -> None:
    flow = Flow.objects.create(name="leaky", spec=SPEC, config=CONFIG)
    said: list[str] = []

    # The command: check, describe, run with the stored config and with a file.
    for args in (["--validate"], ["--describe"], []):
        out, err, code = runflow("leaky", *args)
        said += [out, err]
        assert code == (1 if not args else 0), err
    config_file = tmp_path / "leaky.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    for args in (["--validate"], []):
        out, err, _code = runflow("leaky", "--config", str(config_file), *args)
        said += [out, err]

    # The admin: run, re-run, resume (immediate backend); then run on a real worker.
    said += post_flow_action(admin_client, "run_selected_flows", flow)
    said += post_run_action(admin_client, "rerun_runs", last_run())
    said += post_run_action(admin_client, "resume_runs", last_run())
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}
    said += post_flow_action(admin_client, "debug_run_selected_flows", flow)
    assert last_run().status == FlowRunStatus.QUEUED
    said.append(db_worker())
    # Saving the config form with the mask as it is keeps the secret (and logs the change).
    page = admin_client.get(reverse("admin:adminflow_flow_change", args=[flow.pk]))
    form = page.context["adminform"].form
    saved = admin_client.post(
        reverse("admin:adminflow_flow_change", args=[flow.pk]),
        {
            "name": "leaky",
            "description": "changed",
            "enabled": "on",
            "config": form["config"].value(),
            "spec": form["spec"].value(),
        },
    )
    assert saved.status_code == 302
    flow.refresh_from_db()
    assert flow.config == CONFIG

    # The flow ran, and did try to leak: the sweep below has something to find.
    assert FlowRun.objects.filter(flow=flow).count() == 6
    assert not FlowRun.objects.exclude(status=FlowRunStatus.FAILED).exists()
    # Each run but the resumed one (which only ran the propagate step) called the API.
    assert RunLog.objects.filter(message=f"calling the API with {MASK}").count() == 5
    assert Record.objects.exists()
    assert RecordChange.objects.exists()

    leaks = [
        f"{table}.{column}"
        for table, column, value in stored_values()
        if SECRET in value and (table, column) not in STORED_ON_PURPOSE
    ]
    assert leaks == []
    pages = admin_pages(flow)
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.content.decode(), url
    assert len(pages) > 40
    assert [text for text in said if SECRET in text] == []
    assert SECRET not in caplog.text
    # The runs were recorded with the mask where the secret was.
    run_page = admin_client.get(reverse("admin:adminflow_flowrun_change", args=[last_run().pk]))
    assert f"token: &#x27;{MASK}&#x27;" in run_page.content.decode()

"""What the flow admin tests share: URLs, posting an action, reading messages, a secret step."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from adminflow import AdminFlow, AdminPropagateStep, AdminRecordStep, ExistingFile, Secret
from adminflow.models import Flow
from tests.testapp.steps import AddNumbers, Double, Increment, Number, Numbers

SECRET = "s3cr3t-token-value"


def changelist_url(site: str = "admin") -> str:
    return reverse(f"{site}:adminflow_flow_changelist")


def change_url(row: Flow, site: str = "admin") -> str:
    return reverse(f"{site}:adminflow_flow_change", args=[row.pk])


def add_url() -> str:
    return reverse("admin:adminflow_flow_add")


def post_action(
    client: Client, action: str, rows: list[Flow], site: str = "admin", **extra: Any
) -> HttpResponse:
    """POST the changelist's action form, as the admin's "Go" button does."""
    data = {"action": action, "_selected_action": [row.pk for row in rows], "index": "0"}
    return client.post(changelist_url(site), {**data, **extra})


def messages_of(response: HttpResponse) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


class Notify(AdminPropagateStep):
    """A propagate step with an API token: the secret the admin must never show."""

    description = "Notify the channel (a stand-in that needs a token)."
    config_types = [
        ("token", Secret, "API token"),
        ("channel", str, "where to post", "general"),
    ]

    def propagate_records(self, records, logger, get_metadata, debug=False):
        logger(f"would notify {self.configs.channel}")


def secret_flow(name: str = "with-secret") -> AdminFlow:
    """Return a flow whose ``notify`` step takes a Secret, and a required list on ``add``."""
    flow = AdminFlow(name, "A flow with a secret.", Numbers, "numbers")
    flow.add_record_step("add", AddNumbers)
    flow.add_update_step("double", Double)
    flow.add_propagate_step("notify", Notify)
    return flow


SECRET_CONFIG = {
    "numbers": {"collection": "secret-numbers"},
    "add": {"numbers": [1, 2]},
    "notify": {"token": SECRET, "channel": "staff"},
}

SPEC = {
    "description": "Numbers, defined as data.",
    "storer": {"type": "Numbers", "name": "numbers", "config": {"collection": "data"}},
    "steps": [
        {"name": "add", "type": "AddNumbers", "config": {"numbers": [4]}},
        {"name": "double", "type": "Double"},
        {"name": "again", "type": "Double", "depends_on": ["double"]},
        {
            "name": "notify",
            "type": "tests.admin.flow_helpers.Notify",
            "config": {"token": SECRET},
        },
    ],
}


class ReadNumbers(AdminRecordStep):
    """A record step that reads its numbers from a file, one a line: the roster export's shape."""

    description = "Add the numbers listed in a file."
    config_types = [("path", ExistingFile, "the file of numbers, one a line")]

    def new_records(self, curr_records, logger, set_metadata, debug=False):
        with open(self.configs.path) as numbers:
            values = [int(line) for line in numbers if line.strip()]
        logger(f"{os.path.basename(self.configs.path)}: {len(values)} numbers read")
        return [*curr_records, *(Number(value) for value in values)]


def file_flow(name: str = "from-file") -> AdminFlow:
    """Return a flow whose record step reads a file, with a secret and a typed update step."""
    flow = AdminFlow(name, "Numbers read from a file.", Numbers, "numbers")
    flow.add_record_step("read", ReadNumbers)
    flow.add_update_step("increment", Increment)
    flow.add_propagate_step("notify", Notify)
    return flow

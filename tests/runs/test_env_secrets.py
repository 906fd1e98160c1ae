"""A secret read from the environment (django-environ) as a Secret key's default.

The secrets how-to's recipe (docs/howto/secrets.md): the step declares ``("token", Secret, ..., env.str(...))``
and the stored config leaves ``token`` out. Then the secret is never in the
database, every run (from the command, the admin, a worker, a re-run) uses
it, and the config template works as printed.
"""

from __future__ import annotations

from typing import Any

import environ
import pytest
from django.test import Client
from django.urls import reverse

from adminflow import AdminFlow, AdminPropagateStep, FlowConfigError, Secret
from adminflow.engine.documents import load_yaml
from adminflow.models import FlowRun
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus
from tests.admin.crawl import stored_values
from tests.engine.helpers import Trace, make_storer
from tests.run_helpers import runflow

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "ghp-from-the-environment-7q"


def repos_step(trace: Trace) -> type[AdminPropagateStep]:
    """Return the how-to's step class, read while GITHUB_TOKEN is set (as at start-up)."""
    env = environ.Env()

    class CreateRepos(AdminPropagateStep):
        description = "Create each group's repository."
        config_types = [
            ("org", str, "the GitHub organisation"),
            ("token", Secret, "a GitHub token (default: $GITHUB_TOKEN)", env.str("GITHUB_TOKEN")),
        ]

        def validate(self) -> None:
            if not self.configs.token.reveal():
                raise ValueError("no GitHub token: set GITHUB_TOKEN")

        def propagate_records(
            self, records: Any, logger: Any, get_metadata: Any, debug: bool = False
        ) -> None:
            trace.add(self.configs.token.reveal())
            logger(f"creating repos in {self.configs.org} with {self.configs.token.reveal()}")

    return CreateRepos


@pytest.fixture
def repos(register, trace, monkeypatch) -> AdminFlow:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    flow = AdminFlow(
        "repos",
        "creates repositories",
        make_storer([1]),
        "groups",
        default_config={"create-repos": {"org": "cs101-fall"}},
    )
    flow.add_propagate_step("create-repos", repos_step(trace))
    return register(flow)


def test_every_run_uses_the_secret_from_the_environment_and_none_stores_it(
    repos, trace, admin_client: Client
) -> None:
    row = get_flow_row("repos")
    assert row.config == {"create-repos": {"org": "cs101-fall"}}

    out, err, code = runflow("repos")
    assert code == 0, err
    changelist = reverse("admin:adminflow_flow_changelist")
    admin_client.post(
        changelist, {"action": "run_selected_flows", "_selected_action": [row.pk], "index": "0"}
    )
    admin_client.post(
        reverse("admin:adminflow_flowrun_changelist"),
        {"action": "rerun_runs", "_selected_action": [FlowRun.objects.last().pk], "index": "0"},
    )

    assert trace.events == [TOKEN] * 3
    assert list(FlowRun.objects.values_list("status", flat=True)) == [FlowRunStatus.SUCCEEDED] * 3
    assert [(table, column) for table, column, value in stored_values() if TOKEN in value] == []
    assert TOKEN not in out


def test_the_config_template_leaves_the_secret_out_and_works_once_filled_in(repos) -> None:
    template = repos.emit_config()

    assert TOKEN not in template
    assert "  # token: null  # left out: its default" in template
    filled = load_yaml(template.replace("org: '<fill in: str>'", "org: cs101-fall"))
    assert repos.with_config(filled).snapshot["create-repos"]["token"] == "********"


def test_without_the_variable_the_flow_says_what_to_set(register, trace, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "")
    flow = AdminFlow("repos", "creates repositories", make_storer([1]), "groups")
    flow.add_propagate_step("create-repos", repos_step(trace))

    with pytest.raises(FlowConfigError, match="no GitHub token: set GITHUB_TOKEN"):
        flow.with_config({"create-repos": {"org": "cs101-fall"}})

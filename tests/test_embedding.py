"""adminflow dropped into a site that is not courseadmin, installed from its wheel.

``tests/embedding_site`` is a small shop's back office written the way an
existing Django site is: its own settings module, its own user model
(``shop.Customer``), its own record model (``shop.Member``), a ``steps.py`` and
a ``flows.py``, and its own ``AdminSite`` named "backoffice" on which the site
registers adminflow's admins. The tests build adminflow's wheel, install it
into a folder of its own, copy the site to a temporary directory and drive it
through ``manage.py`` in subprocesses whose import path is that site and that
folder only: adminflow cannot lean on courseadmin, the test suite's settings
or anything else in this repository. The how-to guide's snippets
(``docs/howto/embedding.md``) are these files' lines, and a test keeps them so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SITE = Path(__file__).resolve().parent / "embedding_site"
HOWTO = REPO / "docs" / "howto" / "embedding.md"
SUBPROCESS_TIMEOUT = 90

# What a source checkout holds that is not part of the distribution's sources.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv*", "__pycache__", "*.egg-info", "build", "dist", ".ruff_cache", "*.sqlite3"
)

MEMBERS = [("Ada", " Ada@Example.COM"), ("Bob", "bob@example.com"), ("Cy", "CY@example.com ")]

SEED_MEMBERS = f"""
import django
django.setup()
from shop.models import Member
Member.objects.bulk_create(Member(name=name, email=email) for name, email in {MEMBERS!r})
"""

WHERE_IS_ADMINFLOW = """
import importlib.util, json, sys
import adminflow
print(json.dumps({
    "adminflow": adminflow.__file__,
    "courseadmin": importlib.util.find_spec("courseadmin") is not None,
    "path": sys.path,
}))
"""

RUN_ROWS = """
import django, json, sys
django.setup()
from adminflow.models import FlowRun
from shop.models import Member
run = FlowRun.objects.select_related("flow", "triggered_by").get(pk=int(sys.argv[1]))
print(json.dumps({
    "members": list(Member.objects.order_by("pk").values_list("name", "email")),
    "run": {
        "flow": run.flow.name, "status": run.status, "trigger": run.trigger,
        "triggered_by": run.triggered_by and [
            run.triggered_by._meta.label, run.triggered_by.get_username()
        ],
        "loaded": run.records_loaded, "stored": run.records_stored,
        "changed": run.records_changed, "metadata": run.metadata,
    },
    "steps": list(run.steps.values_list("name", "kind", "mode", "status")),
    "logs": list(run.logs.values_list("step", "message")),
    "changes": list(
        run.record_changes.order_by("key").values_list(
            "collection", "key", "action", "before", "after"
        )
    ),
}))
"""

# Signs in to the back office as a superuser of the shop's own user model, reads the
# flow and run pages, then runs the flow with the flow list's action.
BACKOFFICE = """
import django, json, sys
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
from django.urls import reverse
from adminflow.models import FlowRun

setup_test_environment()
get_user_model().objects.create_superuser("owner", "owner@shop.example", "owner-pass-1")
client = Client()
assert client.login(username="owner", password="owner-pass-1")
run = FlowRun.objects.get(pk=int(sys.argv[1]))
pages = {
    "flows": reverse("backoffice:adminflow_flow_changelist"),
    "flow": reverse("backoffice:adminflow_flow_change", args=[run.flow_id]),
    "runs": reverse("backoffice:adminflow_flowrun_changelist"),
    "run": reverse("backoffice:adminflow_flowrun_change", args=[run.pk]),
    "changes": reverse("backoffice:adminflow_recordchange_changelist") + "?collection=shop.Member",
}
seen = {}
for name, url in pages.items():
    response = client.get(url)
    seen[name] = {"url": url, "status": response.status_code, "body": response.content.decode()}
response = client.post(
    pages["flows"],
    {"action": "run_selected_flows", "_selected_action": [run.flow_id]},
    follow=True,
)
seen["action"] = {
    "redirects": response.redirect_chain,
    "status": response.status_code,
    "messages": [str(message) for message in response.context["messages"]],
    "queued": list(FlowRun.objects.exclude(pk=run.pk).values_list("pk", "status")),
}
print(json.dumps(seen))
"""


@dataclass(frozen=True)
class Install:
    """adminflow's wheel, the sources it was built from, and the folder it was installed into."""

    wheel: Path
    sources: Path
    packages: Path


@dataclass(frozen=True)
class Site:
    """The shop's project directory, importing adminflow from an installed wheel."""

    project: Path
    packages: Path

    def python(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the interpreter in the project directory, importing from the site and adminflow only.

        Deprecation warnings are errors there too, as in the test suite.
        """
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.project), str(self.packages)]),
            "DJANGO_SETTINGS_MODULE": "backoffice.settings",  # not pytest-django's
        }
        warnings = ["-W", "error::DeprecationWarning", "-W", "error::PendingDeprecationWarning"]
        return subprocess.run(
            [sys.executable, *warnings, *args],
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
        )

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.python("manage.py", *args)

    def script(self, source: str, *args: str) -> Any:
        """Run ``source`` with the site's settings and ``args``; return the JSON it prints."""
        done = self.python("-c", source, *args)
        assert succeeded(done)
        return json.loads(done.stdout)


def succeeded(done: subprocess.CompletedProcess[str]) -> bool:
    """Return whether a subprocess exited 0; pytest shows its output when it did not."""
    if done.returncode != 0:
        print(f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
    return done.returncode == 0


def pip(*args: str) -> None:
    """Run pip of this interpreter; fail the test, showing pip's output, if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--quiet"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT * 2,
    )
    assert succeeded(done)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """Build adminflow's wheel from a copy of this checkout, as a release would; install it."""
    root = tmp_path_factory.mktemp("adminflow")
    # A copy, so that building leaves no build/ or egg-info behind in the checkout.
    shutil.copytree(REPO, root / "source", ignore=NOT_SOURCES)
    pip("wheel", str(root / "source"), "--no-deps", "--wheel-dir", str(root / "dist"))
    [wheel] = (root / "dist").glob("adminflow-*.whl")
    pip("install", "--no-deps", "--target", str(root / "site-packages"), str(wheel))
    return Install(wheel, root / "source" / "adminflow", root / "site-packages")


def new_site(tmp_path_factory: pytest.TempPathFactory, installed: Install) -> Site:
    """Return a copy of the shop's back office, migrated, with members to tidy."""
    site = Site(tmp_path_factory.mktemp("shop"), installed.packages)
    shutil.copytree(SITE, site.project, ignore=NOT_SOURCES, dirs_exist_ok=True)
    assert succeeded(site.manage("migrate", "--no-input"))
    assert succeeded(site.python("-c", SEED_MEMBERS))
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, installed: Install) -> Site:
    """The back office that the command, check and admin tests share."""
    return new_site(tmp_path_factory, installed)


@pytest.fixture(scope="module")
def tidied(site: Site) -> subprocess.CompletedProcess[str]:
    """The output of one ``runflow tidy-members`` in the shared site."""
    return site.manage("runflow", "tidy-members")


def assert_members_tidied(rows: dict[str, Any], trigger: str) -> None:
    """Assert what one run of ``tidy-members`` over MEMBERS did and recorded."""
    assert rows["members"] == [
        ["Ada", "ada@example.com"],
        ["Bob", "bob@example.com"],
        ["Cy", "cy@example.com"],
    ]
    assert rows["run"] == {
        "flow": "tidy-members",
        "status": "succeeded",
        "trigger": trigger,
        "triggered_by": None,
        "loaded": 3,
        "stored": 3,
        "changed": 2,
        "metadata": {"emails_normalized": 2},
    }
    assert rows["steps"] == [["normalize-emails", "update", "include", "succeeded"]]
    assert ["normalize-emails", "normalized 2 email addresses"] in rows["logs"]
    assert rows["changes"] == [
        [
            "shop.Member",
            "1",
            "changed",
            {"email": " Ada@Example.COM"},
            {"email": "ada@example.com"},
        ],
        ["shop.Member", "3", "changed", {"email": "CY@example.com "}, {"email": "cy@example.com"}],
    ]


def test_wheel_holds_adminflow_only(installed: Install) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    top_levels = {name.split("/")[0] for name in names}
    dist_info = f"adminflow-{installed.wheel.name.split('-')[1]}.dist-info"
    assert top_levels == {"adminflow", dist_info}
    sources = {
        f"adminflow/{path.relative_to(installed.sources).as_posix()}"
        for path in installed.sources.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    # Templates, static files, migrations and py.typed too, not just modules.
    assert sorted(sources - names) == []
    assert {"adminflow/migrations/0001_initial.py", "adminflow/py.typed"} <= names


def test_site_imports_adminflow_from_the_wheel_and_nothing_from_the_repo(site: Site) -> None:
    where = site.script(WHERE_IS_ADMINFLOW)
    assert where["adminflow"] == str(site.packages / "adminflow" / "__init__.py")
    assert where["courseadmin"] is False
    assert str(REPO) not in where["path"]


def test_site_checks_clean_and_needs_no_new_migrations(site: Site) -> None:
    check = site.manage("check", "--fail-level", "WARNING")
    assert succeeded(check)
    assert "System check identified no issues" in check.stdout
    # adminflow's migrations point at AUTH_USER_MODEL, so a custom user model needs none.
    assert succeeded(site.manage("makemigrations", "--check", "--dry-run"))


def test_runflow_tidies_the_members_and_records_the_run(
    site: Site, tidied: subprocess.CompletedProcess[str]
) -> None:
    assert succeeded(tidied)
    assert "Run 1 of flow 'tidy-members': succeeded" in tidied.stdout
    assert_members_tidied(site.script(RUN_ROWS, "1"), trigger="command")


def test_queued_run_is_executed_by_the_sites_task_worker(
    tmp_path_factory: pytest.TempPathFactory, installed: Install
) -> None:
    site = new_site(tmp_path_factory, installed)
    queued = site.manage("runflow", "tidy-members", "--enqueue", "-v0")
    assert succeeded(queued)
    assert queued.stdout.strip() == "1"
    assert site.script(RUN_ROWS, "1")["run"]["status"] == "queued"
    assert succeeded(site.manage("db_worker", "--batch", "--no-startup-delay"))
    assert_members_tidied(site.script(RUN_ROWS, "1"), trigger="command")


def test_custom_admin_site_shows_runs_and_runs_flows_for_its_own_users(
    site: Site, tidied: subprocess.CompletedProcess[str]
) -> None:
    assert succeeded(tidied)
    seen = site.script(BACKOFFICE, "1")
    action = seen.pop("action")
    for name, page in seen.items():
        assert page["url"].startswith("/backoffice/adminflow/"), name
        assert page["status"] == 200, name
        assert "tidy-members" in page["body"], name
        # Every link stays on the back office: none reverses the default site's names.
        assert 'href="/admin/' not in page["body"], name
    assert 'href="/backoffice/adminflow/flowrun/1/change/"' in seen["flows"]["body"]

    assert action["redirects"] == [["/backoffice/adminflow/flow/", 302]]
    assert action["status"] == 200
    assert action["queued"] == [[2, "queued"]]
    # No worker has run in this site yet: the action says the run may wait for one.
    message, warning = action["messages"]
    assert warning.startswith("Run 2 waits for a task worker, and no worker has ever been seen")
    assert 'href="/backoffice/adminflow/flowrun/2/change/"' in message
    assert succeeded(site.manage("db_worker", "--batch", "--no-startup-delay"))
    run = site.script(RUN_ROWS, "2")["run"]
    assert run["status"] == "succeeded"
    assert run["trigger"] == "admin"
    assert run["triggered_by"] == ["shop.Customer", "owner"]


def howto_python_snippets() -> list[str]:
    """Return the Python code blocks of the embedding how-to guide."""
    return re.findall(r"^```python\n(.*?)^```", HOWTO.read_text(), flags=re.MULTILINE | re.DOTALL)


def test_howto_embedding_snippets_are_the_sites_code() -> None:
    """Each snippet, or each part of it between lines of "...", is in one of the site's files."""
    site_files = [path.read_text() for path in SITE.rglob("*.py")]
    snippets = howto_python_snippets()
    assert snippets
    for snippet in snippets:
        for part in re.split(r"^\.\.\.\n", snippet, flags=re.MULTILINE):
            assert any(part in text for text in site_files), part

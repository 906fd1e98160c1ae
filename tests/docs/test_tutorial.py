"""The tutorial, done as a reader does it: a new Django project, the files it shows, a run.

``django-admin startproject`` makes the project; the tutorial's settings lines
(``docs/examples/tutorial/settings.py``) are appended to its settings and its
``roster`` app is copied in, exactly the files the tutorial includes. Every
``manage.py`` command runs in a subprocess with none of the suite's settings,
importing adminflow from this checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "examples" / "tutorial"

pytestmark = pytest.mark.timeout(180)

# What the docs' adminflow-describe directive renders (docs/_ext/adminflow_docs.py).
SHOWN_TEMPLATE = f"""
import sys
sys.path.insert(0, {str(ROOT / "docs" / "_ext")!r})
from adminflow_docs import describe
print(describe("roster.flows:usernames"), end="")
"""

ADMIN_PAGES = """
from django.test.utils import setup_test_environment
setup_test_environment()
from django.contrib.auth import get_user_model
from django.test import Client
from adminflow.models import FlowRun
user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw")
client = Client()
client.force_login(user)
run = FlowRun.objects.get()
for url in ["/admin/adminflow/flow/", f"/admin/adminflow/flowrun/{run.pk}/change/"]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert b"usernames" in response.content, url
print(run.status, run.records_stored)
"""


class Project:
    """A project made by ``startproject``, driven through its ``manage.py``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONPATH"}
        }
        self.env["PYTHONPATH"] = str(ROOT)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("manage.py", *args)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Return the tutorial's project, migrated."""
    path = tmp_path_factory.mktemp("tutorial")
    made = subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    with (path / "mysite" / "settings.py").open("a") as settings:
        settings.write("\n" + (TUTORIAL / "settings.py").read_text())
    shutil.copytree(TUTORIAL / "roster", path / "roster")
    project = Project(path)
    migrated = project.manage("migrate", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    return project


def test_check_passes(project: Project) -> None:
    checked = project.manage("check")
    assert checked.returncode == 0, checked.stderr
    assert "no issues" in checked.stdout


def test_describe_prints_the_template_the_docs_show(project: Project) -> None:
    """The docs render the template with the tutorial flow's emit_config(), as here."""
    described = project.manage("runflow", "usernames", "--describe")
    assert described.returncode == 0, described.stderr
    assert (
        "check-usernames:\n  # (str, default '^[A-Za-z0-9-]{1,39}$') accepted" in described.stdout
    )
    shown = project.manage("shell", "-v0", "-c", SHOWN_TEMPLATE)
    assert shown.returncode == 0, shown.stderr
    assert described.stdout == shown.stdout


def test_runs_with_the_tutorials_config_then_shows_the_run_in_the_admin(project: Project) -> None:
    ran = project.manage("runflow", "usernames", "--config", str(TUTORIAL / "usernames.yaml"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "[add-students] 2 new students" in ran.stdout
    assert "Run 1 of flow 'usernames': succeeded" in ran.stdout
    shown = project.manage("shell", "-c", ADMIN_PAGES)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1].split() == ["succeeded", "2"]

"""The example site (courseadmin): it checks, migrates, and reads its settings from the environment.

Each test copies the project (manage.py, courseadmin/, templates/) into a
temporary directory and runs it there in a fresh interpreter with a
controlled environment, so a developer's own ``.env`` or ``db.sqlite3`` (or
the test suite's ``DJANGO_SETTINGS_MODULE``) plays no part.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRINT_SETTINGS = """
import json
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "DATABASE": [database["ENGINE"], database["NAME"], database.get("HOST"), database.get("PORT")],
}))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Return a copy of the example project, as a fresh checkout would have it."""
    shutil.copy(ROOT / "manage.py", tmp_path)
    ignore = shutil.ignore_patterns("__pycache__", "*.sqlite3")
    shutil.copytree(ROOT / "courseadmin", tmp_path / "courseadmin", ignore=ignore)
    shutil.copytree(ROOT / "templates", tmp_path / "templates", ignore=ignore)
    return tmp_path


def run(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python *args`` in ``project`` with only ``env`` set (and adminflow importable).

    The project directory comes first on ``sys.path``, so its own copy of
    courseadmin is the one imported.
    """
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})},
    )


def site_settings(project: Path, env: dict[str, str] | None = None) -> dict:
    done = run(
        project,
        "-c",
        PRINT_SETTINGS,
        env={"DJANGO_SETTINGS_MODULE": "courseadmin.settings", **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_manage_py_check_and_migrate_succeed_on_the_database_url(project, tmp_path_factory):
    database = tmp_path_factory.mktemp("db") / "site.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{database}"}

    checked = run(project, "manage.py", "check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "System check identified no issues" in checked.stdout

    migrated = run(project, "manage.py", "migrate", "--no-input", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "Applying adminflow.0001_initial... OK" in migrated.stdout

    with closing(sqlite3.connect(database)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"adminflow_flow", "adminflow_flowrun", "auth_user", "django_session"} <= tables
    assert not (project / "db.sqlite3").exists()

    # Once migrated, the checks of stored flows run too, and pass.
    rechecked = run(project, "manage.py", "check", "--database", "default", env=env)
    assert rechecked.returncode == 0, rechecked.stderr


def test_with_nothing_set_the_site_runs_in_debug_mode_on_db_sqlite3_in_the_project(project):
    assert site_settings(project) == {
        "DEBUG": True,
        "SECRET_KEY": "django-insecure-courseadmin-dev-only-key",
        "ALLOWED_HOSTS": [],
        "DATABASE": ["django.db.backends.sqlite3", str(project / "db.sqlite3"), "", ""],
    }

    migrated = run(project, "manage.py", "migrate", "--no-input")

    assert migrated.returncode == 0, migrated.stderr
    assert (project / "db.sqlite3").is_file()


PRODUCTION = {
    "DEBUG": "False",
    "SECRET_KEY": "a-real-secret-key",
    "ALLOWED_HOSTS": "courses.example.edu,localhost",
    "DATABASE_URL": "postgres://staff:pw@db.example.edu:5433/courses",
}
PRODUCTION_SETTINGS = {
    "DEBUG": False,
    "SECRET_KEY": "a-real-secret-key",
    "ALLOWED_HOSTS": ["courses.example.edu", "localhost"],
    "DATABASE": ["django.db.backends.postgresql", "courses", "db.example.edu", 5433],
}


def test_settings_come_from_the_environment(project):
    assert site_settings(project, PRODUCTION) == PRODUCTION_SETTINGS


def test_settings_come_from_a_dot_env_file_in_the_project_root(project):
    (project / ".env").write_text(
        "# the site's settings\n" + "".join(f"{key}={value}\n" for key, value in PRODUCTION.items())
    )

    assert site_settings(project) == PRODUCTION_SETTINGS


def test_the_environment_wins_over_the_dot_env_file(project):
    (project / ".env").write_text(
        "DEBUG=False\nSECRET_KEY=from-the-file\nALLOWED_HOSTS=a.example\n"
    )

    found = site_settings(project, {"SECRET_KEY": "from-the-environment", "ALLOWED_HOSTS": ""})

    assert found["DEBUG"] is False
    assert found["SECRET_KEY"] == "from-the-environment"
    assert found["ALLOWED_HOSTS"] == []


def test_without_debug_a_secret_key_is_required(project):
    done = run(project, "manage.py", "check", env={"DEBUG": "False"})

    assert done.returncode != 0
    assert "ImproperlyConfigured: Set the SECRET_KEY environment variable" in done.stderr


def test_the_example_env_file_lists_every_variable_the_settings_read():
    example = (ROOT / ".env.example").read_text()
    settings_source = (ROOT / "courseadmin" / "settings.py").read_text()

    for variable in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"):
        assert f'"{variable}"' in settings_source
        assert f"# {variable}=" in example

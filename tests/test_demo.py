"""demo.sh, the README's first command: from a fresh copy of the project to a finished run.

The script runs in a copy of the project's files as a clone has them, with
none of the suite's environment (no DJANGO_SETTINGS_MODULE, no DATABASE_URL),
on the virtualenv running these tests (``DEMO_VENV``) so nothing is
installed again, and stops before serving (``DEMO_NO_SERVE``).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """Return a copy of the files a clone of the project has (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # not a tracked file deleted in this working tree
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tmp_path / name)
    return tmp_path


def demo(project: Path) -> str:
    """Run ``demo.sh`` in ``project`` up to the end of the run; return its output."""
    done = subprocess.run(
        ["bash", "demo.sh"],
        cwd=project,
        env={"PATH": os.environ["PATH"], "DEMO_VENV": sys.prefix, "DEMO_NO_SERVE": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def printed_password(output: str) -> str:
    (password,) = set(re.findall(r"password: (\S+)", output))
    return password


def query(project: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(project / "db.sqlite3")) as database:
        return database.execute(sql).fetchall()


def test_demo_sh_sets_up_the_site_and_runs_roster_sync_with_live_output(clone):
    output = demo(clone)

    assert "== python manage.py runflow roster-sync\n[FLOW] roster-sync: started" in output
    assert "[STEP] import-roster (record): started" in output
    assert "Run 1 of flow 'roster-sync': succeeded in " in output
    assert "The admin: http://127.0.0.1:8000/admin/  login: admin  password: " in output
    password = printed_password(output)
    ((is_superuser, is_staff, encoded),) = query(
        clone, "SELECT is_superuser, is_staff, password FROM auth_user WHERE username = 'admin'"
    )
    assert (is_superuser, is_staff) == (1, 1)
    assert check_password(password, encoded)
    assert query(clone, "SELECT id, status, trigger FROM adminflow_flowrun") == [
        (1, "succeeded", "command")
    ]
    assert query(clone, "SELECT COUNT(*) FROM course_student") == [(60,)]
    # The emails went to files, not into the run's output.
    assert "Subject:" not in output
    assert any((clone / "demo-mail").iterdir())

    again = demo(clone)

    # Run again, it gives the same admin a new password, and the second run changes nothing.
    new_password = printed_password(again)
    assert new_password != password
    ((encoded,),) = query(clone, "SELECT password FROM auth_user WHERE username = 'admin'")
    assert check_password(new_password, encoded)
    assert not check_password(password, encoded)
    assert query(clone, "SELECT COUNT(*) FROM auth_user") == [(1,)]
    assert "Run 2 of flow 'roster-sync': succeeded in " in again
    assert query(clone, "SELECT status FROM adminflow_flowrun WHERE id = 2") == [("succeeded",)]
